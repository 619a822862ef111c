#include "server/studies/study_spec.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include "core/spec_params.h"
#include "server/jobs/convert.h"

namespace gantry::studies {
namespace {

Status Bad(const std::string& field, const std::string& why) {
  return Status::InvalidArgument(field + ": " + why);
}

std::string Num(double v) { return FormatReal(v); }

Status CheckParam(const v1::SearchParam& p, size_t i, const std::string& algorithm,
                  const JobSpec& base) {
  const std::string where = "space[" + std::to_string(i) + "]";
  if (!IsParam(p.name())) {
    JobSpec probe;
    return Bad(where + ".name", SetParam(p.name(), "", &probe).message());
  }
  const std::string field = where + " (" + p.name() + ")";
  if (algorithm == "pbt" && !IsMutableParam(p.name())) {
    return Bad(field, "pbt changes parameters during training, so only learning_rate, beta1, "
                      "beta2, dropout, gp_weight, weight_decay and n_critic may be searched");
  }
  if (p.kind() == "choice") {
    if (p.values_size() < 1 || p.values_size() > kMaxChoices) {
      return Bad(field + ".values", std::to_string(p.values_size()) + " values; a choice needs 1.." +
                                        std::to_string(kMaxChoices));
    }
    std::set<std::string> seen;
    for (const std::string& v : p.values()) {
      JobSpec probe = base;
      if (Status set = SetParam(p.name(), v, &probe); !set.ok()) return Bad(where + ".values", set.message());
      if (!seen.insert(v).second) return Bad(field + ".values", "'" + v.substr(0, 64) + "' appears twice");
    }
    return Status::Ok();
  }
  if (p.values_size() > 0) return Bad(field + ".values", "only for kind choice");
  if (p.kind() != "int" && p.kind() != "uniform" && p.kind() != "log_uniform") {
    return Bad(field + ".kind", "'" + p.kind().substr(0, 64) +
                                    "' is not one of choice, int, uniform, log_uniform");
  }
  if (!std::isfinite(p.min()) || !std::isfinite(p.max()) || p.min() > p.max()) {
    return Bad(field, "min " + Num(p.min()) + " and max " + Num(p.max()) +
                          " must be finite with min <= max");
  }
  if (p.kind() == "int" && !IsIntParam(p.name())) {
    return Bad(field + ".kind", "int is for latent_dim, batch_size, n_critic, pac and seed");
  }
  if (p.kind() == "int" && (p.min() < -1e9 || p.max() > 1e9)) {
    return Bad(field, "an int range lies within -1e9..1e9, not " + Num(p.min()) + ".." + Num(p.max()));
  }
  if (p.kind() == "int" && std::ceil(p.min()) > std::floor(p.max())) {
    return Bad(field, "no whole number lies in " + Num(p.min()) + ".." + Num(p.max()));
  }
  if (p.kind() == "int") {  // both ends are values the parameter takes (seed >= 0)
    JobSpec probe;
    for (double end : {std::ceil(p.min()), std::floor(p.max())}) {
      Status s = SetParam(p.name(), std::to_string(static_cast<long long>(end)), &probe);
      if (!s.ok()) return Bad(field, s.message());
    }
  }
  if (p.kind() != "int" && !IsRealParam(p.name())) {
    return Bad(field + ".kind", p.kind() + " is for real parameters (learning_rate, beta1, beta2, "
                                           "dropout, gp_weight, weight_decay)");
  }
  if (p.kind() == "log_uniform" && p.min() <= 0) {
    return Bad(field + ".min", Num(p.min()) + "; log_uniform needs min > 0");
  }
  return Status::Ok();
}

}  // namespace

Status NormalizeStudySpec(v1::StudySpec* spec) {
  v1::JobSpec& b = *spec->mutable_base();
  if (b.has_init_from() || b.schedule_size() > 0 || b.keep_checkpoint()) {
    return Bad("base", "init_from, schedule and keep_checkpoint are the study's to set");
  }
  auto base = SpecFromProto(b);
  if (!base.ok()) return Bad("base." + std::string(), base.status().message());
  const int64_t epochs = base->epochs;
  if (epochs < 1 || epochs > kMaxEpochs) return Bad("base.epochs", std::to_string(epochs) + " is out of range 1..100000");
  b.set_epochs(epochs);  // explicit, so that ConfigOf need not parse the base again
  std::string& algorithm = *spec->mutable_algorithm();
  if (algorithm.empty()) algorithm = "grid";
  if (algorithm != "grid" && algorithm != "random" && algorithm != "asha" &&
      algorithm != "hyperband" && algorithm != "pbt") {
    return Bad("algorithm", "'" + algorithm.substr(0, 64) + "' is not one of grid, random, asha, hyperband, pbt");
  }
  const bool adaptive = algorithm == "asha" || algorithm == "hyperband" || algorithm == "pbt";
  if (adaptive && base->patience > 0) {
    return Bad("base.patience", algorithm + " decides when trials stop; early stopping is for grid and random studies");
  }
  if (spec->space_size() < 1 || spec->space_size() > kMaxParams) {
    return Bad("space", std::to_string(spec->space_size()) + " parameters; a study searches 1.." +
                            std::to_string(kMaxParams));
  }
  std::set<std::string> names;
  for (int i = 0; i < spec->space_size(); ++i) {
    GANTRY_RETURN_IF_ERROR(CheckParam(spec->space(i), static_cast<size_t>(i), algorithm, *base));
    if (!names.insert(spec->space(i).name()).second) {
      return Bad("space[" + std::to_string(i) + "].name", spec->space(i).name() + " is searched twice");
    }
  }
  // The objective and its direction.
  std::string& objective = *spec->mutable_objective();
  if (objective.empty()) objective = MetricName(base->select_by);
  auto metric = ParseMetric(objective);
  if (!metric) {
    return Bad("objective", "'" + objective.substr(0, 64) + "' is not a metric select_by accepts");
  }
  if (IsTableMetric(*metric) != (base->dataset.kind == DatasetKind::kTable)) {
    return Bad("objective", objective + (IsTableMetric(*metric) ? " is for table jobs" : " is for point jobs"));
  }
  if (*metric == Metric::kUtility && base->target.empty()) {
    return Bad("objective", "utility needs base.target");
  }
  std::string& direction = *spec->mutable_direction();
  if (direction.empty()) direction = HigherIsBetter(*metric) ? "max" : "min";
  if (direction != "min" && direction != "max") {
    return Bad("direction", "'" + direction.substr(0, 16) + "' is not min or max");
  }
  if (!spec->has_plan_version()) spec->set_plan_version(kPlanVersion);
  if (spec->plan_version() < 1 || spec->plan_version() > kPlanVersion) {
    return Bad("plan_version", std::to_string(spec->plan_version()) + " is out of range 1.." +
                                   std::to_string(kPlanVersion));
  }
  // Budgets.
  if (spec->concurrency() == 0) spec->set_concurrency(2);
  if (spec->concurrency() < 1 || spec->concurrency() > kMaxConcurrency) {
    return Bad("concurrency", std::to_string(spec->concurrency()) + " is out of range 1.." + std::to_string(kMaxConcurrency));
  }
  if (spec->max_epochs() < 0) return Bad("max_epochs", std::to_string(spec->max_epochs()) + " is negative");
  if (spec->max_trials() < 0) return Bad("max_trials", std::to_string(spec->max_trials()) + " is negative");
  std::vector<Param> space = ConfigOf(*spec).space;
  if (algorithm == "grid") {
    const int64_t size = GridSize(space);
    if (size == 0) return Bad("space", "a grid needs choice or int parameters (uniform and log_uniform are for random, asha, hyperband, pbt)");
    if (size > kMaxTrials) return Bad("space", "the grid has " + std::to_string(size) + " combinations, more than " + std::to_string(kMaxTrials));
    if (spec->max_trials() == 0) spec->set_max_trials(size);
    if (spec->max_trials() < size) {
      return Bad("max_trials", std::to_string(spec->max_trials()) + " is fewer than the grid's " + std::to_string(size) + " combinations");
    }
    spec->set_max_trials(size);
  } else if (algorithm == "pbt") {
    if (spec->population() == 0) spec->set_population(8);
    if (spec->population() < 2 || spec->population() > kMaxPopulation) {
      return Bad("population", std::to_string(spec->population()) + " is out of range 2.." + std::to_string(kMaxPopulation));
    }
    if (spec->max_trials() != 0 && spec->max_trials() != spec->population()) {
      return Bad("max_trials", "a pbt study's trials are its population; leave max_trials unset");
    }
    spec->set_max_trials(spec->population());
    if (spec->perturb_interval() == 0) spec->set_perturb_interval(std::max<int64_t>(1, epochs / 10));
    if (spec->perturb_interval() < 1 || spec->perturb_interval() > epochs) {
      return Bad("perturb_interval", std::to_string(spec->perturb_interval()) + " is out of range 1.." + std::to_string(epochs) + " (base.epochs)");
    }
    if (!spec->has_truncation()) spec->set_truncation(0.25);
    if (!(spec->truncation() > 0 && spec->truncation() <= 0.5)) {
      return Bad("truncation", Num(spec->truncation()) + " is out of range (0, 0.5]");
    }
    if (!spec->has_resample_probability()) spec->set_resample_probability(0.25);
    if (!(spec->resample_probability() >= 0 && spec->resample_probability() <= 1)) {
      return Bad("resample_probability", Num(spec->resample_probability()) + " is out of range [0, 1]");
    }
    const int64_t jobs = spec->population() * ((epochs + spec->perturb_interval() - 1) / spec->perturb_interval());
    if (jobs > kMaxStudyJobs) {
      return Bad("perturb_interval", "population x generations is " + std::to_string(jobs) + " jobs, more than " + std::to_string(kMaxStudyJobs));
    }
  } else {
    if (spec->max_trials() == 0) spec->set_max_trials(algorithm == "hyperband" ? -1 : 16);
    if ((spec->max_trials() < 1 && spec->max_trials() != -1) || spec->max_trials() > kMaxTrials) {
      return Bad("max_trials", std::to_string(spec->max_trials()) + " is out of range 1.." + std::to_string(kMaxTrials));
    }
  }
  if (algorithm == "asha" || algorithm == "hyperband") {
    if (spec->reduction_factor() == 0) spec->set_reduction_factor(3);
    if (spec->reduction_factor() < 2 || spec->reduction_factor() > 10) {
      return Bad("reduction_factor", std::to_string(spec->reduction_factor()) + " is out of range 2..10");
    }
    if (spec->min_epochs() == 0) spec->set_min_epochs(std::max<int64_t>(1, epochs / 27));
    if (spec->min_epochs() < 1 || spec->min_epochs() > epochs) {
      return Bad("min_epochs", std::to_string(spec->min_epochs()) + " is out of range 1.." + std::to_string(epochs) + " (base.epochs)");
    }
    if (spec->max_trials() == -1) {  // Hyperband's default: every bracket's trials
      const int64_t s_max = static_cast<int64_t>(Rungs(ConfigOf(*spec)).size()) - 1;
      int64_t total = 0;
      for (int64_t s = s_max; s >= 0; --s) {
        int64_t power = 1;
        for (int64_t i = 0; i < s; ++i) power *= spec->reduction_factor();
        total += ((s_max + 1) * power + s) / (s + 1);  // ceil((s_max + 1) / (s + 1) * eta^s)
      }
      spec->set_max_trials(std::min<int64_t>(total, kMaxTrials));
    }
    const int64_t jobs = spec->max_trials() * static_cast<int64_t>(Rungs(ConfigOf(*spec)).size());
    if (jobs > kMaxStudyJobs) {
      return Bad("max_trials", "trials x rungs is " + std::to_string(jobs) + " jobs, more than " + std::to_string(kMaxStudyJobs));
    }
  } else if (spec->reduction_factor() != 0 || spec->min_epochs() != 0) {
    return Bad("reduction_factor", "min_epochs and reduction_factor are for asha and hyperband");
  }
  if (algorithm != "pbt" && (spec->population() != 0 || spec->perturb_interval() != 0 ||
                             spec->has_truncation() || spec->has_resample_probability())) {
    return Bad("population", "population, perturb_interval, truncation and resample_probability are for pbt");
  }
  if (spec->max_epochs() > 0 && spec->max_epochs() < ConfigOf(*spec).min_epochs) {
    return Bad("max_epochs", std::to_string(spec->max_epochs()) + " is less than one trial's first segment");
  }
  return Status::Ok();
}

Config ConfigOf(const v1::StudySpec& spec) {
  Config c;
  c.algorithm = spec.algorithm();
  for (const v1::SearchParam& p : spec.space()) {
    Param& q = c.space.emplace_back();
    q.name = p.name();
    q.kind = p.kind();
    q.values.assign(p.values().begin(), p.values().end());
    q.min = p.min();
    q.max = p.max();
  }
  c.maximize = spec.direction() == "max";
  // Stored before versions: 1.
  const int32_t version = spec.has_plan_version() ? spec.plan_version() : 1;
  if (auto metric = ParseMetric(spec.objective()); metric && version >= 2) {
    c.track_best = HigherIsBetter(*metric) == c.maximize;
    c.best_so_far = c.track_best && c.algorithm != "pbt";
  }
  if (spec.base().has_epochs()) {
    c.epochs = spec.base().epochs();  // a normalized spec's
  } else {
    auto base = SpecFromProto(spec.base());  // the default for the base's kind
    c.epochs = base.ok() ? base->epochs : 1;
  }
  c.max_trials = spec.max_trials();
  c.max_epochs = spec.max_epochs();
  c.concurrency = std::max<int64_t>(1, spec.concurrency());
  c.seed = spec.seed();
  c.min_epochs = c.algorithm == "pbt" ? spec.perturb_interval() : std::max<int64_t>(1, spec.min_epochs());
  if (c.algorithm == "grid" || c.algorithm == "random") c.min_epochs = c.epochs;
  c.eta = std::max<int64_t>(2, spec.reduction_factor());
  c.population = spec.population();
  c.interval = std::max<int64_t>(1, spec.perturb_interval());
  c.truncation = spec.truncation();
  c.resample = spec.resample_probability();
  return c;
}

StatusOr<v1::JobSpec> SegmentSpec(const v1::StudySpec& spec, const Segment& s,
                                  const std::string& parent_job_id) {
  v1::JobSpec out = spec.base();
  const auto* reflection = out.GetReflection();
  for (const auto& [name, value] : s.params) {
    JobSpec probe;  // SetParam checks the text; the proto field takes its value
    GANTRY_RETURN_IF_ERROR(SetParam(name, value, &probe));
    const auto* field = out.GetDescriptor()->FindFieldByName(name);
    if (field == nullptr) return Status::Internal("no JobSpec field " + name);
    using F = google::protobuf::FieldDescriptor;
    switch (field->cpp_type()) {
      case F::CPPTYPE_DOUBLE: reflection->SetDouble(&out, field, std::strtod(value.c_str(), nullptr)); break;
      case F::CPPTYPE_INT64: reflection->SetInt64(&out, field, std::strtoll(value.c_str(), nullptr, 10)); break;
      case F::CPPTYPE_UINT64: reflection->SetUInt64(&out, field, std::strtoull(value.c_str(), nullptr, 10)); break;
      case F::CPPTYPE_STRING: reflection->SetString(&out, field, value); break;
      case F::CPPTYPE_BOOL: reflection->SetBool(&out, field, value == "true"); break;
      case F::CPPTYPE_MESSAGE: {  // LayerSizes
        v1::LayerSizes* sizes = name == "generator_hidden" ? out.mutable_generator_hidden()
                                                           : out.mutable_discriminator_hidden();
        sizes->clear_sizes();
        const std::vector<int64_t>& parsed = name == "generator_hidden" ? probe.generator_hidden
                                                                       : probe.discriminator_hidden;
        for (int64_t v : parsed) sizes->add_sizes(v);
        break;
      }
      default: return Status::Internal("parameter " + name + " has an unexpected type");
    }
  }
  out.set_epochs(s.end);
  // Plan version 2: the jobs' best epochs follow the study's objective (an
  // older study's jobs keep the base's, as they were created).
  if (spec.has_plan_version() && spec.plan_version() >= 2) out.set_select_by(spec.objective());
  if (s.parent_trial > 0) {
    out.mutable_init_from()->set_job_id(parent_job_id);
    out.mutable_init_from()->set_epoch(s.start);
  }
  out.set_keep_checkpoint(true);
  return out;
}

std::optional<double> ObjectiveOf(const std::string& objective, const v1::Metrics& metrics) {
  const auto* field = metrics.GetDescriptor()->FindFieldByName(objective);
  if (field == nullptr) return std::nullopt;
  const auto* reflection = metrics.GetReflection();
  if (field->has_presence() && !reflection->HasField(metrics, field)) return std::nullopt;
  double v = field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE
                 ? reflection->GetDouble(metrics, field)
                 : static_cast<double>(reflection->GetInt64(metrics, field));
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace gantry::studies
