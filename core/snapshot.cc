#include "core/snapshot.h"

#include <torch/torch.h>

#include <sstream>

#include "core/errors.h"
#include "core/models.h"
#include "core/random.h"
#include "core/runtime.h"

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

at::Tensor GeneratorSnapshot::Forward(const at::Tensor& z) const {
  c10::InferenceMode guard;
  torch::Tensor h = z;
  const size_t layers = tensors_.size() / 2;
  for (size_t i = 0; i < layers; ++i) {
    h = torch::linear(h, tensors_[2 * i], tensors_[2 * i + 1]);
    if (i + 1 < layers) h = torch::relu(h);
  }
  return h;
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
    torch::serialize::OutputArchive ar;
    ar.write("epoch", torch::tensor({snapshot.epoch()}, torch::kLong));
    ar.write("count", torch::tensor({static_cast<int64_t>(snapshot.tensors().size())}, torch::kLong));
    for (size_t i = 0; i < snapshot.tensors().size(); ++i) {
      ar.write("t" + std::to_string(i), snapshot.tensors()[i]);
    }
    size_t bytes = 0;
    for (const at::Tensor& t : snapshot.tensors()) bytes += t.numel() * t.element_size();
    return SaveArchive(ar, bytes, snapshot.tensors().size() + 2);
  } catch (const std::exception& e) {
    return StatusFromException("saving a generator snapshot", e);
  }
}

std::string SaveArchive(torch::serialize::OutputArchive& ar, size_t tensor_bytes, size_t tensors) {
  std::string out;
  // Each record: a zip entry header, its name and 64-byte alignment; then
  // the pickled index and the central directory.
  out.reserve(tensor_bytes + tensors * 256 + (64 << 10));
  ar.save_to([&out](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return n;
  });
  return out;
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> DeserializeSnapshot(const std::string& bytes) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(bytes.data(), bytes.size());
    at::Tensor epoch, count;
    ar.read("epoch", epoch);
    ar.read("count", count);
    const int64_t n = count.item<int64_t>();
    if (n < 2 || n % 2 != 0) return Status::DataLoss("generator snapshot has " + std::to_string(n) + " tensors");
    std::vector<at::Tensor> tensors(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ar.read("t" + std::to_string(i), tensors[i]);
    return std::shared_ptr<const GeneratorSnapshot>(
        std::make_shared<GeneratorSnapshot>(std::move(tensors), epoch.item<int64_t>()));
  } catch (const std::exception& e) {
    return StatusFromException("reading a generator snapshot", e, StatusCode::kDataLoss);
  }
}

}  // namespace gantry
