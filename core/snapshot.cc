#include "core/snapshot.h"

#include <torch/torch.h>

#include <sstream>

#include "core/errors.h"
#include "core/models.h"
#include "core/random.h"
#include "core/runtime.h"
#include "core/spec.h"
#include "core/table_codec.h"
#include "core/tensor_file.h"

namespace gantry {

GeneratorSnapshot::GeneratorSnapshot(const MlpImpl& generator, int64_t epoch) : epoch_(epoch) {
  torch::NoGradGuard no_grad;
  for (const auto& layer : generator.layers()) {
    tensors_.push_back(layer->weight.detach().clone());
    tensors_.push_back(layer->bias.detach().clone());
  }
  latent_dim_ = tensors_.front().size(1);
  data_dim_ = tensors_[tensors_.size() - 2].size(0);
}

GeneratorSnapshot::GeneratorSnapshot(std::vector<at::Tensor> weights_and_biases, int64_t epoch)
    : epoch_(epoch), tensors_(std::move(weights_and_biases)) {
  latent_dim_ = tensors_.front().size(1);
  data_dim_ = tensors_[tensors_.size() - 2].size(0);
}

GeneratorSnapshot::GeneratorSnapshot(std::vector<at::Tensor> weights_and_biases,
                                     std::shared_ptr<const TableCodec> codec, int64_t epoch)
    : epoch_(epoch), tensors_(std::move(weights_and_biases)), codec_(std::move(codec)) {
  latent_dim_ = tensors_.front().size(1);
  data_dim_ = tensors_[tensors_.size() - 2].size(0);
}

at::Tensor GeneratorSnapshot::Forward(const at::Tensor& z) const {
  c10::InferenceMode guard;
  torch::Tensor h = z;
  if (codec_) {
    const size_t residual = tensors_.size() / 2 - 1;
    for (size_t i = 0; i < residual; ++i) {
      h = torch::cat({torch::relu(torch::linear(h, tensors_[2 * i], tensors_[2 * i + 1])), h}, 1);
    }
    return torch::linear(h, tensors_[2 * residual], tensors_[2 * residual + 1]);
  }
  const size_t layers = tensors_.size() / 2;
  for (size_t i = 0; i < layers; ++i) {
    h = torch::linear(h, tensors_[2 * i], tensors_[2 * i + 1]);
    if (i + 1 < layers) h = torch::relu(h);
  }
  return h;
}

int64_t GeneratorSnapshot::WorkWidth() const {
  int64_t w = latent_dim_;
  for (size_t i = 0; i + 2 < tensors_.size(); i += 2) w += tensors_[i].size(0);
  return w;
}

void GeneratorSnapshot::ForwardInPlace(at::Tensor& h, at::Tensor& out) const {
  c10::InferenceMode guard;
  const size_t residual = tensors_.size() / 2 - 1;
  int64_t start = h.size(1) - latent_dim_;
  for (size_t i = 0; i < residual; ++i) {
    const at::Tensor& w = tensors_[2 * i];
    const int64_t width = w.size(0);
    at::Tensor y = h.narrow(1, start - width, width);
    at::addmm_out(y, tensors_[2 * i + 1], h.narrow(1, start, h.size(1) - start), w.t());
    y.relu_();
    start -= width;
  }
  at::addmm_out(out, tensors_[2 * residual + 1], h, tensors_[2 * residual].t());
}

at::Tensor GeneratorSnapshot::Sample(uint64_t seed, int64_t offset, int64_t count) const {
  torch::Tensor out = torch::empty({count, data_dim_});
  SampleInto(seed, offset, count, out.data_ptr<float>());
  return out;
}

void GeneratorSnapshot::SampleInto(uint64_t seed, int64_t offset, int64_t count,
                                   float* out_ptr) const {
  UseSingleThreadedMath();
  c10::InferenceMode guard;
  torch::Tensor out = torch::from_blob(out_ptr, {count, data_dim_}, torch::kFloat);
  int64_t done = 0;
  while (done < count) {
    const int64_t index = offset + done;
    const int64_t block = index / kSampleBlock;
    const int64_t skip = index % kSampleBlock;
    const int64_t take = std::min(kSampleBlock - skip, count - done);
    at::Generator gen = MakeCpuGenerator(DeriveSeed(seed, RandomStream::kSample, block));
    // Always the whole block through the network, so that a point's value
    // never depends on how the request was chunked.
    torch::Tensor z = torch::randn({kSampleBlock, latent_dim_}, gen);
    out.slice(0, done, done + take).copy_(Forward(z).slice(0, skip, skip + take));
    done += take;
  }
}

StatusOr<std::string> SerializeSnapshot(const GeneratorSnapshot& snapshot) {
  try {
    size_t bytes = 0;
    for (const at::Tensor& t : snapshot.tensors()) bytes += t.numel() * t.element_size() + 256;
    TensorFileWriter w(bytes);
    w.Add("epoch", torch::tensor({snapshot.epoch()}, torch::kLong));
    if (snapshot.table()) {
      std::map<std::string, at::Tensor> codec;
      snapshot.table()->Save(&codec);
      for (const auto& [name, t] : codec) w.Add(name, t);
    }
    w.Add("count", torch::tensor({static_cast<int64_t>(snapshot.tensors().size())}, torch::kLong));
    for (size_t i = 0; i < snapshot.tensors().size(); ++i) {
      w.Add("t" + std::to_string(i), snapshot.tensors()[i]);
    }
    return std::move(w).Finish();
  } catch (const std::exception& e) {
    return StatusFromException("saving a generator snapshot", e);
  }
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> DeserializeSnapshot(const std::string& bytes) {
  // A generator has at most kMaxHiddenLayers + 1 layers, two tensors each.
  constexpr int64_t kMaxTensors = 2 * (kMaxHiddenLayers + 1);
  std::vector<std::string> names = {"epoch", "count"};
  for (int64_t i = 0; i < kMaxTensors; ++i) names.push_back("t" + std::to_string(i));
  auto read = ReadTensors(bytes, names);
  if (!read.ok()) return Status::DataLoss("generator snapshot is unreadable: " + read.status().message());
  const auto& t = *read;
  const std::optional<int64_t> epoch = Int64Scalar(t, "epoch"), count = Int64Scalar(t, "count");
  if (!epoch || !count) return Status::DataLoss("generator snapshot is missing its header");
  const int64_t n = *count;
  std::shared_ptr<const TableCodec> codec;
  if (t.count("codec")) {
    auto loaded = TableCodec::Load(t);
    if (!loaded.ok()) return Status::DataLoss("generator snapshot: " + loaded.status().message());
    codec = *loaded;
  }
  if (n < 2 || n % 2 != 0 || n > kMaxTensors) {
    return Status::DataLoss("generator snapshot has " + std::to_string(n) + " tensors");
  }
  // Weights [out, in] and biases [out], each layer's input the last one's output.
  std::vector<at::Tensor> tensors;
  int64_t in = -1;
  for (int64_t i = 0; i < n; i += 2) {
    auto w = t.find("t" + std::to_string(i)), b = t.find("t" + std::to_string(i + 1));
    if (w == t.end() || b == t.end()) return Status::DataLoss("generator snapshot is missing layer " + std::to_string(i / 2));
    const at::Tensor& wt = w->second;
    const at::Tensor& bt = b->second;
    if (wt.scalar_type() != at::kFloat || bt.scalar_type() != at::kFloat || wt.dim() != 2 ||
        bt.dim() != 1 || bt.size(0) != wt.size(0) || wt.size(0) < 1 || wt.size(1) < 1 ||
        (in >= 0 && wt.size(1) != in)) {
      return Status::DataLoss("generator snapshot layer " + std::to_string(i / 2) + " has shapes that do not chain");
    }
    // A table generator's residual layers pass their input on.
    in = codec && i + 2 < n ? wt.size(1) + wt.size(0) : wt.size(0);
    tensors.push_back(wt);
    tensors.push_back(bt);
  }
  if (codec) {
    if (tensors[0].size(1) <= codec->cond_width()) {
      return Status::DataLoss("generator snapshot's input is narrower than its conditional vector");
    }
    if (tensors[tensors.size() - 2].size(0) != codec->width()) {
      return Status::DataLoss("generator snapshot's output does not match its table codec");
    }
    return std::shared_ptr<const GeneratorSnapshot>(
        std::make_shared<GeneratorSnapshot>(std::move(tensors), std::move(codec), *epoch));
  }
  return std::shared_ptr<const GeneratorSnapshot>(
      std::make_shared<GeneratorSnapshot>(std::move(tensors), *epoch));
}

}  // namespace gantry
