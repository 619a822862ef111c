// GeneratorSnapshot: an immutable copy of a generator's weights at the end of
// an epoch, from which any thread can draw samples while training goes on.
//
// Sampling is deterministic: point i of Sample(seed, ...) depends only on the
// weights, `seed` and i. Latent vectors come in blocks of kSampleBlock rows,
// block b drawn from a generator seeded with DeriveSeed(seed, kSample, b), so
// any range [offset, offset + count) can be produced on its own and a stream
// of chunks gives the same points as one call. A point's values are those
// of its whole block through the network; a point generator runs only the
// 64-row runs of a block that hold the asked points, once such a part of
// that size was found equal to the whole block's rows bit for bit (see
// snapshot.cc), so Sample(1000) costs about a quarter of a block.
//
// Thread-safety: immutable after construction; every method is const and
// safe to call from many threads at once (each call sets its own
// InferenceMode guard). Sampling keeps scratch per thread (up to 8 MiB per
// thread that samples) and, process-wide, which part sizes were exact.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace gantry {

inline constexpr int64_t kSampleBlock = 4096;

class MlpImpl;
class TableCodec;

class GeneratorSnapshot {
 public:
  // Deep-copies the generator's weights.
  GeneratorSnapshot(const MlpImpl& generator, int64_t epoch);
  // From tensors [w0, b0, w1, b1, ...], as Tensors() returns them.
  GeneratorSnapshot(std::vector<at::Tensor> weights_and_biases, int64_t epoch);
  // A table generator (table_trainer.h): residual layers [w, b] with batch
  // norm folded in, h -> cat(relu(h w^T + b), h), then the output layer;
  // its input is the latent noise and the conditional vector, its output
  // the codec's encoding.
  GeneratorSnapshot(std::vector<at::Tensor> weights_and_biases, std::shared_ptr<const TableCodec> codec,
                    int64_t epoch);

  GeneratorSnapshot(const GeneratorSnapshot&) = delete;
  GeneratorSnapshot& operator=(const GeneratorSnapshot&) = delete;

  int64_t epoch() const { return epoch_; }
  // Point generators: the latent dimension. Table generators: the latent
  // dimension plus the conditional vector's width (the network's input).
  int64_t latent_dim() const { return latent_dim_; }
  // The table codec of a table generator (sample rows through
  // table_sample.h), null for a point generator.
  const std::shared_ptr<const TableCodec>& table() const { return codec_; }
  int64_t data_dim() const { return data_dim_; }
  const std::vector<at::Tensor>& tensors() const { return tensors_; }

  // Generator outputs for latent points `z` ([n, latent_dim]), [n, data_dim].
  at::Tensor Forward(const at::Tensor& z) const;
  // Table generators, without allocating: `h` is [n, WorkWidth()] with the
  // input in its last latent_dim() columns; each residual layer writes its
  // output to the columns left of its input, the output layer writes `out`
  // ([n, data_dim()]). Forward() of the same input gives the same values.
  int64_t WorkWidth() const;
  void ForwardInPlace(at::Tensor& h, at::Tensor& out) const;

  // Points [offset, offset + count) of the sample stream for `seed`, as a
  // float tensor [count, data_dim].
  at::Tensor Sample(uint64_t seed, int64_t offset, int64_t count) const;
  // The same points written row-major to `out` (count * data_dim() floats).
  void SampleInto(uint64_t seed, int64_t offset, int64_t count, float* out) const;
  // Whether SampleInto of `count` points from offset 0 is quick (at most a
  // block of a small point generator whose block prefixes are known: about
  // a tenth of a millisecond), so a server may compute it on a thread that
  // must not wait for long.
  bool QuickToSample(int64_t count) const;

 private:
  int64_t epoch_;
  int64_t latent_dim_;
  int64_t data_dim_;
  std::vector<at::Tensor> tensors_;  // w0, b0, w1, b1, ...
  std::shared_ptr<const TableCodec> codec_;
};

// The snapshot's weights and epoch as bytes (a tensor file, core/
// tensor_file.h), and back. DATA_LOSS for bytes that are not a snapshot of a
// generator (also an older LibTorch archive, which is still read).
StatusOr<std::string> SerializeSnapshot(const GeneratorSnapshot& snapshot);
StatusOr<std::shared_ptr<const GeneratorSnapshot>> DeserializeSnapshot(const std::string& bytes);

}  // namespace gantry
