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

// The centres of a mixture kind's modes, [K, 2] float32: ring8's 8 on the
// circle of radius 2, grid25's 25 on {-4,-2,0,2,4}^2; an undefined tensor
// for the other kinds.
at::Tensor ModeCenters(DatasetKind kind);
// K, the rows of ModeCenters(kind): 8, 25, or 0.
inline int64_t ModeCount(DatasetKind kind) {
  return kind == DatasetKind::kRing8 ? 8 : kind == DatasetKind::kGrid25 ? 25 : 0;
}

// A float32 tensor of shape [DatasetRows(d), DataDim(d)]. `d` must be valid.
at::Tensor MakeDataset(const DatasetSpec& d, at::Generator& gen);

// Rows in a built-in kind's evaluation set, and the most rows of user data
// evaluated against (a random subset beyond it).
inline constexpr int64_t kBuiltinEvalRows = 1024;
inline constexpr int64_t kMaxEvalRows = 4096;

// A job's training set and its evaluation set.
struct JobData {
  at::Tensor train;  // [TrainingRows(spec), dim]: what the trainer's batches draw from
  at::Tensor eval;   // [n, dim]: never trained on, unless user data holds none out
};

// Draws the training set from `gen` exactly as MakeDataset does (so built-in
// data is the seed program's), then the evaluation set from a generator of
// its own (DeriveSeed(seed, kEval, 0)): built-in kinds a fresh draw of
// kBuiltinEvalRows; user data the HeldOutRows(spec) rows of a random
// permutation (the training set keeps the others, in the user's order), or
// with none held out a random subset of the training set; at most
// kMaxEvalRows either way. `spec` must be valid.
JobData MakeJobData(const JobSpec& spec, at::Generator& gen);

// The first `max_rows` rows of the training set of `spec` exactly as its
// Trainer builds it (row-major floats), without LibTorch types in the API.
StatusOr<std::vector<float>> DatasetValues(const JobSpec& spec, int64_t max_rows);

}  // namespace gantry
