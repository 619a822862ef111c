#include "core/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <sstream>

#include "core/adam.h"
#include "core/datasets.h"
#include "core/errors.h"
#include "core/fast_loop.h"
#include "core/models.h"
#include "core/quality.h"
#include "core/random.h"
#include "core/runtime.h"
#include "core/self_test.h"
#include "core/tensor_file.h"

namespace gantry {
namespace {

constexpr int64_t kStateFormat = 1;
constexpr int64_t kQualityPoints = 1024;
constexpr int64_t kQualityProjections = 32;

std::vector<at::Tensor> Params(torch::nn::Module& m) { return m.parameters(); }

void SetRequiresGrad(std::vector<at::Tensor>& params, bool on) {
  for (auto& p : params) p.requires_grad_(on);
}

// The two draws torch.utils.data.DataLoader makes from the global generator
// when an epoch's iterator starts: the base seed, then RandomSampler's seed.
int64_t DrawInt64(at::Generator& gen) {
  return torch::empty({}, torch::kLong).random_(gen).item<int64_t>();
}

}  // namespace

struct Trainer::Impl {
  JobSpec spec;
  at::Generator gen;
  torch::Tensor data;
  Mlp generator{nullptr};
  Mlp discriminator{nullptr};
  std::vector<at::Tensor> g_params, d_params;
  std::unique_ptr<Adam> g_adam, d_adam;
  int64_t epoch = 0;
  bool broken = false;
  std::unique_ptr<FastLoop> fast;  // null: the ATen path
  std::string path_note;           // why the ATen path, when it is used

  Impl(const JobSpec& s) : spec(s), gen(MakeCpuGenerator(s.seed)) {}

  Status ChoosePath() {
    if (spec.trainer_path == TrainerPath::kAten) {
      path_note = "requested";
      return Status::Ok();
    }
    if (spec.trainer_path == TrainerPath::kAuto) {
      const SelfTestResult& t = FastPathSelfTest();
      if (!t.passed) {
        path_note = "the fast path's self-test failed: " + t.detail;
        return Status::Ok();
      }
    }
    std::string why;
    fast = FastLoop::Create(spec, FastLoop::Net{g_params, g_adam.get()},
                            FastLoop::Net{d_params, d_adam.get()}, &why);
    if (fast == nullptr) {
      if (spec.trainer_path == TrainerPath::kFast) {
        return Status::InvalidArgument("trainer_path: fast is not available for this job: " + why);
      }
      path_note = why;
    }
    return Status::Ok();
  }

  void Build() {
    data = MakeDataset(spec.dataset, gen);
    discriminator = Mlp(DiscriminatorOptions(spec));
    generator = Mlp(GeneratorOptions(spec));
    discriminator->ResetParameters(gen);
    generator->ResetParameters(gen);
    g_params = Params(*generator);
    d_params = Params(*discriminator);
    AdamOptions opt{spec.learning_rate, spec.beta1, spec.beta2, 1e-8};
    g_adam = std::make_unique<Adam>(g_params, opt);
    d_adam = std::make_unique<Adam>(d_params, opt);
  }

  Status TrainEpoch(EpochReport* r, const std::atomic<bool>* cancel);
  void Report(EpochReport* r);
};

Status Trainer::Impl::TrainEpoch(EpochReport* r, const std::atomic<bool>* cancel) {
  generator->train();
  discriminator->train();
  const int64_t rows = data.size(0);
  const int64_t bs = spec.batch_size;
  (void)DrawInt64(gen);  // the DataLoader iterator's base seed (unused here)
  at::Generator perm_gen = MakeCpuGenerator(static_cast<uint64_t>(DrawInt64(gen)));
  const torch::Tensor perm = torch::randperm(rows, perm_gen, torch::kLong);
  if (fast != nullptr) {
    Status st = fast->TrainEpoch(data, perm.data_ptr<int64_t>(), gen, cancel, r);
    if (!st.ok()) {
      broken = true;
      if (st.code() == StatusCode::kCancelled) {
        return Status::Cancelled("training cancelled in epoch " + std::to_string(epoch + 1));
      }
      return st;
    }
    ++epoch;
    r->epoch = epoch;
    return Status::Ok();
  }

  double sum_d = 0, sum_g = 0, sum_real = 0, sum_fake = 0;
  int64_t batches = 0, seen = 0;
  torch::Tensor loss_d, loss_g;
  for (int64_t start = 0; start < rows; start += bs) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      broken = true;
      return Status::Cancelled("training cancelled in epoch " + std::to_string(epoch + 1));
    }
    const int64_t b = std::min(bs, rows - start);
    const torch::Tensor real = data.index_select(0, perm.slice(0, start, start + b));
    const torch::Tensor ones = torch::ones({b, 1});
    const torch::Tensor labels = torch::cat({ones, torch::zeros({b, 1})});

    // Discriminator step. The fakes need no graph: the generator's gradients
    // from this step are discarded by the tutorial's generator.zero_grad().
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = generator->forward(torch::randn({b, spec.latent_dim}, gen));
    }
    d_adam->ZeroGrad();
    const torch::Tensor out_d = discriminator->forward(torch::cat({real, fake}), &gen);
    loss_d = torch::binary_cross_entropy(out_d, labels);
    loss_d.backward();
    d_adam->Step();
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {  // between the two steps too
      broken = true;
      return Status::Cancelled("training cancelled in epoch " + std::to_string(epoch + 1));
    }

    // Generator step. The discriminator's weight gradients are not needed
    // (zeroed before its next step), only those flowing to the generator.
    const torch::Tensor z = torch::randn({b, spec.latent_dim}, gen);
    g_adam->ZeroGrad();
    SetRequiresGrad(d_params, false);
    const torch::Tensor out_g = discriminator->forward(generator->forward(z), &gen);
    loss_g = torch::binary_cross_entropy(out_g, ones);
    loss_g.backward();
    SetRequiresGrad(d_params, true);
    g_adam->Step();

    sum_d += loss_d.item<double>();
    sum_g += loss_g.item<double>();
    {
      torch::NoGradGuard no_grad;
      sum_real += out_d.slice(0, 0, b).sum().item<double>();
      sum_fake += out_d.slice(0, b).sum().item<double>();
    }
    seen += b;
    ++batches;
  }
  ++epoch;
  r->epoch = epoch;
  r->loss_d = sum_d / batches;
  r->loss_g = sum_g / batches;
  r->last_loss_d = loss_d.item<double>();
  r->last_loss_g = loss_g.item<double>();
  r->d_real = sum_real / seen;
  r->d_fake = sum_fake / seen;
  return Status::Ok();
}

void Trainer::Impl::Report(EpochReport* r) {
  at::Generator qgen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kQuality, epoch));
  const int64_t rows = data.size(0);
  const int64_t m = std::min(rows, kQualityPoints);
  const int64_t n = std::max(m, spec.preview_points);
  c10::InferenceMode guard;
  // The generator has no dropout: the same ops as GeneratorSnapshot::Forward,
  // without copying its weights.
  const torch::Tensor fake = generator->forward(torch::randn({n, spec.latent_dim}, qgen));
  const torch::Tensor real = data.index_select(0, torch::randperm(rows, qgen, torch::kLong).slice(0, 0, m));
  r->quality = SlicedWasserstein1(fake.slice(0, 0, m), real, kQualityProjections, qgen);
  if (spec.dataset.kind == DatasetKind::kSine) r->sine_error = SineError(fake.slice(0, 0, m));
  r->dim = fake.size(1);
  const torch::Tensor preview = fake.slice(0, 0, spec.preview_points).contiguous();
  r->preview.assign(preview.data_ptr<float>(), preview.data_ptr<float>() + preview.numel());
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const JobSpec& spec) {
  GANTRY_RETURN_IF_ERROR(Validate(spec));
  UseSingleThreadedMath();
  auto impl = std::make_unique<Impl>(spec);
  try {
    impl->Build();
    GANTRY_RETURN_IF_ERROR(impl->ChoosePath());
  } catch (const std::exception& e) {
    return StatusFromException("building the job", e);
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

StatusOr<EpochReport> Trainer::RunEpoch(const std::atomic<bool>* cancel) {
  Impl& s = *impl_;
  if (s.broken) return Status::FailedPrecondition("the trainer was cancelled mid-epoch");
  if (s.epoch >= s.spec.epochs) {
    return Status::FailedPrecondition("all " + std::to_string(s.spec.epochs) +
                                      " epochs are done");
  }
  UseSingleThreadedMath();
  EpochReport report;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    GANTRY_RETURN_IF_ERROR(s.TrainEpoch(&report, cancel));
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.trainer_path = s.fast != nullptr ? "fast" : "aten";
    s.Report(&report);
  } catch (const std::exception& e) {
    s.broken = true;
    return StatusFromException("training", e);
  }
  return report;
}

const JobSpec& Trainer::spec() const { return impl_->spec; }
TrainerPath Trainer::path() const {
  return impl_->fast != nullptr ? TrainerPath::kFast : TrainerPath::kAten;
}
const std::string& Trainer::path_note() const { return impl_->path_note; }
int64_t Trainer::epochs_done() const { return impl_->epoch; }
bool Trainer::finished() const { return impl_->epoch >= impl_->spec.epochs; }

std::shared_ptr<const GeneratorSnapshot> Trainer::Snapshot() const {
  return std::make_shared<const GeneratorSnapshot>(*impl_->generator, impl_->epoch);
}

namespace {

using Tensors = std::map<std::string, at::Tensor>;

void WriteParams(TensorFileWriter& w, const std::string& prefix, const std::vector<at::Tensor>& params,
                 Adam& adam) {
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string k = prefix + "." + std::to_string(i);
    w.Add(k + ".param", params[i].detach());
    w.Add(k + ".exp_avg", adam.exp_avg()[i]);
    w.Add(k + ".exp_avg_sq", adam.exp_avg_sq()[i]);
    w.Add(k + ".step", torch::tensor({adam.steps()[i]}, torch::kLong));
  }
}

// The names a state holds for `params.size()` parameters under `prefix`.
void ParamNames(const std::string& prefix, size_t n, std::vector<std::string>* names) {
  for (size_t i = 0; i < n; ++i) {
    const std::string k = prefix + "." + std::to_string(i);
    for (const char* part : {".param", ".exp_avg", ".exp_avg_sq", ".step"}) names->push_back(k + part);
  }
}

struct LoadedParams {
  std::vector<at::Tensor> params, exp_avg, exp_avg_sq;
  std::vector<int64_t> steps;
};

Status ReadParams(const Tensors& t, const std::string& prefix, const std::vector<at::Tensor>& like,
                  LoadedParams* out) {
  for (size_t i = 0; i < like.size(); ++i) {
    const std::string k = prefix + "." + std::to_string(i);
    auto p = t.find(k + ".param"), m = t.find(k + ".exp_avg"), v = t.find(k + ".exp_avg_sq");
    const std::optional<int64_t> step = Int64Scalar(t, k + ".step");
    if (p == t.end() || m == t.end() || v == t.end() || !step) {
      return Status::DataLoss("state is missing " + k);
    }
    for (const auto* x : {&p->second, &m->second, &v->second}) {
      if (!x->sizes().equals(like[i].sizes())) {
        return Status::InvalidArgument("state does not fit this job's networks: " + k);
      }
      if (x->scalar_type() != at::kFloat) return Status::DataLoss("state holds " + k + " as another type");
    }
    if (*step < 0) return Status::DataLoss("state holds a negative Adam step for " + k);
    out->params.push_back(p->second);
    out->exp_avg.push_back(m->second);
    out->exp_avg_sq.push_back(v->second);
    out->steps.push_back(*step);
  }
  return Status::Ok();
}

void Apply(const LoadedParams& in, std::vector<at::Tensor>& params, Adam& adam) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].copy_(in.params[i]);
    adam.exp_avg()[i].copy_(in.exp_avg[i]);
    adam.exp_avg_sq()[i].copy_(in.exp_avg_sq[i]);
    adam.steps()[i] = in.steps[i];
  }
}

}  // namespace

StatusOr<std::string> Trainer::SaveState() const {
  Impl& s = *impl_;
  if (s.broken) return Status::FailedPrecondition("the trainer was cancelled mid-epoch");
  try {
    size_t bytes = 0;
    for (const auto* params : {&s.g_params, &s.d_params}) {
      for (const at::Tensor& p : *params) bytes += 3 * p.numel() * sizeof(float) + 256;
    }
    TensorFileWriter w(bytes);
    w.Add("format", torch::tensor({kStateFormat}, torch::kLong));
    w.Add("epoch", torch::tensor({s.epoch}, torch::kLong));
    at::Tensor rng;
    {
      std::lock_guard<std::mutex> lock(s.gen.mutex());
      rng = s.gen.get_state();
    }
    w.Add("rng", rng);
    WriteParams(w, "g", s.g_params, *s.g_adam);
    WriteParams(w, "d", s.d_params, *s.d_adam);
    return std::move(w).Finish();
  } catch (const std::exception& e) {
    return StatusFromException("saving the trainer state", e);
  }
}

Status Trainer::RestoreState(const std::string& bytes) {
  Impl& s = *impl_;
  UseSingleThreadedMath();
  std::vector<std::string> names = {"format", "epoch", "rng"};
  ParamNames("g", s.g_params.size(), &names);
  ParamNames("d", s.d_params.size(), &names);
  auto read = ReadTensors(bytes, names);
  if (!read.ok()) return Status::DataLoss("trainer state is unreadable: " + read.status().message());
  const Tensors& t = *read;
  const std::optional<int64_t> format = Int64Scalar(t, "format"), epoch = Int64Scalar(t, "epoch");
  auto rng = t.find("rng");
  if (!format || !epoch || rng == t.end() || rng->second.scalar_type() != at::kByte) {
    return Status::DataLoss("trainer state is missing its header");
  }
  if (*format != kStateFormat) {
    return Status::InvalidArgument("trainer state format " + std::to_string(*format) + " is not " +
                                   std::to_string(kStateFormat));
  }
  LoadedParams g, d;
  const int64_t e = *epoch;
  if (e < 0 || e > s.spec.epochs) {
    return Status::InvalidArgument("trainer state epoch " + std::to_string(e) +
                                   " is out of range 0.." + std::to_string(s.spec.epochs));
  }
  try {
    GANTRY_RETURN_IF_ERROR(ReadParams(t, "g", s.g_params, &g));
    GANTRY_RETURN_IF_ERROR(ReadParams(t, "d", s.d_params, &d));
    // The generator's state first: it is the part that can still be refused,
    // and then nothing else has changed. ATen checks its size and ranges but
    // not that mt19937's position is consistent (left + next == 625 once
    // drawn from), which the draws then trust: a crafted state would read
    // past the engine's words.
    {
      std::lock_guard<std::mutex> lock(s.gen.mutex());
      const at::Tensor before = s.gen.get_state();
      s.gen.set_state(rng->second);
      const at::mt19937_data_pod pod = at::check_generator<at::CPUGeneratorImpl>(s.gen)->engine().data();
      const bool fresh = pod.left_ == 1 && pod.next_ == 0;
      if (!fresh && !(pod.left_ >= 1 && pod.left_ <= 624 && pod.left_ + static_cast<int>(pod.next_) == 625)) {
        s.gen.set_state(before);
        return Status::DataLoss("trainer state holds an inconsistent random generator state");
      }
    }
    Apply(g, s.g_params, *s.g_adam);
    Apply(d, s.d_params, *s.d_adam);
  } catch (const std::exception& ex) {
    return StatusFromException("restoring the trainer state", ex, StatusCode::kDataLoss);
  }
  s.epoch = e;
  s.broken = false;
  return Status::Ok();
}

}  // namespace gantry
