#include "server/jobs/convert.h"

#include "core/api_limits.h"
#include "server/jobs/table_convert.h"

namespace gantry {
namespace {

// core/api_limits.h orders the kinds as the proto enum does: proto value
// i + 1 is core's DatasetKind i.
static_assert(static_cast<int>(DatasetKind::kTable) + 1 == v1::DATASET_KIND_TABLE &&
              kDatasetKindCount == static_cast<size_t>(v1::DATASET_KIND_TABLE));

std::vector<int64_t> Sizes(const v1::LayerSizes& l) { return {l.sizes().begin(), l.sizes().end()}; }

// The overrides of a TableSource: each column in at most one list.
Status TableFromProto(const v1::TableSource& t, TableSpec* out) {
  out->table_id = t.table_id();
  const std::pair<const google::protobuf::RepeatedPtrField<std::string>*, ColumnType> lists[] = {
      {&t.categorical(), ColumnType::kCategorical}, {&t.integer(), ColumnType::kInteger},
      {&t.continuous(), ColumnType::kContinuous},   {&t.datetime(), ColumnType::kDatetime},
      {&t.boolean(), ColumnType::kBoolean}};
  for (const auto& [names, type] : lists) {
    for (const std::string& name : *names) {
      if (name.empty() || name.size() > 1024) {
        return Status::InvalidArgument(std::string("dataset.table.") + ColumnTypeName(type) +
                                       ": a column name must have 1..1024 bytes");
      }
      auto [it, inserted] = out->overrides.emplace(name, type);
      if (!inserted && it->second != type) {
        return Status::InvalidArgument("dataset.table: column '" + name.substr(0, 64) + "' is named as both " +
                                       ColumnTypeName(it->second) + " and " + ColumnTypeName(type));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<JobSpec> SpecFromProto(const v1::JobSpec& p) {
  const v1::Dataset& d = p.dataset();
  // A table job starts from CTGAN's defaults, every other from the seed program's.
  JobSpec s = d.kind() == v1::DATASET_KIND_TABLE ? TableDefaults() : JobSpec();
  if (d.has_table()) {
    if (d.kind() != v1::DATASET_KIND_TABLE) {
      return Status::InvalidArgument(std::string("dataset.table: only allowed with kind table, not ") +
                                     (DatasetKindNameOfProto(d.kind()) ? DatasetKindNameOfProto(d.kind()) : "unknown"));
    }
    GANTRY_RETURN_IF_ERROR(TableFromProto(d.table(), &s.dataset.table));
  }
  if (d.kind() != v1::DATASET_KIND_UNSPECIFIED) {
    if (d.kind() >= 1 && d.kind() <= static_cast<int>(kDatasetKindCount)) {
      s.dataset.kind = static_cast<DatasetKind>(d.kind() - 1);
    } else {
      return Status::InvalidArgument("dataset.kind: " + std::to_string(d.kind()) +
                                     " is not a known dataset kind");
    }
  }
  if (d.has_size()) s.dataset.size = d.size();
  if (d.has_size() && d.has_points()) {
    // The row count is the size of user data: a different size is a mistake.
    const int64_t dim = d.points().dim();
    const int64_t rows = dim > 0 ? d.points().values_size() / dim : 0;
    if (d.size() != rows) {
      return Status::InvalidArgument("dataset.size: " + std::to_string(d.size()) + " is not the " +
                                     std::to_string(rows) +
                                     " rows of dataset.points; leave it unset for user data");
    }
  }
  if (d.has_noise()) s.dataset.noise = d.noise();
  if (d.has_points()) {
    if (s.dataset.kind != DatasetKind::kUser) {
      return Status::InvalidArgument(
          std::string("dataset.points: only allowed with kind user, not ") +
          DatasetKindName(s.dataset.kind));
    }
    s.dataset.dim = d.points().dim();
    s.dataset.points.assign(d.points().values().begin(), d.points().values().end());
  }
  s.dataset.columns.assign(d.columns().begin(), d.columns().end());
  if (p.has_latent_dim()) s.latent_dim = p.latent_dim();
  if (p.has_generator_hidden()) s.generator_hidden = Sizes(p.generator_hidden());
  if (p.has_discriminator_hidden()) s.discriminator_hidden = Sizes(p.discriminator_hidden());
  if (p.has_dropout()) s.dropout = p.dropout();
  if (p.has_learning_rate()) s.learning_rate = p.learning_rate();
  if (p.has_beta1()) s.beta1 = p.beta1();
  if (p.has_beta2()) s.beta2 = p.beta2();
  if (p.has_batch_size()) s.batch_size = p.batch_size();
  if (p.has_epochs()) s.epochs = p.epochs();
  if (p.has_seed()) s.seed = p.seed();
  if (p.has_preview_points()) s.preview_points = p.preview_points();
  if (p.has_checkpoint_every()) s.checkpoint_every = p.checkpoint_every();
  if (p.has_trainer_path()) {
    auto path = ParseTrainerPath(p.trainer_path());
    if (!path) {
      return Status::InvalidArgument("trainer_path: '" + p.trainer_path().substr(0, 64) +
                                     "' is not one of auto, fast, aten");
    }
    s.trainer_path = *path;
  }
  if (p.has_loss()) {
    auto loss = ParseLoss(p.loss());
    if (!loss) {
      return Status::InvalidArgument("loss: '" + p.loss().substr(0, 64) +
                                     "' is not one of bce, non_saturating, hinge, wgan_gp");
    }
    s.loss = *loss;
  }
  if (p.has_on_non_finite()) {
    if (p.on_non_finite() != "fail" && p.on_non_finite() != "continue") {
      return Status::InvalidArgument("on_non_finite: '" + p.on_non_finite().substr(0, 64) +
                                     "' is not one of fail, continue");
    }
    s.continue_on_non_finite = p.on_non_finite() == "continue";
  }
  if (p.has_gp_weight()) s.gp_weight = p.gp_weight();
  if (p.has_n_critic()) s.n_critic = p.n_critic();
  if (p.has_spectral_norm()) s.spectral_norm = p.spectral_norm();
  if (p.has_eval_every()) s.eval_every = p.eval_every();
  if (p.has_eval_fraction()) s.eval_fraction = p.eval_fraction();
  if (p.has_eval_points()) s.eval_points = p.eval_points();
  if (p.has_select_by()) {
    auto metric = ParseMetric(p.select_by());
    if (!metric) {
      return Status::InvalidArgument("select_by: '" + p.select_by().substr(0, 64) +
                                     "' is not one of sliced_w1, mmd, precision, recall, density, "
                                     "coverage; tables: quality, column_shapes, column_pairs, utility, dcr_share, "
                                     "column_distance");
    }
    s.select_by = *metric;
  }
  if (p.has_patience()) s.patience = p.patience();
  if (p.has_min_delta()) s.min_delta = p.min_delta();
  if (p.has_weight_decay()) s.weight_decay = p.weight_decay();
  if (p.has_pac()) s.pac = p.pac();
  if (p.has_max_modes()) s.max_modes = p.max_modes();
  if (p.has_target()) s.target = p.target();
  if (p.has_max_dcr_share()) s.max_dcr_share = p.max_dcr_share();
  if (p.has_init_from()) {
    if (p.init_from().job_id().empty() || p.init_from().job_id().size() > 64) {
      return Status::InvalidArgument("init_from.job_id: a job id is needed (at most 64 characters)");
    }
    s.init_job_id = p.init_from().job_id();
    s.init_epoch = p.init_from().epoch();
  }
  s.keep_checkpoint = p.keep_checkpoint();
  for (const v1::SpecChange& c : p.schedule()) {
    JobSpec::Change& change = s.schedule.emplace_back();
    change.after_epoch = c.after_epoch();
    change.params.insert(c.params().begin(), c.params().end());
  }
  return s;
}

v1::JobSpec SpecToProto(const JobSpec& s) {
  v1::JobSpec p;
  v1::Dataset* d = p.mutable_dataset();
  d->set_kind(static_cast<v1::DatasetKind>(static_cast<int>(s.dataset.kind) + 1));
  if (s.dataset.kind == DatasetKind::kTable) {
    d->set_size(DatasetRows(s.dataset));
    v1::TableSource* t = d->mutable_table();
    t->set_table_id(s.dataset.table.table_id);
    for (const auto& [name, type] : s.dataset.table.overrides) {
      switch (type) {
        case ColumnType::kCategorical: t->add_categorical(name); break;
        case ColumnType::kInteger: t->add_integer(name); break;
        case ColumnType::kContinuous: t->add_continuous(name); break;
        case ColumnType::kDatetime: t->add_datetime(name); break;
        case ColumnType::kBoolean: t->add_boolean(name); break;
      }
    }
    if (s.dataset.table.data) *t->mutable_schema() = SchemaToProto(s.dataset.table.data->schema);
  } else if (s.dataset.kind == DatasetKind::kUser) {
    d->set_size(DatasetRows(s.dataset));
    d->mutable_points()->set_dim(static_cast<int32_t>(s.dataset.dim));
    d->mutable_points()->mutable_values()->Assign(s.dataset.points.begin(), s.dataset.points.end());
    d->mutable_columns()->Assign(s.dataset.columns.begin(), s.dataset.columns.end());
  } else {
    d->set_size(s.dataset.size);
    d->set_noise(s.dataset.noise.value_or(DefaultNoise(s.dataset.kind)));
  }
  p.set_latent_dim(s.latent_dim);
  p.mutable_generator_hidden()->mutable_sizes()->Assign(s.generator_hidden.begin(),
                                                        s.generator_hidden.end());
  p.mutable_discriminator_hidden()->mutable_sizes()->Assign(s.discriminator_hidden.begin(),
                                                            s.discriminator_hidden.end());
  p.set_dropout(s.dropout);
  p.set_learning_rate(s.learning_rate);
  p.set_beta1(s.beta1);
  p.set_beta2(s.beta2);
  p.set_batch_size(s.batch_size);
  p.set_epochs(s.epochs);
  p.set_seed(s.seed);
  p.set_preview_points(s.preview_points);
  p.set_checkpoint_every(s.checkpoint_every);
  p.set_trainer_path(TrainerPathName(s.trainer_path));
  p.set_loss(LossName(s.loss));
  p.set_gp_weight(s.gp_weight);
  p.set_n_critic(NCritic(s));
  p.set_spectral_norm(s.spectral_norm);
  p.set_eval_every(s.eval_every);
  p.set_eval_fraction(s.eval_fraction);
  p.set_eval_points(s.eval_points);
  p.set_select_by(MetricName(s.select_by));
  p.set_patience(s.patience);
  p.set_min_delta(s.min_delta);
  p.set_on_non_finite(s.continue_on_non_finite ? "continue" : "fail");
  if (s.dataset.kind == DatasetKind::kTable) {
    p.set_weight_decay(s.weight_decay);
    p.set_pac(s.pac);
    p.set_max_modes(s.max_modes);
    if (!s.target.empty()) p.set_target(s.target);
    if (s.max_dcr_share > 0) p.set_max_dcr_share(s.max_dcr_share);
  }
  if (!s.init_job_id.empty()) {
    p.mutable_init_from()->set_job_id(s.init_job_id);
    p.mutable_init_from()->set_epoch(s.init_epoch);
  }
  if (s.keep_checkpoint) p.set_keep_checkpoint(true);
  for (const JobSpec::Change& c : s.schedule) {
    v1::SpecChange* change = p.add_schedule();
    change->set_after_epoch(c.after_epoch);
    change->mutable_params()->insert(c.params.begin(), c.params.end());
  }
  return p;
}

void MetricsToProto(const EvalMetrics& m, v1::Metrics* out) {
  out->set_sliced_w1(m.sliced_w1);
  out->set_modes(m.modes);
  out->set_mmd(m.mmd);
  out->set_precision(m.precision);
  out->set_recall(m.recall);
  out->set_density(m.density);
  out->set_coverage(m.coverage);
  out->set_column_distance(m.column_distance);
  out->set_quality(m.quality);
  out->set_column_shapes(m.column_shapes);
  out->set_column_pairs(m.column_pairs);
  out->set_missing_similarity(m.missing_similarity);
  out->set_column_coverage(m.column_coverage);
  out->set_adherence(m.adherence);
  if (m.dcr_share) out->set_dcr_share(*m.dcr_share);
  if (m.exact_copies) out->set_exact_copies(*m.exact_copies);
  if (m.dcr_p5) out->set_dcr_p5(*m.dcr_p5);
  if (m.holdout_dcr_p5) out->set_holdout_dcr_p5(*m.holdout_dcr_p5);
  if (m.utility) out->set_utility(*m.utility);
  if (m.utility_real) out->set_utility_real(*m.utility_real);
}

void ReportToProto(const EpochReport& r, int64_t epochs, v1::EpochReport* out) {
  out->set_epoch(r.epoch);
  out->set_epochs(epochs);
  out->set_loss_d(r.loss_d);
  out->set_loss_g(r.loss_g);
  out->set_last_loss_d(r.last_loss_d);
  out->set_last_loss_g(r.last_loss_g);
  out->set_d_real(r.d_real);
  out->set_d_fake(r.d_fake);
  out->set_quality(r.quality);
  if (r.sine_error) out->set_sine_error(*r.sine_error);
  out->set_seconds(r.seconds);
  out->set_trainer_path(r.trainer_path);
  out->mutable_preview()->set_dim(static_cast<int32_t>(r.dim));
  out->mutable_preview()->mutable_values()->Assign(r.preview.begin(), r.preview.end());
  if (r.metrics) MetricsToProto(*r.metrics, out->mutable_metrics());
  out->set_best_epoch(r.best_epoch);
  if (r.best_metrics) MetricsToProto(*r.best_metrics, out->mutable_best_metrics());
  out->set_stop_reason(r.stop_reason);
  for (const Alarm& a : r.alarms) {
    v1::Alarm* x = out->add_alarms();
    x->set_kind(a.kind);
    x->set_epoch(a.epoch);
    x->set_message(a.message);
  }
}

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* out) {
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

const char* JobStateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return "QUEUED";
    case v1::JOB_STATE_RUNNING:
      return "RUNNING";
    case v1::JOB_STATE_SUCCEEDED:
      return "SUCCEEDED";
    case v1::JOB_STATE_FAILED:
      return "FAILED";
    case v1::JOB_STATE_CANCELLED:
      return "CANCELLED";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace gantry
