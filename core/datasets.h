// Training data: the built-in distributions and user-supplied points.
//
// Every built-in draws only from the job's generator, in a fixed order, so
// the same spec and seed give the same data. `sine` is built exactly as the
// seed program builds it (rand(N) * 2*pi into column 0 of a zero tensor,
// then sin of that column), so its values match PyTorch's bit for bit.
//
// Thread-safety: pure functions of their arguments; `gen` is used by the
// calling thread only.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "core/spec.h"
#include "core/status.h"

#include <vector>

namespace gantry {

// A float32 tensor of shape [DatasetRows(d), DataDim(d)]. `d` must be valid.
at::Tensor MakeDataset(const DatasetSpec& d, at::Generator& gen);

// The first `max_rows` rows of the training set of `spec` exactly as its
// Trainer builds it (row-major floats), without LibTorch types in the API.
StatusOr<std::vector<float>> DatasetValues(const JobSpec& spec, int64_t max_rows);

}  // namespace gantry
