#include "client/output.h"

#include <algorithm>

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "core/api_limits.h"

namespace gantry::cli {

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.preserve_proto_field_names = true;
  // Cannot fail: gantry's messages have no Any field to resolve.
  (void)google::protobuf::util::MessageToJsonString(message, &out, opts);
  return out;
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string DatasetName(v1::DatasetKind kind) {
  const char* name = DatasetKindNameOfProto(kind);
  return name != nullptr ? name : "kind " + std::to_string(static_cast<int>(kind));
}

std::string Age(const google::protobuf::Timestamp& t) {
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  const double s = std::max(0.0, now - (t.seconds() + t.nanos() * 1e-9));
  char buf[32];
  if (s < 120) std::snprintf(buf, sizeof buf, "%ds", static_cast<int>(s));
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%dm", static_cast<int>(s / 60));
  else if (s < 172800) std::snprintf(buf, sizeof buf, "%dh", static_cast<int>(s / 3600));
  else std::snprintf(buf, sizeof buf, "%dd", static_cast<int>(s / 86400));
  return buf;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

// "sine, 1024 points" or "user, 5000 points of dim 3": dataset_rows, the
// training set's size in either view (0 from a server older than the field:
// then the spec's size).
static std::string DescribeDataset(const v1::Job& job) {
  const v1::Dataset& d = job.spec().dataset();
  const int64_t rows = job.dataset_rows() > 0 ? job.dataset_rows() : d.size();
  if (d.kind() == v1::DATASET_KIND_TABLE) {
    const v1::TableSchema& schema =
        job.table_schema().columns_size() > 0 ? job.table_schema() : d.table().schema();
    return "table " + d.table().table_id().substr(0, 12) + ", " + std::to_string(rows) + " training rows of " +
           std::to_string(schema.rows()) + ", " + std::to_string(schema.columns_size()) + " columns";
  }
  std::string text = DatasetName(d.kind()) + ", " + std::to_string(rows) + " points";
  if (d.kind() == v1::DATASET_KIND_USER) text += " of dim " + std::to_string(d.points().dim());
  return text;
}

// A table job's columns: "age (continuous), occupation (categorical, 6 levels), ...".
static std::string DescribeColumns(const v1::Job& job) {
  const v1::TableSchema& schema =
      job.table_schema().columns_size() > 0 ? job.table_schema() : job.spec().dataset().table().schema();
  std::string text;
  for (const auto& c : schema.columns()) {
    std::string type = v1::ColumnType_Name(c.type()).substr(12);  // after "COLUMN_TYPE_"
    for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (c.type() == v1::COLUMN_TYPE_CATEGORICAL) type += ", " + std::to_string(c.levels_size()) + " levels";
    if (c.missing() > 0) type += ", " + std::to_string(c.missing()) + " missing";
    text += (text.empty() ? "" : "; ") + c.name() + " (" + type + ")";
  }
  return text;
}

static std::string Num(double v, const char* fmt = "%.4f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void JobTableRow(const v1::Job& job, std::vector<std::string>* row) {
  const bool has = job.epochs_done() > 0;
  *row = {job.id(),
          job.name().empty() ? "-" : job.name(),
          StateName(job.state()),
          std::to_string(job.epochs_done()) + "/" + std::to_string(job.spec().epochs()),
          has ? Num(job.latest().loss_d()) : "-",
          has ? Num(job.latest().loss_g()) : "-",
          Age(job.create_time())};
}

std::string DescribeJob(const v1::Job& job) {
  std::vector<std::vector<std::string>> rows = {
      {"id:", job.id()},
      {"name:", job.name().empty() ? "-" : job.name()},
      {"state:", StateName(job.state())},
      {"epochs:", std::to_string(job.epochs_done()) + "/" + std::to_string(job.spec().epochs())},
      {"dataset:", DescribeDataset(job)},
      {"seed:", std::to_string(job.spec().seed())},
      {"age:", Age(job.create_time())},
  };
  if (job.spec().dataset().kind() == v1::DATASET_KIND_TABLE) {
    rows.insert(rows.begin() + 5, {"columns:", DescribeColumns(job)});
  }
  if (job.memory_estimate_bytes() > 0) {
    rows.push_back({"memory:", Num(job.memory_estimate_bytes() / 1048576.0, "%.1f") +
                                   " MiB (estimated peak, what admission reserves)"});
  }
  if (job.epochs_done() > 0) {
    const auto& r = job.latest();
    rows.push_back({"loss_d:", Num(r.loss_d(), "%.6f") + " (last batch " + Num(r.last_loss_d(), "%.6f") + ")"});
    rows.push_back({"loss_g:", Num(r.loss_g(), "%.6f") + " (last batch " + Num(r.last_loss_g(), "%.6f") + ")"});
    const bool table = job.spec().dataset().kind() == v1::DATASET_KIND_TABLE;
    rows.push_back({"quality:", Num(r.quality(), "%.5f") + (table ? " (overall quality score, higher is better)"
                                                                   : " (sliced W1, lower is better)")});
    if (r.has_sine_error()) rows.push_back({"sine_error:", Num(r.sine_error(), "%.5f")});
    if (!r.trainer_path().empty()) {
      rows.push_back({"trainer:", r.trainer_path() + " path (spec: " + job.spec().trainer_path() + ")"});
    }
  }
  if (job.best_epoch() > 0) {
    const std::string by = job.spec().select_by().empty() ? "sliced_w1" : job.spec().select_by();
    rows.push_back({"best epoch:", std::to_string(job.best_epoch()) + " (by " + by + ")"});
    if (job.has_best_metrics())
      rows.push_back({"best metrics:", DescribeMetrics(job.best_metrics())});
  }
  if (!job.stop_reason().empty()) rows.push_back({"stopped:", job.stop_reason()});
  if (!job.owner().empty()) rows.push_back({"owner:", job.owner()});
  if (job.priority() != v1::PRIORITY_NORMAL && job.priority() != v1::PRIORITY_UNSPECIFIED) {
    rows.push_back({"priority:", job.priority() == v1::PRIORITY_HIGH ? "high" : "low"});
  }
  if (!job.labels().empty()) {
    // In key order (a protobuf map has none of its own).
    const std::map<std::string, std::string> labels(job.labels().begin(), job.labels().end());
    std::string text;
    for (const auto& [key, value] : labels) text += (text.empty() ? "" : ",") + key + "=" + value;
    rows.push_back({"labels:", text});
  }
  if (!job.error().empty()) rows.push_back({"error:", job.error()});
  return Table(rows);
}

double MetricValue(const v1::Metrics& m, const std::string& name) {
  if (name == "sliced_w1") return m.sliced_w1();
  if (name == "mmd") return m.mmd();
  if (name == "precision") return m.precision();
  if (name == "recall") return m.recall();
  if (name == "density") return m.density();
  if (name == "coverage") return m.coverage();
  if (name == "column_distance") return m.column_distance();
  if (name == "quality") return m.quality();
  if (name == "column_shapes") return m.column_shapes();
  if (name == "column_pairs") return m.column_pairs();
  if (name == "utility") return m.utility();
  if (name == "dcr_share") return m.dcr_share();
  return 0;
}

bool LowerIsBetter(const std::string& metric) {
  return metric == "sliced_w1" || metric == "mmd" || metric == "column_distance" || metric == "dcr_share";
}

std::string DescribeMetrics(const v1::Metrics& m) {
  // A table job's evaluation (core/table_eval.h).
  if (m.quality() > 0 || m.column_distance() > 0) {
    std::string out = "quality " + Num(m.quality(), "%.4f") + " column_shapes " + Num(m.column_shapes(), "%.4f") +
                      " column_pairs " + Num(m.column_pairs(), "%.4f");
    if (m.has_dcr_share()) {
      out += " dcr_share " + Num(m.dcr_share(), "%.3f") + " exact_copies " + Num(m.exact_copies(), "%.3f");
    }
    if (m.has_utility()) out += " utility " + Num(m.utility(), "%.4f") + " (real " + Num(m.utility_real(), "%.4f") + ")";
    return out + " column_distance " + Num(m.column_distance(), "%.4f");
  }
  std::string out;
  for (const char* name : kMetricNames) {
    out += (out.empty() ? "" : " ") + std::string(name) + " " + Num(MetricValue(m, name), "%.6g");
  }
  if (m.modes() > 0) out += " modes " + std::to_string(m.modes());
  return out;
}

void Progress::Event(const v1::JobEvent& ev) {
  if (ev.has_state()) {
    if (line_open_) Done();
    std::string line = "state " + StateName(ev.state().state());
    if (!ev.state().error().empty()) line += ": " + ev.state().error();
    if (!ev.state().reason().empty()) line += " (" + ev.state().reason() + ")";
    std::cout << line << std::endl;
    return;
  }
  if (ev.has_alarm()) {
    if (line_open_) Done();
    std::cout << "alarm " << ev.alarm().kind() << " at epoch " << ev.alarm().epoch() << ": "
              << ev.alarm().message() << std::endl;
    return;
  }
  if (!ev.has_epoch()) return;  // a kind this client does not know
  const v1::EpochReport& r = ev.epoch();
  const double t = ev.time().seconds() + ev.time().nanos() * 1e-9;
  recent_.push_back({t, r.epoch()});
  if (recent_.size() > 20) recent_.erase(recent_.begin());
  double rate = 0;
  if (recent_.size() >= 2 && recent_.back().first > recent_.front().first) {
    rate = (recent_.back().second - recent_.front().second) /
           (recent_.back().first - recent_.front().first);
  }
  char buf[256];
  if (terminal_) {
    std::string eta = "-";
    if (rate > 0) {
      const int secs = static_cast<int>((r.epochs() - r.epoch()) / rate);
      char e[32];
      std::snprintf(e, sizeof e, "%d:%02d", secs / 60, secs % 60);
      eta = e;
    }
    std::snprintf(buf, sizeof buf,
                  "\r\033[Kepoch %lld/%lld %3.0f%%  %.1f epoch/s  ETA %s  D %.4f  G %.4f  quality %.4f",
                  static_cast<long long>(r.epoch()), static_cast<long long>(r.epochs()),
                  100.0 * r.epoch() / std::max<int64_t>(1, r.epochs()), rate, eta.c_str(),
                  r.loss_d(), r.loss_g(), r.quality());
    std::cout << buf;
    if (r.best_epoch() > 0 && r.has_best_metrics()) {
      const bool table = r.best_metrics().quality() > 0 || r.best_metrics().column_distance() > 0;
      std::snprintf(buf, sizeof buf, table ? "  best %lld (quality %.4f)" : "  best %lld (W1 %.4f)",
                    static_cast<long long>(r.best_epoch()),
                    table ? r.best_metrics().quality() : r.best_metrics().sliced_w1());
      std::cout << buf;
    }
    std::cout << std::flush;
    line_open_ = true;
  } else {
    std::snprintf(buf, sizeof buf,
                  "epoch %lld/%lld loss_d %.6f loss_g %.6f last_loss_d %.6f last_loss_g %.6f "
                  "quality %.5f",
                  static_cast<long long>(r.epoch()), static_cast<long long>(r.epochs()),
                  r.loss_d(), r.loss_g(), r.last_loss_d(), r.last_loss_g(), r.quality());
    std::cout << buf;
    // An evaluated epoch: its held-out metrics.
    if (r.has_metrics()) std::cout << " metrics " << DescribeMetrics(r.metrics());
    std::cout << "\n";
  }
}

void Progress::Done() {
  if (line_open_) std::cout << std::endl;
  line_open_ = false;
}

void AddOwnerColumn(std::vector<std::vector<std::string>>* rows, const std::vector<std::string>& owners) {
  if (std::none_of(owners.begin(), owners.end(), [](const std::string& o) { return !o.empty(); })) return;
  (*rows)[0].insert((*rows)[0].begin() + 2, "OWNER");
  for (size_t i = 1; i < rows->size() && i <= owners.size(); ++i) {
    (*rows)[i].insert((*rows)[i].begin() + 2, owners[i - 1].empty() ? "-" : owners[i - 1]);
  }
}

}  // namespace gantry::cli
