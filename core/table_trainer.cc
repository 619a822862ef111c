#include "core/table_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

#include "core/adam.h"
#include "core/alarms.h"
#include "core/errors.h"
#include "core/random.h"
#include "core/runtime.h"
#include "core/table_codec.h"
#include "core/metrics.h"
#include "core/table_sample.h"
#include "core/tensor_file.h"

namespace gantry {
namespace {

constexpr int64_t kTableStateFormat = 1;
constexpr double kBatchNormEps = 1e-5;
constexpr double kBatchNormMomentum = 0.1;
constexpr double kLeakySlope = 0.2;
constexpr double kGumbelTau = 0.2;

using Tensors = std::map<std::string, at::Tensor>;

// A linear layer's parameters, initialised as torch.nn.Linear's reset:
// kaiming_uniform_(a = sqrt(5)) for the weight, U(-1/sqrt(in), 1/sqrt(in))
// for the bias, both from `gen`.
struct Linear {
  at::Tensor w, b;
  Linear(int64_t in, int64_t out, at::Generator& gen) {
    const double gain = std::sqrt(2.0 / (1.0 + 5.0));
    const double bound = std::sqrt(3.0) * gain / std::sqrt(static_cast<double>(in));
    w = torch::empty({out, in}).uniform_(-bound, bound, gen).requires_grad_(true);
    const double bias_bound = 1.0 / std::sqrt(static_cast<double>(in));
    b = torch::empty({out}).uniform_(-bias_bound, bias_bound, gen).requires_grad_(true);
  }
};

struct Residual {
  Linear fc;
  at::Tensor gamma, beta;       // batch norm's affine parameters
  at::Tensor mean, var, count;  // its running statistics (buffers)
  Residual(int64_t in, int64_t out, at::Generator& gen) : fc(in, out, gen) {
    gamma = torch::ones({out}).requires_grad_(true);
    beta = torch::zeros({out}).requires_grad_(true);
    mean = torch::zeros({out});
    var = torch::ones({out});
    count = torch::zeros({}, torch::kLong);
  }
};

// Every draw of the conditional vector for one batch.
struct CondDraw {
  at::Tensor cond;              // [batch, cond_width] one-hot per row
  std::vector<int64_t> column;  // index into codec.discrete()
  std::vector<int64_t> category;
};

}  // namespace

struct TableTrainer::Impl {
  JobSpec spec;
  at::Generator gen;
  std::shared_ptr<const TableCodec> codec;
  std::shared_ptr<const Table> table;
  std::optional<TableSplit> given_split;          // CreateWithSplit's, until Build
  std::unique_ptr<TableEvaluator> evaluator;     // the split and every evaluation figure
  std::vector<int64_t> train_rows, eval_rows;
  at::Tensor data;                               // [train rows, width]
  // Training-by-sampling: per discrete column, the cumulative log-frequency
  // of its categories and the training rows of each category.
  std::vector<std::vector<double>> log_cdf;
  std::vector<std::vector<std::vector<int64_t>>> rows_by_category;
  // Per discrete column: its softmax group (codec.discrete_groups()) and
  // its slot in that group, for the conditional loss.
  std::vector<int> group_of, slot_of;

  std::vector<Residual> residuals;
  std::unique_ptr<Linear> g_out;
  std::vector<Linear> d_layers;
  std::vector<at::Tensor> g_params, d_params;
  std::unique_ptr<Adam> g_adam, d_adam;

  int64_t epoch = 0;
  bool broken = false;
  double preprocess_seconds = 0;
  // Best epoch and early stopping.
  int64_t best_epoch = 0;
  double best_value = 0, quality = 0;
  EvalMetrics best_metrics;
  int64_t patience_epoch = 0;
  double patience_value = 0;
  bool stopped = false;
  AlarmMonitor alarms;  // saved with the state

  Status Build();
  CondDraw DrawCond(int64_t batch);
  at::Tensor Generate(const at::Tensor& input);
  at::Tensor Activate(const at::Tensor& raw);
  at::Tensor Discriminate(const at::Tensor& x);
  at::Tensor CondLoss(const at::Tensor& raw, const CondDraw& c);
  Status Step(double* loss_d, double* loss_g, double* d_real, double* d_fake);
  void Evaluate(EpochReport* r);
  std::shared_ptr<const GeneratorSnapshot> MakeSnapshot() const;
  bool EvaluatedEpoch(int64_t e) const { return e == 1 || e % spec.eval_every == 0 || e == spec.epochs; }
};

Status TableTrainer::Impl::Build() {
  const auto start = std::chrono::steady_clock::now();
  table = spec.dataset.table.data;
  {
    auto made = given_split ? TableEvaluator::CreateWithSplit(table, spec, std::move(*given_split))
                            : TableEvaluator::Create(table, spec);
    if (!made.ok()) return made.status();
    evaluator = std::move(*made);
    given_split.reset();
  }
  train_rows = evaluator->split().train;
  eval_rows = evaluator->split().held_out;
  auto fitted = TableCodec::Fit(*table, train_rows, spec.max_modes);
  if (!fitted.ok()) return fitted.status();
  codec = *fitted;
  {
    at::Generator enc = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kTableEncode, 0));
    data = codec->Encode(*table, train_rows, enc);
  }
  // Training-by-sampling, with log frequencies (CTGAN's log_frequency).
  for (int c : codec->discrete()) {
    const ColumnCode& code = codec->codes()[static_cast<size_t>(c)];
    std::vector<double> cdf;
    double total = 0;
    for (int64_t k : code.counts) total += std::log(static_cast<double>(k) + 1);
    double acc = 0;
    for (int64_t k : code.counts) {
      acc += std::log(static_cast<double>(k) + 1) / total;
      cdf.push_back(acc);
    }
    // From the last category that has training rows on, the CDF is exactly
    // 1: a draw never lands on a category without rows (rounding could).
    size_t last = code.counts.size() - 1;
    while (last > 0 && code.counts[last] == 0) --last;
    for (size_t k = last; k < cdf.size(); ++k) cdf[k] = 1.0;
    log_cdf.push_back(std::move(cdf));
    std::vector<std::vector<int64_t>> by(static_cast<size_t>(code.categories));
    const std::vector<double>& v = table->values[static_cast<size_t>(c)];
    for (size_t i = 0; i < train_rows.size(); ++i) {
      const double x = v[static_cast<size_t>(train_rows[i])];
      by[std::isnan(x) ? by.size() - 1 : static_cast<size_t>(x)].push_back(static_cast<int64_t>(i));
    }
    rows_by_category.push_back(std::move(by));
  }
  group_of.assign(codec->discrete().size(), 0);
  slot_of.assign(codec->discrete().size(), 0);
  const auto& groups = codec->discrete_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t j = 0; j < groups[g].columns.size(); ++j) {
      group_of[static_cast<size_t>(groups[g].columns[j])] = static_cast<int>(g);
      slot_of[static_cast<size_t>(groups[g].columns[j])] = static_cast<int>(j);
    }
  }
  // The networks, generator first.
  int64_t dim = spec.latent_dim + codec->cond_width();
  for (int64_t h : spec.generator_hidden) {
    residuals.emplace_back(dim, h, gen);
    dim += h;
  }
  g_out = std::make_unique<Linear>(dim, codec->width(), gen);
  int64_t d_in = spec.pac * (codec->width() + codec->cond_width());
  for (int64_t h : spec.discriminator_hidden) {
    d_layers.emplace_back(d_in, h, gen);
    d_in = h;
  }
  d_layers.emplace_back(d_in, 1, gen);
  for (Residual& r : residuals) {
    for (at::Tensor* t : {&r.fc.w, &r.fc.b, &r.gamma, &r.beta}) g_params.push_back(*t);
  }
  g_params.push_back(g_out->w);
  g_params.push_back(g_out->b);
  for (Linear& l : d_layers) {
    d_params.push_back(l.w);
    d_params.push_back(l.b);
  }
  AdamOptions opt{spec.learning_rate, spec.beta1, spec.beta2, 1e-8, spec.weight_decay};
  g_adam = std::make_unique<Adam>(g_params, opt);
  d_adam = std::make_unique<Adam>(d_params, opt);
  preprocess_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

CondDraw TableTrainer::Impl::DrawCond(int64_t batch) {
  CondDraw c;
  const auto nd = static_cast<int64_t>(log_cdf.size());
  c.cond = torch::zeros({batch, codec->cond_width()});
  if (nd == 0) return c;
  const at::Tensor col = torch::randint(0, nd, {batch}, gen, torch::kLong);
  const at::Tensor u = torch::rand({batch}, gen, torch::kDouble);
  const int64_t* cp = col.data_ptr<int64_t>();
  const double* up = u.data_ptr<double>();
  float* cond = c.cond.data_ptr<float>();
  const int64_t width = codec->cond_width();
  c.column.resize(static_cast<size_t>(batch));
  c.category.resize(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    const std::vector<double>& cdf = log_cdf[static_cast<size_t>(cp[i])];
    // The first category whose cumulative probability exceeds u.
    auto k = static_cast<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), up[i]) - cdf.begin());
    k = std::min<int64_t>(k, static_cast<int64_t>(cdf.size()) - 1);
    while (k > 0 && rows_by_category[static_cast<size_t>(cp[i])][static_cast<size_t>(k)].empty()) --k;
    c.column[static_cast<size_t>(i)] = cp[i];
    c.category[static_cast<size_t>(i)] = k;
    const ColumnCode& code = codec->codes()[static_cast<size_t>(codec->discrete()[static_cast<size_t>(cp[i])])];
    cond[i * width + code.cond_at + k] = 1;
  }
  return c;
}

at::Tensor TableTrainer::Impl::Generate(const at::Tensor& input) {
  at::Tensor h = input;
  for (Residual& r : residuals) {
    at::Tensor y = torch::linear(h, r.fc.w, r.fc.b);
    y = torch::batch_norm(y, r.gamma, r.beta, r.mean, r.var, /*training=*/true, kBatchNormMomentum,
                          kBatchNormEps, /*cudnn_enabled=*/false);
    r.count.add_(1);
    h = torch::cat({torch::relu(y), h}, 1);
  }
  return torch::linear(h, g_out->w, g_out->b);
}

at::Tensor TableTrainer::Impl::Activate(const at::Tensor& raw) {
  const int64_t n = raw.size(0);
  // Gumbel noise -log(-log(u)), u uniform on [0, 1) (u = 0 gives -inf: that
  // entry's weight is 0); vectorised logs rather than exponential_'s scalar ones.
  const at::Tensor gumbel = torch::rand({n, codec->width()}, gen).log_().neg_().log_().neg_();
  // tanh for the scalars; a Gumbel-softmax per one-hot span, a whole group
  // of equal widths at once.
  const at::Tensor y = (raw + gumbel) / kGumbelTau;
  std::vector<at::Tensor> parts;
  parts.reserve(codec->spans().size());
  for (const Span& s : codec->spans()) {
    if (s.softmax) {
      parts.push_back(
          torch::softmax(y.narrow(1, s.start, s.count * s.dim).reshape({n, s.count, s.dim}), 2).reshape({n, s.count * s.dim}));
    } else if (s.dim > 0) {
      parts.push_back(torch::tanh(raw.narrow(1, s.start, s.dim)));
    }
  }
  return torch::cat(parts, 1);
}

at::Tensor TableTrainer::Impl::Discriminate(const at::Tensor& x) {
  at::Tensor h = x.reshape({-1, spec.pac * x.size(1)});
  const double keep = 1 - spec.dropout;
  for (size_t i = 0; i + 1 < d_layers.size(); ++i) {
    h = torch::leaky_relu(torch::linear(h, d_layers[i].w, d_layers[i].b), kLeakySlope);
    if (spec.dropout > 0) {
      const at::Tensor mask = torch::empty_like(h).bernoulli_(keep, gen).div_(keep);
      h = h * mask;
    }
  }
  return torch::linear(h, d_layers.back().w, d_layers.back().b);
}

at::Tensor TableTrainer::Impl::CondLoss(const at::Tensor& raw, const CondDraw& c) {
  // The cross-entropy of each row's chosen column against its chosen
  // category, on the raw logits; a whole group of equal widths at once.
  const int64_t batch = raw.size(0);
  const auto& groups = codec->discrete_groups();
  at::Tensor total;
  for (size_t g = 0; g < groups.size(); ++g) {
    const int64_t k = static_cast<int64_t>(groups[g].columns.size()), d = groups[g].dim;
    std::vector<int64_t> index(static_cast<size_t>(batch), 0);
    std::vector<float> mask(static_cast<size_t>(batch), 0);
    bool any = false;
    for (int64_t i = 0; i < batch; ++i) {
      const auto col = static_cast<size_t>(c.column[static_cast<size_t>(i)]);
      if (group_of[col] != static_cast<int>(g)) continue;
      index[static_cast<size_t>(i)] = slot_of[col] * d + c.category[static_cast<size_t>(i)];
      mask[static_cast<size_t>(i)] = 1;
      any = true;
    }
    if (!any) continue;
    const at::Tensor lsm =
        torch::log_softmax(raw.narrow(1, groups[g].start, k * d).reshape({batch, k, d}), 2).reshape({batch, k * d});
    const at::Tensor picked = lsm.gather(1, torch::tensor(index, torch::kLong).unsqueeze(1)).squeeze(1);
    const at::Tensor term = -(picked * torch::tensor(mask)).sum();
    total = total.defined() ? total + term : term;
  }
  if (!total.defined()) return torch::zeros({});
  return total / static_cast<double>(batch);
}

Status TableTrainer::Impl::Step(double* loss_d_out, double* loss_g_out, double* d_real, double* d_fake) {
  const int64_t batch = spec.batch_size;
  const int64_t critic = NCritic(spec);
  for (int64_t k = 0; k < critic; ++k) {
    const at::Tensor z = torch::randn({batch, spec.latent_dim}, gen);
    CondDraw c = DrawCond(batch);
    const at::Tensor perm = torch::randperm(batch, gen, torch::kLong);
    const at::Tensor u = torch::rand({batch}, gen, torch::kDouble);
    std::vector<int64_t> idx(static_cast<size_t>(batch));
    const int64_t* pp = perm.data_ptr<int64_t>();
    const double* up = u.data_ptr<double>();
    const auto train_n = static_cast<int64_t>(train_rows.size());
    for (int64_t i = 0; i < batch; ++i) {
      if (log_cdf.empty()) {
        idx[static_cast<size_t>(i)] = std::min<int64_t>(static_cast<int64_t>(up[i] * train_n), train_n - 1);
        continue;
      }
      const auto j = static_cast<size_t>(pp[i]);
      const std::vector<int64_t>& pool =
          rows_by_category[static_cast<size_t>(c.column[j])][static_cast<size_t>(c.category[j])];
      const auto m = static_cast<int64_t>(pool.size());
      idx[static_cast<size_t>(i)] = pool[static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(up[i] * m), m - 1))];
    }
    const at::Tensor real = data.index_select(0, torch::tensor(idx, torch::kLong));
    at::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = Activate(Generate(torch::cat({z, c.cond}, 1)));
    }
    const at::Tensor c2 = c.cond.index_select(0, perm);
    const at::Tensor real_cat = torch::cat({real, c2}, 1);
    const at::Tensor fake_cat = torch::cat({fake, c.cond}, 1);
    // Real and fake groups through the discriminator together.
    const at::Tensor both = Discriminate(torch::cat({real_cat, fake_cat}, 0));
    const int64_t groups = batch / spec.pac;
    const at::Tensor y_real = both.narrow(0, 0, groups), y_fake = both.narrow(0, groups, groups);
    // The gradient penalty on interpolates, one weight per pac group.
    const int64_t width = real_cat.size(1);
    const at::Tensor alpha =
        torch::rand({groups, 1, 1}, gen).repeat({1, spec.pac, width}).view({-1, width});
    at::Tensor interp = (alpha * real_cat + (1 - alpha) * fake_cat).detach().requires_grad_(true);
    const at::Tensor y_interp = Discriminate(interp);
    const at::Tensor grad = torch::autograd::grad({y_interp}, {interp}, {torch::ones_like(y_interp)},
                                                  /*retain_graph=*/true, /*create_graph=*/true)[0];
    const at::Tensor norm = grad.view({-1, spec.pac * width}).norm(2, 1) - 1;
    const at::Tensor pen = norm.pow(2).mean() * spec.gp_weight;
    const at::Tensor loss_d = -(y_real.mean() - y_fake.mean());
    d_adam->ZeroGrad();
    (pen + loss_d).backward();
    d_adam->Step();
    *loss_d_out = loss_d.item<double>();
    *d_real = y_real.mean().item<double>();
    *d_fake = y_fake.mean().item<double>();
  }
  // The generator's step; the discriminator's weights need no gradient.
  for (at::Tensor& p : d_params) p.requires_grad_(false);
  const at::Tensor z = torch::randn({batch, spec.latent_dim}, gen);
  CondDraw c = DrawCond(batch);
  const at::Tensor raw = Generate(torch::cat({z, c.cond}, 1));
  const at::Tensor act = Activate(raw);
  const at::Tensor y_fake = Discriminate(torch::cat({act, c.cond}, 1));
  at::Tensor loss_g = -y_fake.mean();
  if (!log_cdf.empty()) loss_g = loss_g + CondLoss(raw, c);
  g_adam->ZeroGrad();
  loss_g.backward();
  g_adam->Step();
  for (at::Tensor& p : d_params) p.requires_grad_(true);
  *loss_g_out = loss_g.item<double>();
  return Status::Ok();
}

std::shared_ptr<const GeneratorSnapshot> TableTrainer::Impl::MakeSnapshot() const {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> t;
  for (const Residual& r : residuals) {
    // batch_norm(y) = (y - mean) / sqrt(var + eps) * gamma + beta, folded in.
    const at::Tensor scale = r.gamma / torch::sqrt(r.var + kBatchNormEps);
    t.push_back((r.fc.w * scale.unsqueeze(1)).contiguous());
    t.push_back(((r.fc.b - r.mean) * scale + r.beta).contiguous());
  }
  t.push_back(g_out->w.detach().clone());
  t.push_back(g_out->b.detach().clone());
  return std::make_shared<GeneratorSnapshot>(std::move(t), codec, epoch);
}

void TableTrainer::Impl::Evaluate(EpochReport* r) {
  if (EvaluatedEpoch(epoch)) {
    TableRowStream rows(MakeSnapshot(), DeriveSeed(spec.seed, RandomStream::kEval, static_cast<uint64_t>(epoch)),
                        {}, 0, spec.eval_points);
    std::vector<std::vector<double>> generated;
    (void)rows.Next(spec.eval_points, &generated);  // no condition: never short
    const EvalMetrics m = evaluator->Evaluate(generated);
    quality = m.quality;
    r->metrics = m;
    const double v = MetricValue(m, spec.select_by);
    // The privacy constraint: an epoch whose dcr_share is above the limit
    // is never the best and never counts as an improvement.
    const bool allowed = spec.max_dcr_share <= 0 || (m.dcr_share && *m.dcr_share <= spec.max_dcr_share);
    const bool higher = HigherIsBetter(spec.select_by);
    auto better = [&](double a, double b) { return higher ? a > b : a < b; };
    if (allowed && !std::isnan(v)) {
      if (best_epoch == 0 || better(v, best_value)) {
        best_epoch = epoch;
        best_value = v;
        best_metrics = m;
      }
    }
    if (spec.patience > 0) {
      const double margin = higher ? -spec.min_delta : spec.min_delta;
      if (allowed && !std::isnan(v) && (patience_epoch == 0 || better(v + margin, patience_value))) {
        patience_epoch = epoch;
        patience_value = v;
      } else if (epoch - patience_epoch >= spec.patience && epoch < spec.epochs) {
        stopped = true;
        char buf[320];
        if (best_epoch > 0) {
          std::snprintf(buf, sizeof buf, "early stopping: %s did not improve by %g for %lld epochs%s (best %.4g at epoch %lld)",
                        MetricName(spec.select_by), spec.min_delta, static_cast<long long>(epoch - patience_epoch),
                        spec.max_dcr_share > 0 ? " within max_dcr_share" : "", best_value,
                        static_cast<long long>(best_epoch));
        } else if (spec.max_dcr_share > 0) {
          std::snprintf(buf, sizeof buf, "early stopping: no epoch in %lld met max_dcr_share %g",
                        static_cast<long long>(epoch), spec.max_dcr_share);
        } else {
          std::snprintf(buf, sizeof buf, "early stopping: %s was undefined at every evaluation in %lld epochs",
                        MetricName(spec.select_by), static_cast<long long>(epoch));
        }
        r->stop_reason = buf;
      }
    }
  }
  r->quality = quality;
  r->best_epoch = best_epoch;
  if (best_epoch > 0) r->best_metrics = best_metrics;
}

TableTrainer::TableTrainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TableTrainer::~TableTrainer() = default;

StatusOr<std::unique_ptr<TableTrainer>> TableTrainer::Create(const JobSpec& spec) {
  return CreateImpl(spec, std::nullopt);
}

StatusOr<std::unique_ptr<TableTrainer>> TableTrainer::CreateWithSplit(const JobSpec& spec, TableSplit split) {
  return CreateImpl(spec, std::move(split));
}

StatusOr<std::unique_ptr<TableTrainer>> TableTrainer::CreateImpl(const JobSpec& spec, std::optional<TableSplit> split) {
  GANTRY_RETURN_IF_ERROR(Validate(spec));
  if (spec.dataset.kind != DatasetKind::kTable) {
    return Status::InvalidArgument("dataset.kind: the table trainer trains table jobs only");
  }
  UseSingleThreadedMath();
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  impl->given_split = std::move(split);
  impl->gen = MakeCpuGenerator(spec.seed);
  try {
    GANTRY_RETURN_IF_ERROR(impl->Build());
  } catch (const std::exception& e) {
    return StatusFromException("building the table model", e);
  }
  return std::unique_ptr<TableTrainer>(new TableTrainer(std::move(impl)));
}

StatusOr<EpochReport> TableTrainer::RunEpoch(const std::atomic<bool>* cancel) {
  Impl& s = *impl_;
  if (s.broken) return Status::FailedPrecondition("the trainer was cancelled mid-epoch");
  if (s.epoch >= s.spec.epochs) return Status::FailedPrecondition("all epochs are trained");
  if (s.stopped) return Status::FailedPrecondition("early stopping ended training");
  UseSingleThreadedMath();
  EpochReport r;
  const auto start = std::chrono::steady_clock::now();
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(s.train_rows.size()) / s.spec.batch_size);
  double sum_d = 0, sum_g = 0, sum_real = 0, sum_fake = 0, last_d = 0, last_g = 0;
  try {
    for (int64_t i = 0; i < steps; ++i) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        s.broken = true;
        return Status::Cancelled("training cancelled in epoch " + std::to_string(s.epoch + 1));
      }
      double d_real = 0, d_fake = 0;
      GANTRY_RETURN_IF_ERROR(s.Step(&last_d, &last_g, &d_real, &d_fake));
      sum_d += last_d;
      sum_g += last_g;
      sum_real += d_real;
      sum_fake += d_fake;
    }
  } catch (const std::exception& e) {
    s.broken = true;
    return StatusFromException(("training epoch " + std::to_string(s.epoch + 1)).c_str(), e);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++s.epoch;
  const auto n = static_cast<double>(steps);
  r.epoch = s.epoch;
  r.loss_d = sum_d / n;
  r.loss_g = sum_g / n;
  r.last_loss_d = last_d;
  r.last_loss_g = last_g;
  r.d_real = sum_real / n;
  r.d_fake = sum_fake / n;
  r.trainer_path = "aten";
  try {
    s.Evaluate(&r);
  } catch (const std::exception& e) {
    return StatusFromException(("evaluating epoch " + std::to_string(s.epoch)).c_str(), e);
  }
  s.alarms.Observe(s.spec, &r);
  return r;
}

int64_t TableTrainer::epochs_done() const { return impl_->epoch; }
bool TableTrainer::finished() const { return impl_->epoch >= impl_->spec.epochs || impl_->stopped; }
int64_t TableTrainer::best_epoch() const { return impl_->best_epoch; }
std::shared_ptr<const GeneratorSnapshot> TableTrainer::Snapshot() const { return impl_->MakeSnapshot(); }
int64_t TableTrainer::encoded_width() const { return impl_->codec->width(); }
int64_t TableTrainer::cond_width() const { return impl_->codec->cond_width(); }
double TableTrainer::preprocess_seconds() const { return impl_->preprocess_seconds; }

namespace {

// The best epoch's metrics as words (absent optionals as NaN).
constexpr int64_t kBestWords = 13;
std::vector<int64_t> MetricsWords(const EvalMetrics& m) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<int64_t> w;
  for (double d : {m.column_distance, m.quality, m.column_shapes, m.column_pairs,
                   m.missing_similarity, m.column_coverage, m.adherence, m.dcr_share.value_or(nan),
                   m.exact_copies.value_or(nan), m.dcr_p5.value_or(nan),
                   m.holdout_dcr_p5.value_or(nan), m.utility.value_or(nan),
                   m.utility_real.value_or(nan)}) {
    w.push_back(DoubleBits(d));
  }
  return w;
}
EvalMetrics WordsMetrics(const int64_t* w) {
  auto opt = [](int64_t b) -> std::optional<double> {
    const double d = BitsDouble(b);
    if (std::isnan(d)) return std::nullopt;
    return d;
  };
  EvalMetrics m;
  m.column_distance = BitsDouble(w[0]);
  m.quality = BitsDouble(w[1]);
  m.column_shapes = BitsDouble(w[2]);
  m.column_pairs = BitsDouble(w[3]);
  m.missing_similarity = BitsDouble(w[4]);
  m.column_coverage = BitsDouble(w[5]);
  m.adherence = BitsDouble(w[6]);
  m.dcr_share = opt(w[7]);
  m.exact_copies = opt(w[8]);
  m.dcr_p5 = opt(w[9]);
  m.holdout_dcr_p5 = opt(w[10]);
  m.utility = opt(w[11]);
  m.utility_real = opt(w[12]);
  return m;
}

}  // namespace

StatusOr<std::string> TableTrainer::SaveState() const {
  Impl& s = *impl_;
  if (s.broken) return Status::FailedPrecondition("the trainer was cancelled mid-epoch");
  try {
    TensorFileWriter w;
    w.Add("format", torch::tensor({kTableStateFormat}, torch::kLong));
    w.Add("epoch", torch::tensor({s.epoch}, torch::kLong));
    at::Tensor rng;
    {
      std::lock_guard<std::mutex> lock(s.gen.mutex());
      rng = s.gen.get_state();
    }
    w.Add("rng", rng);
    w.Add("eval", torch::tensor({s.best_epoch, DoubleBits(s.best_value), DoubleBits(s.quality),
                                 s.patience_epoch, DoubleBits(s.patience_value),
                                 int64_t{s.stopped ? 1 : 0}},
                                torch::kLong));
    w.Add("eval.best", torch::tensor(MetricsWords(s.best_metrics), torch::kLong));
    w.Add("alarms", torch::tensor(s.alarms.Words(), torch::kLong));
    auto params = [&](const std::string& prefix, const std::vector<at::Tensor>& p, Adam& adam) {
      for (size_t i = 0; i < p.size(); ++i) {
        const std::string k = prefix + std::to_string(i);
        w.Add(k + ".param", p[i].detach().contiguous());
        w.Add(k + ".exp_avg", adam.exp_avg()[i].contiguous());
        w.Add(k + ".exp_avg_sq", adam.exp_avg_sq()[i].contiguous());
        w.Add(k + ".step", torch::tensor({adam.steps()[i]}, torch::kLong));
      }
    };
    params("g", s.g_params, *s.g_adam);
    params("d", s.d_params, *s.d_adam);
    for (size_t i = 0; i < s.residuals.size(); ++i) {
      const std::string k = "bn" + std::to_string(i);
      w.Add(k + ".mean", s.residuals[i].mean.contiguous());
      w.Add(k + ".var", s.residuals[i].var.contiguous());
      w.Add(k + ".count", s.residuals[i].count.reshape({1}).contiguous());
    }
    return std::move(w).Finish();
  } catch (const std::exception& e) {
    return StatusFromException("saving the table trainer state", e);
  }
}

Status TableTrainer::RestoreState(const std::string& bytes) {
  Impl& s = *impl_;
  UseSingleThreadedMath();
  auto read = ReadTensorFile(bytes);
  if (!read.ok()) return Status::DataLoss("trainer state is unreadable: " + read.status().message());
  const Tensors& t = *read;
  const std::optional<int64_t> format = Int64Scalar(t, "format"), epoch = Int64Scalar(t, "epoch");
  auto rng = t.find("rng");
  auto ev = t.find("eval");
  if (!format || !epoch || rng == t.end() || rng->second.scalar_type() != at::kByte || ev == t.end() ||
      ev->second.scalar_type() != at::kLong || ev->second.numel() != 6) {
    return Status::DataLoss("table trainer state is missing its header");
  }
  if (*format != kTableStateFormat) {
    return Status::InvalidArgument("table trainer state format " + std::to_string(*format) + " is not " +
                                   std::to_string(kTableStateFormat));
  }
  if (*epoch < 0 || *epoch > s.spec.epochs) {
    return Status::InvalidArgument("trainer state epoch " + std::to_string(*epoch) + " is out of range 0.." +
                                   std::to_string(s.spec.epochs));
  }
  const at::Tensor ev_words = ev->second.contiguous();
  const int64_t* e = ev_words.data_ptr<int64_t>();
  if (e[0] < 0 || e[0] > *epoch || e[3] < 0 || e[3] > *epoch) {
    return Status::DataLoss("trainer state's evaluation record names epochs past its own");
  }
  auto check = [&](const std::string& name, const at::Tensor& like) -> Status {
    auto it = t.find(name);
    if (it == t.end()) return Status::DataLoss("state is missing " + name);
    if (it->second.scalar_type() != like.scalar_type()) return Status::DataLoss("state holds " + name + " as another type");
    if (!it->second.sizes().equals(like.sizes())) {
      return Status::InvalidArgument("state does not fit this job's networks: " + name);
    }
    return Status::Ok();
  };
  auto check_params = [&](const std::string& prefix, const std::vector<at::Tensor>& p) -> Status {
    for (size_t i = 0; i < p.size(); ++i) {
      const std::string k = prefix + std::to_string(i);
      GANTRY_RETURN_IF_ERROR(check(k + ".param", p[i]));
      GANTRY_RETURN_IF_ERROR(check(k + ".exp_avg", p[i]));
      GANTRY_RETURN_IF_ERROR(check(k + ".exp_avg_sq", p[i]));
      const std::optional<int64_t> step = Int64Scalar(t, k + ".step");
      if (!step) return Status::DataLoss("state is missing " + k + ".step");
      if (*step < 0) return Status::DataLoss("state holds a negative Adam step for " + k);
    }
    return Status::Ok();
  };
  AlarmMonitor alarms;
  GANTRY_RETURN_IF_ERROR(alarms.Restore(t, *epoch));
  GANTRY_RETURN_IF_ERROR(check_params("g", s.g_params));
  GANTRY_RETURN_IF_ERROR(check_params("d", s.d_params));
  for (size_t i = 0; i < s.residuals.size(); ++i) {
    const std::string k = "bn" + std::to_string(i);
    GANTRY_RETURN_IF_ERROR(check(k + ".mean", s.residuals[i].mean));
    GANTRY_RETURN_IF_ERROR(check(k + ".var", s.residuals[i].var));
    if (!Int64Scalar(t, k + ".count")) return Status::DataLoss("state is missing " + k + ".count");
  }
  try {
    if (!SetGeneratorState(s.gen, rng->second)) {
      return Status::DataLoss("trainer state holds an inconsistent random generator state");
    }
    torch::NoGradGuard no_grad;
    auto apply = [&](const std::string& prefix, std::vector<at::Tensor>& p, Adam& adam) {
      for (size_t i = 0; i < p.size(); ++i) {
        const std::string k = prefix + std::to_string(i);
        p[i].copy_(t.at(k + ".param"));
        adam.exp_avg()[i].copy_(t.at(k + ".exp_avg"));
        adam.exp_avg_sq()[i].copy_(t.at(k + ".exp_avg_sq"));
        adam.steps()[i] = *Int64Scalar(t, k + ".step");
      }
    };
    apply("g", s.g_params, *s.g_adam);
    apply("d", s.d_params, *s.d_adam);
    for (size_t i = 0; i < s.residuals.size(); ++i) {
      const std::string k = "bn" + std::to_string(i);
      s.residuals[i].mean.copy_(t.at(k + ".mean"));
      s.residuals[i].var.copy_(t.at(k + ".var"));
      s.residuals[i].count.fill_(*Int64Scalar(t, k + ".count"));
    }
  } catch (const std::exception& e) {
    return StatusFromException("restoring the table trainer state", e, StatusCode::kDataLoss);
  }
  s.best_epoch = e[0];
  s.best_value = BitsDouble(e[1]);
  // States from before the table evaluation (issue 21) hold only the best
  // column_distance, which their select_by was.
  auto best = t.find("eval.best");
  if (best != t.end() && best->second.scalar_type() == at::kLong && best->second.numel() == kBestWords) {
    const at::Tensor words = best->second.contiguous();
    s.best_metrics = WordsMetrics(words.data_ptr<int64_t>());
  } else {
    s.best_metrics = EvalMetrics{};
    s.best_metrics.column_distance = s.best_value;
  }
  s.quality = BitsDouble(e[2]);
  s.patience_epoch = e[3];
  s.patience_value = BitsDouble(e[4]);
  s.stopped = e[5] != 0;
  s.alarms = alarms;
  s.epoch = *epoch;
  s.broken = false;
  return Status::Ok();
}

}  // namespace gantry
