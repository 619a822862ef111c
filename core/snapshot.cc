#include "core/snapshot.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

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

namespace {

// Sampling's scratch (a latent block and two layer outputs), kept by each
// thread that samples, up to this size: a small generator's Sample then
// allocates nothing. Freshly allocated pages cost a page fault each, and
// the C library trims what a thread's heap frees, so per-call tensors (1.6
// MB for the seed job's generator) made page faults most of Sample(1000).
// Larger generators allocate per call, where their arithmetic dominates.
constexpr size_t kMaxKeptSampleScratch = size_t{8} << 20;  // bytes

// Block prefixes: a request for the first points of a block (Sample of up
// to a block's points, a stream's first chunk) needs only a prefix of the
// block. Each row's outputs depend on that row alone and randn's values
// come in order, but BLAS picks its kernels and blocking by the number of
// rows: here the last rows of a 1024-row prefix of a 16 -> 32 layer differ
// from the whole block's in the last bits, those of a 1152-row one do not.
// So nothing is taken on trust: before a prefix of some length runs alone,
// each of the network's layer shapes and its latent width are checked at
// every prefix length (multiples of kPrefixStep rows) against the whole
// block, bit for bit (ExactLayerPrefixes, ExactLatentPrefixes), and a
// request runs the shortest prefix that holds its points and is exact for
// every part of the network, or the whole block.
constexpr int64_t kPrefixStep = 64;
constexpr int64_t kPrefixes = kSampleBlock / kPrefixStep;
static_assert(kSampleBlock % kPrefixStep == 0);
// Only networks this cheap (multiply-adds per row) run prefixes: there the
// fixed costs of a block dominate, and the checks (kPrefixChecks random
// layers at every prefix length, about kPrefixes / 2 blocks' work each, once
// per shape and process) stay within tens of milliseconds.
constexpr int64_t kMaxPrefixMacsPerRow = 2048;
constexpr int kPrefixChecks = 2;
constexpr uint64_t kPrefixCheckSeed = 0x5eedc0de;

// exact[j]: rows [0, j * kPrefixStep) of addmm(b, x, w^T) for a [k, n]
// layer, computed alone, equal those of the whole block, on kPrefixChecks
// random layers and inputs (the second with magnitudes spread over orders
// of magnitude, so that a different order of summation shows).
std::vector<bool> ExactLayerPrefixes(int64_t k, int64_t n) {
  std::vector<bool> exact(kPrefixes, true);
  at::Generator gen = MakeCpuGenerator(kPrefixCheckSeed);
  for (int check = 0; check < kPrefixChecks; ++check) {
    torch::Tensor x = torch::randn({kSampleBlock, k}, gen);
    if (check > 0) x.mul_(torch::exp(3.0 * torch::randn({kSampleBlock, k}, gen)));
    const torch::Tensor w = torch::randn({n, k}, gen);
    const torch::Tensor b = torch::randn({n}, gen);
    const torch::Tensor whole = at::addmm(b, x, w.t());
    torch::Tensor out = torch::empty({kSampleBlock * n});  // one buffer for every part
    for (int64_t j = 1; j < kPrefixes; ++j) {
      const int64_t rows = j * kPrefixStep;
      torch::Tensor part = out.slice(0, 0, rows * n).view({rows, n});
      at::addmm_out(part, b, x.slice(0, 0, rows), w.t());
      if (std::memcmp(part.data_ptr<float>(), whole.data_ptr<float>(),
                      static_cast<size_t>(rows * n) * sizeof(float)) != 0) {
        exact[j] = false;
      }
    }
  }
  return exact;
}

// exact[j]: randn of j * kPrefixStep rows of `latent` values from a
// generator gives the first rows of the whole block's.
std::vector<bool> ExactLatentPrefixes(int64_t latent) {
  std::vector<bool> exact(kPrefixes, true);
  const torch::Tensor whole =
      torch::randn({kSampleBlock, latent}, MakeCpuGenerator(kPrefixCheckSeed));
  torch::Tensor out = torch::empty({kSampleBlock * latent});  // one buffer for every part
  for (int64_t j = 1; j < kPrefixes; ++j) {
    const int64_t rows = j * kPrefixStep;
    torch::Tensor part = out.slice(0, 0, rows * latent).view({rows, latent});
    part.normal_(0, 1, MakeCpuGenerator(kPrefixCheckSeed));
    exact[j] = std::memcmp(part.data_ptr<float>(), whole.data_ptr<float>(),
                           static_cast<size_t>(rows * latent) * sizeof(float)) == 0;
  }
  return exact;
}

// For each network shape (its widths, latent first), the rows to run for a
// request whose points end within the first j * kPrefixStep rows of a
// block: run[j] (kSampleBlock: the whole block). Checks each layer shape
// and latent width once.
class PrefixTables {
 public:
  static constexpr size_t kMaxEntries = 1024;  // of each map; then forgotten and checked again

  // Whether run[] of the network of these widths is known already.
  bool Known(const std::vector<int64_t>& widths) {
    std::lock_guard<std::mutex> lock(mu_);
    return runs_.count(widths) != 0;
  }
  // run[j] for the network of these widths.
  int64_t Rows(const std::vector<int64_t>& widths, int64_t j) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = runs_.find(widths);
      if (it != runs_.end()) return it->second[j];
    }
    // Checked without the lock (two threads may check the same shape; both
    // find the same).
    std::vector<bool> exact =
        Checked(&latents_, widths[0], [&] { return ExactLatentPrefixes(widths[0]); });
    for (size_t i = 0; i + 1 < widths.size(); ++i) {
      const std::vector<bool> layer = Checked(&layers_, {widths[i], widths[i + 1]}, [&] {
        return ExactLayerPrefixes(widths[i], widths[i + 1]);
      });
      for (int64_t j = 1; j < kPrefixes; ++j) exact[j] = exact[j] && layer[j];
    }
    std::vector<int64_t> run(kPrefixes + 1, kSampleBlock);
    for (int64_t j = kPrefixes - 1; j >= 1; --j) run[j] = exact[j] ? j * kPrefixStep : run[j + 1];
    std::lock_guard<std::mutex> lock(mu_);
    if (runs_.size() >= kMaxEntries) runs_.clear();
    runs_[widths] = run;
    return run[j];
  }

 private:
  template <typename Key, typename Check>
  std::vector<bool> Checked(std::map<Key, std::vector<bool>>* map, const Key& key, Check check) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map->find(key);
      if (it != map->end()) return it->second;
    }
    std::vector<bool> exact = check();
    std::lock_guard<std::mutex> lock(mu_);
    if (map->size() >= kMaxEntries) map->clear();
    (*map)[key] = exact;
    return exact;
  }

  std::mutex mu_;
  std::map<std::vector<int64_t>, std::vector<int64_t>> runs_;        // Guarded by mu_.
  std::map<std::pair<int64_t, int64_t>, std::vector<bool>> layers_;  // Guarded by mu_.
  std::map<int64_t, std::vector<bool>> latents_;                     // Guarded by mu_.
};

PrefixTables& Prefixes() {
  static PrefixTables* tables = new PrefixTables();  // never destroyed: used from any thread
  return *tables;
}

// QuickToSample's bound on a network's multiply-adds per row: a block of
// them is a few million, about a tenth of a millisecond.
constexpr int64_t kMaxQuickMacsPerRow = 1024;

// The network's widths (latent first) and its multiply-adds per row.
std::pair<std::vector<int64_t>, int64_t> Widths(const std::vector<at::Tensor>& tensors,
                                                int64_t latent_dim) {
  std::vector<int64_t> widths = {latent_dim};
  int64_t macs = 0;
  for (size_t i = 0; i + 1 < tensors.size(); i += 2) {
    widths.push_back(tensors[i].size(0));
    macs += widths[widths.size() - 2] * widths.back();
  }
  return {std::move(widths), macs};
}

}  // namespace

void GeneratorSnapshot::SampleInto(uint64_t seed, int64_t offset, int64_t count,
                                   float* out_ptr) const {
  UseSingleThreadedMath();
  c10::InferenceMode guard;
  if (codec_) {  // table generators: Forward, as they were
    torch::Tensor out = torch::from_blob(out_ptr, {count, data_dim_}, torch::kFloat);
    int64_t done = 0;
    while (done < count) {
      const int64_t index = offset + done;
      const int64_t block = index / kSampleBlock;
      const int64_t skip = index % kSampleBlock;
      const int64_t take = std::min(kSampleBlock - skip, count - done);
      at::Generator gen = MakeCpuGenerator(DeriveSeed(seed, RandomStream::kSample, block));
      torch::Tensor z = torch::randn({kSampleBlock, latent_dim_}, gen);
      out.slice(0, done, done + take).copy_(Forward(z).slice(0, skip, skip + take));
      done += take;
    }
    return;
  }
  // Point generators: Forward's operators (linear is addmm(b, h, w^T) for a
  // 2-d input, relu is clamp_min(0); randn is empty, then normal_(0, 1,
  // gen)) writing into scratch instead of fresh tensors, so the values are
  // Forward's bit for bit.
  const size_t layers = tensors_.size() / 2;
  const auto [widths, macs] = Widths(tensors_, latent_dim_);
  const int64_t widest = *std::max_element(widths.begin() + 1, widths.end());
  // 64-byte aligned, as LibTorch's own tensors.
  constexpr size_t kAlign = 64 / sizeof(float);
  const size_t floats = static_cast<size_t>(kSampleBlock * (latent_dim_ + 2 * widest)) + kAlign;
  thread_local std::vector<float> kept;
  std::vector<float> own;
  std::vector<float>& scratch = floats * sizeof(float) <= kMaxKeptSampleScratch ? kept : own;
  if (scratch.size() < floats) scratch.resize(floats);
  float* const base =
      scratch.data() +
      (kAlign - reinterpret_cast<uintptr_t>(scratch.data()) / sizeof(float) % kAlign) % kAlign;
  float* const ping = base + kSampleBlock * latent_dim_;
  float* const pong = ping + kSampleBlock * widest;
  const auto f = torch::TensorOptions().dtype(torch::kFloat);
  // The first `rows` rows of the block drawn from `block_seed` through the
  // network; the output's first row.
  auto run = [&](uint64_t block_seed, int64_t rows) -> const float* {
    at::Generator gen = MakeCpuGenerator(block_seed);
    torch::Tensor h = torch::from_blob(base, {rows, latent_dim_}, f);
    h.normal_(0, 1, gen);
    for (size_t i = 0; i < layers; ++i) {
      const at::Tensor& w = tensors_[2 * i];
      torch::Tensor y = torch::from_blob(i % 2 == 0 ? ping : pong, {rows, w.size(0)}, f);
      at::addmm_out(y, tensors_[2 * i + 1], h, w.t());
      if (i + 1 < layers) y.relu_();
      h = y;
    }
    return h.data_ptr<float>();
  };
  const size_t row_bytes = static_cast<size_t>(data_dim_) * sizeof(float);
  int64_t done = 0;
  while (done < count) {
    const int64_t index = offset + done;
    const uint64_t block_seed =
        DeriveSeed(seed, RandomStream::kSample, static_cast<uint64_t>(index / kSampleBlock));
    const int64_t skip = index % kSampleBlock;
    const int64_t take = std::min(kSampleBlock - skip, count - done);
    // The rows to run: the whole block, unless a shorter prefix is known to
    // give the same points (see kPrefixStep), so that a point's values never
    // depend on how the request was chunked.
    int64_t rows = kSampleBlock;
    const int64_t j = (skip + take + kPrefixStep - 1) / kPrefixStep;
    if (j < kPrefixes && macs <= kMaxPrefixMacsPerRow) rows = Prefixes().Rows(widths, j);
    const float* y = run(block_seed, rows);
    std::memcpy(out_ptr + done * data_dim_, y + skip * data_dim_, take * row_bytes);
    done += take;
  }
}

bool GeneratorSnapshot::QuickToSample(int64_t count) const {
  if (codec_ || count < 1 || count > kSampleBlock) return false;
  const auto [widths, macs] = Widths(tensors_, latent_dim_);
  return macs <= kMaxQuickMacsPerRow &&
         (count > kSampleBlock - kPrefixStep || Prefixes().Known(widths));
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
