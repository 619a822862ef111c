#include "core/spec.h"
#include "core/spec_params.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/api_limits.h"

namespace gantry {
namespace {

// core's DatasetKind follows the proto enum's order (api_limits.h): kSine is
// entry 0 of kDatasetKindNames.
static_assert(static_cast<size_t>(DatasetKind::kTable) + 1 == kDatasetKindCount,
              "DatasetKind and kDatasetKindNames must list the same kinds");

// The shortest text that reads back as exactly `v`: an out-of-range
// 10.0000001 is reported as such, never rounded to an in-range "10".
std::string Num(double v) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v || !std::isfinite(v)) break;
  }
  return buf;
}

Status OutOfRange(const std::string& field, const std::string& value, const std::string& range) {
  return Status::InvalidArgument(field + ": " + value + " is out of range " + range);
}

Status CheckInt(const std::string& field, int64_t v, int64_t lo, int64_t hi,
                const std::string& note = "") {
  if (v < lo || v > hi) {
    return OutOfRange(field, std::to_string(v),
                      std::to_string(lo) + ".." + std::to_string(hi) + note);
  }
  return Status::Ok();
}

Status CheckHidden(const std::string& field, const std::vector<int64_t>& hidden) {
  if (static_cast<int64_t>(hidden.size()) > kMaxHiddenLayers) {
    return Status::InvalidArgument(field + ": " + std::to_string(hidden.size()) +
                                   " hidden layers is out of range 0.." +
                                   std::to_string(kMaxHiddenLayers));
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    GANTRY_RETURN_IF_ERROR(CheckInt(field + "[" + std::to_string(i) + "]", hidden[i], 1,
                                    kMaxHiddenSize));
  }
  return Status::Ok();
}

// [lo, hi) for half_open, else [lo, hi].
Status CheckReal(const std::string& field, double v, double lo, double hi, bool lo_open,
                 bool hi_open) {
  bool bad = !std::isfinite(v) || (lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi);
  if (bad) {
    std::string range = std::string(lo_open ? "(" : "[") + Num(lo) + ", " + Num(hi) +
                        (hi_open ? ")" : "]");
    return OutOfRange(field, Num(v), range);
  }
  return Status::Ok();
}


// User data's optional names of its dimensions.
Status ValidateColumnNames(const DatasetSpec& d) {
  if (d.columns.empty()) return Status::Ok();
  if (static_cast<int64_t>(d.columns.size()) != d.dim) {
    return Status::InvalidArgument("dataset.columns: " + std::to_string(d.columns.size()) +
                                   " names for points of dimension " + std::to_string(d.dim) +
                                   "; give one per dimension or none");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < d.columns.size(); ++i) {
    const std::string& c = d.columns[i];
    if (c.empty() || static_cast<int64_t>(c.size()) > kMaxColumnName) {
      return Status::InvalidArgument("dataset.columns: name " + std::to_string(i) + " has " +
                                     std::to_string(c.size()) + " characters, not 1.." +
                                     std::to_string(kMaxColumnName));
    }
    for (unsigned char ch : c) {
      if (ch < 0x20 || ch == 0x7f) {
        return Status::InvalidArgument("dataset.columns: name " + std::to_string(i) +
                                       " holds a control character");
      }
    }
    if (!seen.insert(c).second) {
      return Status::InvalidArgument("dataset.columns: '" + c + "' names two dimensions");
    }
  }
  return Status::Ok();
}

Status ValidateDataset(const DatasetSpec& d) {
  if (d.kind != DatasetKind::kTable && (!d.table.table_id.empty() || d.table.data)) {
    return Status::InvalidArgument(std::string("dataset.table: only allowed with kind table, not ") +
                                   DatasetKindName(d.kind));
  }
  if (d.kind != DatasetKind::kUser && !d.columns.empty()) {
    return Status::InvalidArgument(std::string("dataset.columns: only allowed with kind user, not ") +
                                   DatasetKindName(d.kind));
  }
  if (d.kind == DatasetKind::kTable) {
    if (!d.points.empty()) {
      return Status::InvalidArgument("dataset.points: only allowed with kind user, not table");
    }
    if (!d.table.data) {
      return Status::InvalidArgument(
          "dataset.table.table_id: no table given (upload one with UploadTable or `gantry data "
          "push`, and name its id)");
    }
    if (d.noise.has_value()) {
      return Status::InvalidArgument("dataset.noise: must be unset for a table");
    }
    return Status::Ok();
  }
  if (d.kind == DatasetKind::kUser) {
    GANTRY_RETURN_IF_ERROR(CheckInt("dataset.dim", d.dim, 1, kMaxDim));
    const int64_t n = static_cast<int64_t>(d.points.size());
    if (n % d.dim != 0) {
      return Status::InvalidArgument("dataset.points: " + std::to_string(n) +
                                     " values is not a multiple of dataset.dim " +
                                     std::to_string(d.dim));
    }
    GANTRY_RETURN_IF_ERROR(CheckInt("dataset.points", n / d.dim, 2, kMaxDatasetPoints, " rows"));
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(d.points[i])) {
        return Status::InvalidArgument("dataset.points: row " + std::to_string(i / d.dim) +
                                       " column " + std::to_string(i % d.dim) + " is " +
                                       Num(d.points[i]) + "; every value must be finite");
      }
    }
    if (d.noise.has_value()) {
      return Status::InvalidArgument("dataset.noise: must be unset for user data");
    }
    return ValidateColumnNames(d);
  }
  if (!d.points.empty()) {
    return Status::InvalidArgument(std::string("dataset.points: only allowed with kind user, not ") +
                                   DatasetKindName(d.kind));
  }
  GANTRY_RETURN_IF_ERROR(CheckInt("dataset.size", d.size, 2, kMaxDatasetPoints));
  if (d.noise.has_value()) {
    GANTRY_RETURN_IF_ERROR(CheckReal("dataset.noise", *d.noise, 0, 10, false, false));
  }
  return Status::Ok();
}

}  // namespace

const char* DatasetKindName(DatasetKind kind) {
  const auto i = static_cast<size_t>(kind);
  return i < kDatasetKindCount ? kDatasetKindNames[i].name : "unknown";
}

std::optional<DatasetKind> ParseDatasetKind(const std::string& name) {
  for (size_t i = 0; i < kDatasetKindCount; ++i) {
    if (name == kDatasetKindNames[i].name) return static_cast<DatasetKind>(i);
  }
  return std::nullopt;
}

const char* TrainerPathName(TrainerPath path) {
  switch (path) {
    case TrainerPath::kAuto: return "auto";
    case TrainerPath::kFast: return "fast";
    case TrainerPath::kAten: return "aten";
  }
  return "unknown";
}

std::optional<TrainerPath> ParseTrainerPath(const std::string& name) {
  for (TrainerPath p : {TrainerPath::kAuto, TrainerPath::kFast, TrainerPath::kAten}) {
    if (name == TrainerPathName(p)) return p;
  }
  return std::nullopt;
}

const char* LossName(Loss loss) {
  switch (loss) {
    case Loss::kBce: return "bce";
    case Loss::kNonSaturating: return "non_saturating";
    case Loss::kHinge: return "hinge";
    case Loss::kWganGp: return "wgan_gp";
  }
  return "unknown";
}

std::optional<Loss> ParseLoss(const std::string& name) {
  for (Loss l : {Loss::kBce, Loss::kNonSaturating, Loss::kHinge, Loss::kWganGp}) {
    if (name == LossName(l)) return l;
  }
  return std::nullopt;
}

const char* MetricName(Metric metric) {
  switch (metric) {
    case Metric::kSlicedW1: return "sliced_w1";
    case Metric::kMmd: return "mmd";
    case Metric::kPrecision: return "precision";
    case Metric::kRecall: return "recall";
    case Metric::kDensity: return "density";
    case Metric::kCoverage: return "coverage";
    case Metric::kColumnDistance: return "column_distance";
    case Metric::kQuality: return "quality";
    case Metric::kColumnShapes: return "column_shapes";
    case Metric::kColumnPairs: return "column_pairs";
    case Metric::kUtility: return "utility";
    case Metric::kDcrShare: return "dcr_share";
  }
  return "unknown";
}

std::optional<Metric> ParseMetric(const std::string& name) {
  for (Metric m : {Metric::kSlicedW1, Metric::kMmd, Metric::kPrecision, Metric::kRecall,
                   Metric::kDensity, Metric::kCoverage, Metric::kColumnDistance, Metric::kQuality,
                   Metric::kColumnShapes, Metric::kColumnPairs, Metric::kUtility, Metric::kDcrShare}) {
    if (name == MetricName(m)) return m;
  }
  return std::nullopt;
}

bool HigherIsBetter(Metric metric) {
  return metric != Metric::kSlicedW1 && metric != Metric::kMmd && metric != Metric::kColumnDistance &&
         metric != Metric::kDcrShare;
}

bool IsTableMetric(Metric metric) {
  switch (metric) {
    case Metric::kColumnDistance:
    case Metric::kQuality:
    case Metric::kColumnShapes:
    case Metric::kColumnPairs:
    case Metric::kUtility:
    case Metric::kDcrShare: return true;
    default: return false;
  }
}

JobSpec TableDefaults() {
  JobSpec s;
  s.dataset.kind = DatasetKind::kTable;
  s.latent_dim = 128;
  s.generator_hidden = {256, 256};
  s.discriminator_hidden = {256, 256};
  s.dropout = 0.5;
  s.learning_rate = 2e-4;
  s.beta1 = 0.5;
  s.beta2 = 0.9;
  s.batch_size = 500;
  s.epochs = 300;
  s.preview_points = 0;
  s.loss = Loss::kWganGp;
  s.gp_weight = 10;
  s.n_critic = 1;
  s.eval_fraction = 0.2;
  s.eval_points = 1000;
  s.select_by = Metric::kQuality;
  return s;
}

int64_t HeldOutRows(const JobSpec& spec) {
  if (spec.dataset.kind == DatasetKind::kTable) {
    if (!(spec.eval_fraction > 0)) return 0;
    return std::min<int64_t>(kMaxTableHeldOut,
                             static_cast<int64_t>(std::floor(
                                 static_cast<double>(DatasetRows(spec.dataset)) * spec.eval_fraction)));
  }
  if (spec.dataset.kind != DatasetKind::kUser || !(spec.eval_fraction > 0)) return 0;
  return static_cast<int64_t>(std::floor(static_cast<double>(DatasetRows(spec.dataset)) *
                                         spec.eval_fraction));
}

int64_t TrainingRows(const JobSpec& spec) { return DatasetRows(spec.dataset) - HeldOutRows(spec); }

int64_t NCritic(const JobSpec& spec) {
  return spec.n_critic.value_or(spec.loss == Loss::kWganGp ? 5 : 1);
}

bool IsSeedGame(const JobSpec& spec) {
  return spec.loss == Loss::kBce && NCritic(spec) == 1 && !spec.spectral_norm;
}

double DefaultNoise(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kSine: return 0.0;
    case DatasetKind::kCircle: return 0.02;
    case DatasetKind::kRing8: return 0.02;
    case DatasetKind::kGrid25: return 0.05;
    case DatasetKind::kTwoMoons: return 0.05;
    case DatasetKind::kSpiral: return 0.02;
    case DatasetKind::kSwissRoll: return 0.1;
    case DatasetKind::kUser: return 0.0;
    case DatasetKind::kTable: return 0.0;
  }
  return 0.0;
}

int64_t DatasetRows(const DatasetSpec& d) {
  if (d.kind == DatasetKind::kTable) return d.table.data ? d.table.data->rows() : 0;
  if (d.kind == DatasetKind::kUser) {
    return d.dim > 0 ? static_cast<int64_t>(d.points.size()) / d.dim : 0;
  }
  return d.size;
}

int64_t DataDim(const DatasetSpec& d) { return d.kind == DatasetKind::kUser ? d.dim : 2; }

namespace {

// The table model's own fields and rules (the CTGAN-class game).
Status ValidateTable(const JobSpec& s) {
  GANTRY_RETURN_IF_ERROR(CheckInt("latent_dim", s.latent_dim, 1, kMaxHiddenSize));
  GANTRY_RETURN_IF_ERROR(CheckReal("weight_decay", s.weight_decay, 0, 1, false, false));
  GANTRY_RETURN_IF_ERROR(CheckInt("pac", s.pac, 1, kMaxPac));
  GANTRY_RETURN_IF_ERROR(CheckInt("max_modes", s.max_modes, 1, kMaxModes));
  GANTRY_RETURN_IF_ERROR(CheckInt("batch_size", s.batch_size, s.pac, kMaxTableBatch));
  if (s.batch_size % s.pac != 0) {
    return Status::InvalidArgument("batch_size: " + std::to_string(s.batch_size) +
                                   " is not a multiple of pac " + std::to_string(s.pac));
  }
  if (s.loss != Loss::kWganGp) {
    return Status::InvalidArgument(std::string("loss: table jobs train CTGAN's wgan_gp game, not ") +
                                   LossName(s.loss));
  }
  if (s.spectral_norm) return Status::InvalidArgument("spectral_norm: not available for table jobs");
  if (s.trainer_path == TrainerPath::kFast) {
    return Status::InvalidArgument("trainer_path: fast covers point-cloud jobs only; table jobs train on aten");
  }
  if (!IsTableMetric(s.select_by)) {
    return Status::InvalidArgument(std::string("select_by: ") + MetricName(s.select_by) +
                                   " is a point-cloud metric; table jobs select by quality, column_shapes, "
                                   "column_pairs, utility, dcr_share or column_distance");
  }
  if (s.select_by == Metric::kUtility && s.target.empty()) {
    return Status::InvalidArgument("select_by: utility needs a target column (target)");
  }
  GANTRY_RETURN_IF_ERROR(CheckReal("max_dcr_share", s.max_dcr_share, 0, 1, false, false));
  if ((s.select_by == Metric::kDcrShare || s.max_dcr_share > 0) && !(s.eval_fraction > 0)) {
    return Status::InvalidArgument(std::string(s.max_dcr_share > 0 ? "max_dcr_share" : "select_by: dcr_share") +
                                   " needs held-out rows (eval_fraction > 0)");
  }
  if (s.max_dcr_share > 0 && s.dataset.table.data && HeldOutRows(s) < kMinPrivacyRows) {
    return Status::InvalidArgument("max_dcr_share: needs at least " + std::to_string(kMinPrivacyRows) +
                                   " held-out rows to judge privacy; eval_fraction " + Num(s.eval_fraction) + " of " +
                                   std::to_string(DatasetRows(s.dataset)) + " rows holds out " +
                                   std::to_string(HeldOutRows(s)));
  }
  if (s.target.size() > 1000) return Status::InvalidArgument("target: longer than 1000 characters");
  if (!s.target.empty() && s.dataset.table.data) {
    const TableSchema& schema = s.dataset.table.data->schema;
    const int t = schema.Find(s.target);
    if (t < 0) {
      std::string names;
      for (size_t i = 0; i < schema.columns.size() && i < 20; ++i) {
        names += (i ? ", " : "") + schema.columns[i].name;
      }
      return Status::InvalidArgument("target: the table has no column '" + s.target.substr(0, 200) +
                                     "' (columns: " + names + (schema.columns.size() > 20 ? ", ..." : "") + ")");
    }
    const ColumnSchema& col = schema.columns[static_cast<size_t>(t)];
    const bool discrete = col.type == ColumnType::kCategorical || col.type == ColumnType::kBoolean;
    if (discrete && col.levels.size() < 2) {
      return Status::InvalidArgument("target: '" + col.name + "' has " + std::to_string(col.levels.size()) +
                                     " level" + (col.levels.size() == 1 ? "" : "s") +
                                     "; a target needs at least 2 to predict");
    }
    if (discrete && static_cast<int64_t>(col.levels.size()) > kMaxUtilityClasses) {
      return Status::InvalidArgument("target: '" + col.name + "' has " + std::to_string(col.levels.size()) +
                                     " levels; utility predicts at most " + std::to_string(kMaxUtilityClasses));
    }
    if (schema.columns.size() < 2) return Status::InvalidArgument("target: the table has no other column to predict it from");
  }
  GANTRY_RETURN_IF_ERROR(CheckReal("eval_fraction", s.eval_fraction, 0, 0.5, false, false));
  const int64_t held = HeldOutRows(s);
  if (s.eval_fraction > 0 && held < 2) {
    return Status::InvalidArgument("eval_fraction: " + Num(s.eval_fraction) + " of " +
                                   std::to_string(DatasetRows(s.dataset)) + " rows holds out " +
                                   std::to_string(held) + "; at least 2 rows are needed");
  }
  if (TrainingRows(s) < 2) {
    return Status::InvalidArgument("eval_fraction: leaves " + std::to_string(TrainingRows(s)) +
                                   " training rows; at least 2 are needed");
  }
  return Status::Ok();
}

}  // namespace

Status Validate(const JobSpec& s) {
  GANTRY_RETURN_IF_ERROR(ValidateDataset(s.dataset));
  // The table model's own fields, checked for every job (a point job ignores them).
  GANTRY_RETURN_IF_ERROR(CheckReal("weight_decay", s.weight_decay, 0, 1, false, false));
  GANTRY_RETURN_IF_ERROR(CheckInt("pac", s.pac, 1, kMaxPac));
  GANTRY_RETURN_IF_ERROR(CheckInt("max_modes", s.max_modes, 1, kMaxModes));
  if (s.dataset.kind == DatasetKind::kTable) {
    GANTRY_RETURN_IF_ERROR(ValidateTable(s));
  } else {
    GANTRY_RETURN_IF_ERROR(CheckInt("latent_dim", s.latent_dim, 1, kMaxDim));
    if (IsTableMetric(s.select_by)) {
      return Status::InvalidArgument(std::string("select_by: ") + MetricName(s.select_by) + " is for table jobs only");
    }
    if (!s.target.empty()) return Status::InvalidArgument("target: for table jobs only");
    if (s.max_dcr_share != 0) return Status::InvalidArgument("max_dcr_share: for table jobs only");
  }
  GANTRY_RETURN_IF_ERROR(CheckHidden("generator_hidden", s.generator_hidden));
  GANTRY_RETURN_IF_ERROR(CheckHidden("discriminator_hidden", s.discriminator_hidden));
  GANTRY_RETURN_IF_ERROR(CheckReal("dropout", s.dropout, 0, 1, false, true));
  GANTRY_RETURN_IF_ERROR(CheckReal("learning_rate", s.learning_rate, 0, 10, true, false));
  GANTRY_RETURN_IF_ERROR(CheckReal("beta1", s.beta1, 0, 1, false, true));
  GANTRY_RETURN_IF_ERROR(CheckReal("beta2", s.beta2, 0, 1, false, true));
  GANTRY_RETURN_IF_ERROR(CheckReal("eval_fraction", s.eval_fraction, 0, 0.5, false, false));
  if (s.eval_fraction > 0 && s.dataset.kind != DatasetKind::kUser &&
      s.dataset.kind != DatasetKind::kTable) {
    return Status::InvalidArgument("eval_fraction: " + Num(s.eval_fraction) +
                                   " applies to user data only; built-in kinds evaluate on a "
                                   "fresh draw");
  }
  const int64_t held = HeldOutRows(s);
  if (s.eval_fraction > 0 && held < 2) {
    return Status::InvalidArgument("eval_fraction: " + Num(s.eval_fraction) + " of " +
                                   std::to_string(DatasetRows(s.dataset)) + " rows holds out " +
                                   std::to_string(held) + "; at least 2 rows are needed");
  }
  const int64_t rows = TrainingRows(s);
  if (s.dataset.kind != DatasetKind::kTable) {
    GANTRY_RETURN_IF_ERROR(CheckInt("batch_size", s.batch_size, 1, rows,
                                    held > 0 ? " (training rows)" : " (dataset rows)"));
  }
  GANTRY_RETURN_IF_ERROR(CheckInt("epochs", s.epochs, 1, kMaxEpochs));
  GANTRY_RETURN_IF_ERROR(CheckInt("preview_points", s.preview_points, 0, kMaxPreviewPoints));
  GANTRY_RETURN_IF_ERROR(CheckInt("checkpoint_every", s.checkpoint_every, 1, kMaxEpochs));
  GANTRY_RETURN_IF_ERROR(CheckReal("gp_weight", s.gp_weight, 0, 1000, false, false));
  if (s.n_critic) GANTRY_RETURN_IF_ERROR(CheckInt("n_critic", *s.n_critic, 1, kMaxNCritic));
  GANTRY_RETURN_IF_ERROR(CheckInt("eval_every", s.eval_every, 1, kMaxEpochs));
  GANTRY_RETURN_IF_ERROR(CheckInt("eval_points", s.eval_points, kMinEvalPoints, kMaxEvalPoints));
  GANTRY_RETURN_IF_ERROR(CheckInt("patience", s.patience, 0, kMaxEpochs));
  GANTRY_RETURN_IF_ERROR(CheckReal("min_delta", s.min_delta, 0, 1e6, false, false));
  if (s.trainer_path == TrainerPath::kFast && !IsSeedGame(s)) {
    return Status::InvalidArgument(std::string("trainer_path: fast covers the bce loss with one "
                                               "discriminator step and no spectral norm, not loss ") +
                                   LossName(s.loss) + ", n_critic " + std::to_string(NCritic(s)) +
                                   (s.spectral_norm ? ", spectral_norm" : ""));
  }
  return ValidateStart(s);
}

}  // namespace gantry
