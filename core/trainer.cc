#include "core/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/adam.h"
#include "core/alarms.h"
#include "core/datasets.h"
#include "core/errors.h"
#include "core/fast_loop.h"
#include "core/losses.h"
#include "core/metrics.h"
#include "core/models.h"
#include "core/quality.h"
#include "core/random.h"
#include "core/runtime.h"
#include "core/self_test.h"
#include "core/table_trainer.h"
#include "core/tensor_file.h"

namespace gantry {
namespace {

constexpr int64_t kStateFormat = 1;

std::vector<at::Tensor> Params(torch::nn::Module& m) { return m.parameters(); }

void SetRequiresGrad(std::vector<at::Tensor>& params, bool on) {
  for (auto& p : params) p.requires_grad_(on);
}

// The two draws torch.utils.data.DataLoader makes from the global generator
// when an epoch's iterator starts: the base seed, then RandomSampler's seed.
int64_t DrawInt64(at::Generator& gen) {
  return torch::empty({}, torch::kLong).random_(gen).item<int64_t>();
}

// Best-epoch and early-stopping bookkeeping, saved with the trainer state.
struct Tracking {
  double quality = 0;          // the latest evaluation's sliced W1
  int64_t best_epoch = 0;      // 0: nothing evaluated yet
  double best_value = 0;       // select_by at best_epoch
  EvalMetrics best;            // all metrics at best_epoch
  int64_t patience_epoch = 0;  // the last epoch that improved by min_delta
  double patience_value = 0;   // select_by then
  bool stopped = false;        // early stopping ended training

  // The state as int64 words (doubles bit-cast): the tensor file holds no doubles.
  std::vector<int64_t> Words() const {
    std::vector<int64_t> w = {best_epoch, patience_epoch, stopped ? 1 : 0};
    for (double d : {quality, best_value, patience_value, best.sliced_w1, best.mmd, best.precision,
                     best.recall, best.density, best.coverage}) {
      w.push_back(DoubleBits(d));
    }
    w.push_back(best.modes);
    return w;
  }
  // States saved before best.modes existed hold kWords - 1 words.
  static constexpr size_t kWords = 13;
  void FromWords(const std::vector<int64_t>& w) {
    best_epoch = w[0];
    patience_epoch = w[1];
    stopped = w[2] != 0;
    double* fields[] = {&quality, &best_value, &patience_value, &best.sliced_w1, &best.mmd,
                        &best.precision, &best.recall, &best.density, &best.coverage};
    for (size_t i = 0; i < 9; ++i) *fields[i] = BitsDouble(w[3 + i]);
    best.modes = w.size() == kWords ? w[12] : 0;
  }
};

bool Better(Metric metric, double a, double b) { return HigherIsBetter(metric) ? a > b : a < b; }

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
  std::unique_ptr<EvalSet> eval;
  Tracking track;
  AlarmMonitor alarms;
  at::Tensor mode_centers = ModeCenters(spec.dataset.kind);  // ring8, grid25; else undefined
  // A table job: the table trainer does everything (table_trainer.h).
  std::unique_ptr<TableTrainer> table;

  Impl(const JobSpec& s) : spec(s), gen(MakeCpuGenerator(s.seed)) {}

  Status ChoosePath() {
    if (spec.trainer_path == TrainerPath::kAten) {
      path_note = "requested";
      return Status::Ok();
    }
    if (!IsSeedGame(spec)) {
      path_note = std::string("the fast path covers only the bce loss with one discriminator step "
                              "and no spectral norm (loss ") + LossName(spec.loss) + ")";
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
    JobData d = MakeJobData(spec, gen);
    data = std::move(d.train);
    at::Generator eval_gen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kEval, 0));
    eval = std::make_unique<EvalSet>(d.eval, eval_gen);
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
  bool EvaluatedEpoch(int64_t e) const {
    return e == 1 || e % spec.eval_every == 0 || e == spec.epochs;
  }
  void Track(EpochReport* r);
};

Status Trainer::Impl::TrainEpoch(EpochReport* r, const std::atomic<bool>* cancel) {
  generator->train();
  discriminator->train();
  const int64_t rows = data.size(0);
  const int64_t bs = spec.batch_size;
  (void)DrawInt64(gen);  // the DataLoader iterator's base seed (unused here)
  at::Generator perm_gen = MakeCpuGenerator(static_cast<uint64_t>(DrawInt64(gen)));
  const torch::Tensor perm = torch::randperm(rows, perm_gen, torch::kLong);
  // The fast loop and the other games train the whole epoch in one call.
  auto whole_epoch = [&](const Status& st) {
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
  };
  if (fast != nullptr) {
    return whole_epoch(fast->TrainEpoch(data, perm.data_ptr<int64_t>(), gen, cancel, r));
  }
  if (!IsSeedGame(spec)) {
    return whole_epoch(TrainGameEpoch(spec, data, perm,
                                      GameNets{generator, discriminator, g_params, d_params,
                                               *g_adam, *d_adam},
                                      gen, cancel, r));
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
  c10::InferenceMode guard;
  // The generator has no dropout: the same ops as GeneratorSnapshot::Forward,
  // without copying its weights.
  r->dim = DataDim(spec.dataset);
  if (spec.preview_points > 0) {
    at::Generator pgen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kQuality, epoch));
    const torch::Tensor preview =
        generator->forward(torch::randn({spec.preview_points, spec.latent_dim}, pgen)).contiguous();
    r->preview.assign(preview.data_ptr<float>(), preview.data_ptr<float>() + preview.numel());
  }
  if (EvaluatedEpoch(epoch)) {
    at::Generator egen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kEval, epoch));
    const torch::Tensor fake = generator->forward(torch::randn({spec.eval_points, spec.latent_dim}, egen));
    r->metrics = eval->Evaluate(fake);
    if (mode_centers.defined()) r->metrics->modes = PopulatedModes(fake, mode_centers);
    track.quality = r->metrics->sliced_w1;
    if (spec.dataset.kind == DatasetKind::kSine) r->sine_error = SineError(fake);
  }
  r->quality = track.quality;
}

// Best epoch and early stopping, after an evaluation.
void Trainer::Impl::Track(EpochReport* r) {
  if (r->metrics) {
    const double v = MetricValue(*r->metrics, spec.select_by);
    if (track.best_epoch == 0 || Better(spec.select_by, v, track.best_value)) {
      track.best_epoch = epoch;
      track.best_value = v;
      track.best = *r->metrics;
    }
    const double margin = HigherIsBetter(spec.select_by) ? -spec.min_delta : spec.min_delta;
    if (track.patience_epoch == 0 || Better(spec.select_by, v + margin, track.patience_value)) {
      track.patience_epoch = epoch;
      track.patience_value = v;
    } else if (spec.patience > 0 && epoch - track.patience_epoch >= spec.patience &&
               epoch < spec.epochs) {
      track.stopped = true;
      char best[64];
      std::snprintf(best, sizeof best, "%.6g", track.best_value);
      std::ostringstream why;
      why << "early stopping: " << MetricName(spec.select_by) << " did not improve by "
          << spec.min_delta << " for " << (epoch - track.patience_epoch) << " epochs (best " << best
          << " at epoch " << track.best_epoch << ")";
      r->stop_reason = why.str();
    }
  }
  r->best_epoch = track.best_epoch;
  if (track.best_epoch > 0) r->best_metrics = track.best;
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const JobSpec& spec) {
  GANTRY_RETURN_IF_ERROR(Validate(spec));
  UseSingleThreadedMath();
  auto impl = std::make_unique<Impl>(spec);
  if (spec.dataset.kind == DatasetKind::kTable) {
    auto table = TableTrainer::Create(spec);
    if (!table.ok()) return table.status();
    impl->table = std::move(table).value();
    impl->path_note = "table jobs train on the ATen path";
    return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
  }
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
  if (s.table) return s.table->RunEpoch(cancel);
  if (s.broken) return Status::FailedPrecondition("the trainer was cancelled mid-epoch");
  if (s.epoch >= s.spec.epochs) {
    return Status::FailedPrecondition("all " + std::to_string(s.spec.epochs) +
                                      " epochs are done");
  }
  if (s.track.stopped) {
    return Status::FailedPrecondition("training stopped early after epoch " +
                                      std::to_string(s.epoch));
  }
  UseSingleThreadedMath();
  EpochReport report;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    GANTRY_RETURN_IF_ERROR(s.TrainEpoch(&report, cancel));
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.trainer_path = s.fast != nullptr ? "fast" : "aten";
    s.Report(&report);
    s.Track(&report);
    s.alarms.Observe(s.spec, &report);
  } catch (const std::exception& e) {
    s.broken = true;
    if (std::strstr(e.what(), kBceInputError) != nullptr) {
      return Status::FailedPrecondition(
          "losses became non-finite at epoch " + std::to_string(s.epoch + 1) +
          ": the discriminator's outputs are NaN, for which bce has no loss (no on_non_finite "
          "keeps such a job training; a smaller learning_rate or scaled data may help)");
    }
    return StatusFromException("training", e);
  }
  return report;
}

const JobSpec& Trainer::spec() const { return impl_->spec; }
TrainerPath Trainer::path() const {
  if (impl_->table) return TrainerPath::kAten;
  return impl_->fast != nullptr ? TrainerPath::kFast : TrainerPath::kAten;
}
const std::string& Trainer::path_note() const { return impl_->path_note; }
int64_t Trainer::epochs_done() const {
  return impl_->table ? impl_->table->epochs_done() : impl_->epoch;
}
bool Trainer::finished() const {
  if (impl_->table) return impl_->table->finished();
  return impl_->epoch >= impl_->spec.epochs || impl_->track.stopped;
}
int64_t Trainer::best_epoch() const {
  return impl_->table ? impl_->table->best_epoch() : impl_->track.best_epoch;
}

std::shared_ptr<const GeneratorSnapshot> Trainer::Snapshot() const {
  if (impl_->table) return impl_->table->Snapshot();
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
  if (s.table) return s.table->SaveState();
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
    const std::vector<int64_t> words = s.track.Words();
    w.Add("eval", torch::tensor(words, torch::kLong));
    w.Add("alarms", torch::tensor(s.alarms.Words(), torch::kLong));
    WriteParams(w, "g", s.g_params, *s.g_adam);
    WriteParams(w, "d", s.d_params, *s.d_adam);
    const std::vector<torch::Tensor>& u = s.discriminator->spectral_u();
    for (size_t i = 0; i < u.size(); ++i) w.Add("d.sn." + std::to_string(i), u[i].contiguous());
    return std::move(w).Finish();
  } catch (const std::exception& e) {
    return StatusFromException("saving the trainer state", e);
  }
}

Status Trainer::RestoreState(const std::string& bytes) {
  Impl& s = *impl_;
  if (s.table) return s.table->RestoreState(bytes);
  UseSingleThreadedMath();
  std::vector<std::string> names = {"format", "epoch", "rng"};
  ParamNames("g", s.g_params.size(), &names);
  ParamNames("d", s.d_params.size(), &names);
  names.push_back("eval");
  names.push_back("alarms");
  for (size_t i = 0; i < s.discriminator->spectral_u().size(); ++i) names.push_back("d.sn." + std::to_string(i));
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
  // The evaluation's bookkeeping; a state saved before it existed resumes
  // with none (the best epoch is then sought from the resumed epoch on).
  Tracking track;
  if (auto words = Int64Words(t, "eval"); words.status().code() != StatusCode::kNotFound) {
    if (!words.ok() || (words->size() != Tracking::kWords && words->size() != Tracking::kWords - 1)) {
      return Status::DataLoss("trainer state holds a malformed evaluation record");
    }
    track.FromWords(*words);
    if (track.best_epoch < 0 || track.best_epoch > *epoch || track.patience_epoch < 0 ||
        track.patience_epoch > *epoch) {
      return Status::DataLoss("trainer state's evaluation record names epochs past its own");
    }
  }
  AlarmMonitor alarms;
  GANTRY_RETURN_IF_ERROR(alarms.Restore(t, *epoch));
  LoadedParams g, d;
  const int64_t e = *epoch;
  if (e < 0 || e > s.spec.epochs) {
    return Status::InvalidArgument("trainer state epoch " + std::to_string(e) +
                                   " is out of range 0.." + std::to_string(s.spec.epochs));
  }
  try {
    GANTRY_RETURN_IF_ERROR(ReadParams(t, "g", s.g_params, &g));
    GANTRY_RETURN_IF_ERROR(ReadParams(t, "d", s.d_params, &d));
    std::vector<torch::Tensor>& u = s.discriminator->spectral_u();
    for (size_t i = 0; i < u.size(); ++i) {
      auto it = t.find("d.sn." + std::to_string(i));
      if (it == t.end() || !it->second.sizes().equals(u[i].sizes()) ||
          it->second.scalar_type() != at::kFloat) {
        return Status::InvalidArgument("state does not fit this job's spectral norm: d.sn." +
                                       std::to_string(i));
      }
    }

    // The generator's state first: it is the part that can still be refused,
    // and then nothing else has changed.
    if (!SetGeneratorState(s.gen, rng->second)) {
      return Status::DataLoss("trainer state holds an inconsistent random generator state");
    }
    Apply(g, s.g_params, *s.g_adam);
    Apply(d, s.d_params, *s.d_adam);
    for (size_t i = 0; i < u.size(); ++i) u[i] = t.at("d.sn." + std::to_string(i)).clone();
  } catch (const std::exception& ex) {
    return StatusFromException("restoring the trainer state", ex, StatusCode::kDataLoss);
  }
  s.epoch = e;
  s.track = track;
  s.alarms = alarms;
  s.broken = false;
  return Status::Ok();
}

}  // namespace gantry
