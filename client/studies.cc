#include "client/studies.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "client/args.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "core/json_text.h"
#include "proto/job_state.h"

namespace gantry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int32_t kListPageSize = 100;   // studies per ListStudies page (halved when too large)
constexpr size_t kMaxTrialsRedrawn = 30;  // trial lines a terminal's watch redraws

// Metrics a leaderboard shows besides the objective.
const std::vector<std::string> kPointColumns = {"sliced_w1", "precision", "recall", "coverage"};
const std::vector<std::string> kTableColumns = {"quality", "column_shapes", "column_pairs", "utility"};

std::string Num(double v, const char* fmt = "%.4g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A finite decimal number, all of `text`.
bool ParseNumber(const std::string& text, double* out) {
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno != 0 || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// A whole decimal number (an optional '-', digits), all of `text`.
bool ParseWhole(const std::string& text, double* out) {
  const size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() <= digits || text.size() > digits + 15) return false;  // exact as a double
  for (size_t i = digits; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  *out = static_cast<double>(std::strtoll(text.c_str(), nullptr, 10));
  return true;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// A parameter's value as a table shows it: real numbers to 4 digits
// ("0.0003162" for "0.00031622776601683794"), the rest as they are.
std::string ShortValue(const std::string& value) {
  double v = 0;
  if (value.find_first_of(".eE") != std::string::npos && ParseNumber(value, &v)) return Num(v);
  return value;
}

// The names of the study's parameters, in the space's order.
std::vector<std::string> SpaceNames(const v1::Study& study) {
  std::vector<std::string> names;
  for (const auto& p : study.spec().space()) names.push_back(p.name());
  return names;
}

// "learning_rate=0.0003162 dropout=0.25": the space's order, then any other key.
std::string ParamsText(const v1::Study& study, const google::protobuf::Map<std::string, std::string>& params) {
  std::string out;
  std::set<std::string> shown;
  for (const std::string& name : SpaceNames(study)) {
    auto it = params.find(name);
    if (it == params.end()) continue;
    out += (out.empty() ? "" : " ") + name + "=" + ShortValue(it->second);
    shown.insert(name);
  }
  const std::map<std::string, std::string> sorted(params.begin(), params.end());
  for (const auto& [k, v] : sorted) {
    if (shown.count(k) == 0) out += (out.empty() ? "" : " ") + k + "=" + ShortValue(v);
  }
  return out.empty() ? "-" : out;
}

// The form --param takes: "learning_rate=log_uniform:0.0001:0.01".
std::string SpaceText(const v1::SearchParam& p) {
  std::string out = p.name() + "=" + p.kind() + ":";
  if (p.kind() == "choice") {
    for (int i = 0; i < p.values_size(); ++i) out += (i ? "|" : "") + p.values(i);
    return out;
  }
  return out + Num(p.min(), "%.10g") + ":" + Num(p.max(), "%.10g");
}

// A Metrics field by name (nullopt: not a field, or an optional one unset).
std::optional<double> MetricOf(const v1::Metrics& m, const std::string& name) {
  const auto* field = m.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr) return std::nullopt;
  const auto* reflection = m.GetReflection();
  if (field->has_presence() && !reflection->HasField(m, field)) return std::nullopt;
  using F = google::protobuf::FieldDescriptor;
  if (field->cpp_type() == F::CPPTYPE_DOUBLE) return reflection->GetDouble(m, field);
  if (field->cpp_type() == F::CPPTYPE_INT64) return static_cast<double>(reflection->GetInt64(m, field));
  return std::nullopt;
}

bool IsMetricName(const std::string& name) {
  return v1::Metrics::descriptor()->FindFieldByName(name) != nullptr;
}

std::string MetricNames() {
  std::string out;
  const auto* d = v1::Metrics::descriptor();
  for (int i = 0; i < d->field_count(); ++i) out += (i ? ", " : "") + d->field(i)->name();
  return out;
}

bool Minimize(const v1::Study& study) { return study.spec().direction() != "max"; }

bool IsTable(const v1::Study& study) {
  return study.spec().base().dataset().kind() == v1::DATASET_KIND_TABLE;
}

bool Ended(const v1::Study& study) { return IsTerminalState(study.state()); }

bool FailedTrial(const v1::Trial& t) { return t.status() == "failed" || t.status() == "cancelled"; }

// "sliced_w1 0.1234" or "-".
std::string BestText(const v1::Study& study) {
  if (!study.summary().has_best_objective()) return "-";
  return study.spec().objective() + " " + Num(study.summary().best_objective());
}

// "3@10 5@20": the other trials this one's segments started from, at their
// start epochs ("-" when none).
std::string Lineage(const v1::Trial& t) {
  std::string out;
  for (const auto& s : t.segments()) {
    if (s.parent_trial() > 0 && s.parent_trial() != t.number()) {
      out += (out.empty() ? "" : " ") + std::to_string(s.parent_trial()) + "@" +
             std::to_string(s.start_epoch());
    }
  }
  return out.empty() ? "-" : out;
}

std::string LatestJob(const v1::Trial& t) {
  for (int i = t.segments_size(); i-- > 0;) {
    if (!t.segments(i).job_id().empty()) return t.segments(i).job_id();
  }
  return "-";
}

// The trial table of GetStudy and of a terminal's watch.
std::vector<std::vector<std::string>> TrialRows(const v1::Study& study) {
  const bool pbt = study.spec().algorithm() == "pbt";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"TRIAL", "STATUS", "EPOCHS", "OBJECTIVE", "PARAMS", "SEGMENTS"};
  if (pbt) header.push_back("LINEAGE");
  header.push_back("JOB");
  rows.push_back(header);
  for (const v1::Trial& t : study.trials()) {
    std::vector<std::string> row = {std::to_string(t.number()), t.status(), std::to_string(t.epochs()),
                                    t.has_objective() ? Num(t.objective()) : "-",
                                    ParamsText(study, t.params()), std::to_string(t.segments_size())};
    if (pbt) row.push_back(Lineage(t));
    row.push_back(LatestJob(t));
    rows.push_back(std::move(row));
  }
  return rows;
}

// "asha: 4/4 trials, 23 epochs spent, best trial 3: sliced_w1 0.1234 (job j-..., epoch 9)".
std::string SummaryText(const v1::Study& study) {
  const v1::StudySummary& s = study.summary();
  std::string out = std::to_string(s.trials()) + "/" + std::to_string(study.spec().max_trials()) +
                    " trials, " + std::to_string(s.jobs()) + " jobs, " + std::to_string(s.epochs_spent()) +
                    " epochs";
  if (study.spec().max_epochs() > 0) out += " (of at most " + std::to_string(study.spec().max_epochs()) + ")";
  return out;
}

std::string BestTrialText(const v1::Study& study) {
  const v1::StudySummary& s = study.summary();
  if (s.best_trial() == 0) return "-";
  return "trial " + std::to_string(s.best_trial()) + ": " + BestText(study) + " (job " + s.best_job_id() +
         ", epoch " + std::to_string(s.best_epoch()) + ")";
}

// One line on the study: "study st-... RUNNING: 3/4 trials, ... best trial 2: ...".
std::string StudyLine(const v1::Study& study) {
  std::string line = "study " + study.id() + " " + StateName(study.state()) + ": " + SummaryText(study);
  if (study.summary().best_trial() > 0) line += "; best " + BestTrialText(study);
  if (!study.error().empty()) line += "; " + study.error();
  return line;
}

std::string AlgorithmText(const v1::StudySpec& s) {
  std::string out = s.algorithm();
  const std::string seed = ", seed " + std::to_string(s.seed());
  if (s.algorithm() == "grid") {
    out += " (" + std::to_string(s.max_trials()) + " combinations)";
  } else if (s.algorithm() == "random") {
    out += " (" + std::to_string(s.max_trials()) + " trials" + seed + ")";
  } else if (s.algorithm() == "asha" || s.algorithm() == "hyperband") {
    out += " (" + std::to_string(s.max_trials()) + " trials, min_epochs " + std::to_string(s.min_epochs()) +
           ", reduction_factor " + std::to_string(s.reduction_factor()) + seed + ")";
  } else if (s.algorithm() == "pbt") {
    out += " (population " + std::to_string(s.population()) + ", perturb_interval " +
           std::to_string(s.perturb_interval()) + ", truncation " + Num(s.truncation()) +
           ", resample_probability " + Num(s.resample_probability()) + seed + ")";
  }
  out += ", concurrency " + std::to_string(s.concurrency());
  if (s.max_epochs() > 0) out += ", max_epochs " + std::to_string(s.max_epochs());
  return out;
}

std::string DescribeStudy(const v1::Study& study) {
  const v1::StudySpec& spec = study.spec();
  std::string space;
  for (const auto& p : spec.space()) space += (space.empty() ? "" : " ") + SpaceText(p);
  const v1::JobSpec& base = spec.base();
  std::string trials = DatasetName(base.dataset().kind());
  if (base.has_epochs()) trials += ", at most " + std::to_string(base.epochs()) + " epochs each";
  std::vector<std::vector<std::string>> rows = {
      {"id:", study.id()},
      {"name:", study.name().empty() ? "-" : study.name()},
      {"algorithm:", AlgorithmText(spec)},
      {"objective:", spec.objective() + " (" + spec.direction() + ")" +
                         (spec.plan_version() >= 2 && spec.algorithm() != "pbt" &&
                                  LowerIsBetter(spec.objective()) == (spec.direction() == "min")
                              ? ", a trial's best epoch so far"
                              : "")},
      {"space:", space.empty() ? "-" : space},
      {"trials:", trials},
      {"state:", StateName(study.state())},
      {"summary:", SummaryText(study)},
      {"best:", BestTrialText(study)},
      {"age:", Age(study.create_time())},
  };
  if (!study.error().empty()) rows.insert(rows.begin() + 7, {"error:", study.error()});
  if (!study.owner().empty()) rows.push_back({"owner:", study.owner()});
  if (!study.labels().empty()) {
    const std::map<std::string, std::string> labels(study.labels().begin(), study.labels().end());
    std::string text;
    for (const auto& [k, v] : labels) text += (text.empty() ? "" : ",") + k + "=" + v;
    rows.push_back({"labels:", text});
  }
  return Table(rows);
}

grpc::Status Get(Connection& conn, const std::string& id, v1::Study* out) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::GetStudyRequest req;
  req.set_study_id(id);
  return conn.stub().GetStudy(&ctx, req, out);
}

// The columns that fit a terminal line (0: unknown, no limit).
size_t TerminalWidth() {
  struct winsize w {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 0;
}

// Follows one study's changes (WatchStudy's messages) on stdout.
class StudyProgress {
 public:
  StudyProgress(bool json, bool terminal) : json_(json), terminal_(terminal) {}

  void Show(const v1::Study& study) {
    if (json_) {
      std::cout << ToJson(study) << std::endl;
      return;
    }
    if (terminal_) {
      Redraw(study);
      return;
    }
    // Plain lines: a trial whose status, segments or result changed, and the
    // study when its state, trial count or best changed.
    for (const v1::Trial& t : study.trials()) {
      const std::string key = t.status() + "|" + std::to_string(t.segments_size()) + "|" +
                              (t.has_objective() ? JsonNumber(t.objective()) : "-");
      auto [it, added] = trials_.emplace(t.number(), key);
      if (!added && it->second == key) continue;
      it->second = key;
      std::string line = "trial " + std::to_string(t.number()) + ": " + t.status() + ", " +
                         std::to_string(t.epochs()) + " epochs";
      if (t.has_objective()) line += ", " + study.spec().objective() + " " + Num(t.objective());
      line += ", " + ParamsText(study, t.params());
      if (t.segments_size() > 1) line += ", segment " + std::to_string(t.segments_size());
      const std::string job = LatestJob(t);
      if (job != "-") line += " (job " + job + ")";
      if (study.spec().algorithm() == "pbt" && Lineage(t) != "-") line += ", from " + Lineage(t);
      std::cout << line << "\n";
    }
    const std::string key = StateName(study.state()) + "|" + std::to_string(study.summary().trials()) + "|" +
                            std::to_string(study.summary().best_trial()) + "|" + BestText(study);
    if (key != study_key_) {
      std::cout << StudyLine(study) << "\n";
      study_key_ = key;
    }
    std::cout << std::flush;
  }

  // Something else was printed: the next redraw starts below it.
  void Break() { drawn_ = 0; }

 private:
  void Redraw(const v1::Study& study) {
    std::vector<std::vector<std::string>> rows = TrialRows(study);
    size_t hidden = 0;
    if (rows.size() - 1 > kMaxTrialsRedrawn) {  // the newest trials
      hidden = rows.size() - 1 - kMaxTrialsRedrawn;
      rows.erase(rows.begin() + 1, rows.begin() + 1 + static_cast<std::ptrdiff_t>(hidden));
    }
    // The study's line without its best, which gets one of its own: each
    // line must fit the terminal's width.
    std::string head = "study " + study.id() + " " + StateName(study.state()) + ": " + SummaryText(study);
    if (!study.error().empty()) head += "; " + study.error();
    std::vector<std::string> lines = {head};
    if (study.summary().best_trial() > 0) lines.push_back("best " + BestTrialText(study));
    if (hidden > 0) lines.push_back("(" + std::to_string(hidden) + " earlier trials not shown)");
    const std::string table = Table(rows);
    for (const std::string& l : Split(table.substr(0, table.size() - 1), '\n')) lines.push_back(l);
    const size_t width = TerminalWidth();
    std::string out;
    if (drawn_ > 0) out += "\033[" + std::to_string(drawn_) + "A";
    out += "\r\033[J";
    for (std::string& l : lines) {
      if (width > 1 && l.size() >= width) l = l.substr(0, width - 1);  // one row each, or the redraw drifts
      out += l + "\n";
    }
    drawn_ = lines.size();
    std::cout << out << std::flush;
  }

  const bool json_;
  const bool terminal_;
  std::map<int64_t, std::string> trials_;  // plain lines: each trial as last printed
  std::string study_key_;
  size_t drawn_ = 0;  // terminal: lines drawn last time
};

int FollowStudy(Connection& conn, const std::string& id, double reconnect_seconds, bool established) {
  StudyProgress progress(JsonOut(conn), !JsonOut(conn) && isatty(STDOUT_FILENO));
  const auto reconnect = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::clamp(reconnect_seconds, 0.0, 1e9)));
  std::optional<Clock::time_point> lost_at;
  std::optional<v1::JobState> end;
  grpc::Status last;
  for (int failures = 0;; ++failures) {
    if (lost_at.has_value()) {
      const auto left = *lost_at + reconnect - Clock::now();
      if (left <= Clock::duration::zero() ||
          !conn.WaitForConnected(std::chrono::system_clock::now() + left)) {
        std::cerr << "gantry: study watch " << id << ": gave up after --reconnect-timeout "
                  << reconnect_seconds << " s: cannot reach gantryd at " << conn.target() << " ("
                  << (last.error_message().empty() ? "not connected" : last.error_message()) << ")\n";
        return kExitUnavailable;
      }
    }
    grpc::ClientContext ctx;
    conn.Authorize(&ctx);
    v1::WatchStudyRequest req;
    req.set_study_id(id);
    auto reader = conn.stub().WatchStudy(&ctx, req);
    v1::Study study;
    bool got = false;
    while (reader->Read(&study)) {
      got = true;
      progress.Show(study);
      if (Ended(study)) end = study.state();
    }
    last = reader->Finish();
    if (end.has_value()) break;
    established = established || got;
    // OK without the end: the server stopped the stream (a drain); reopen it.
    const bool transient = last.ok() || last.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           last.error_code() == grpc::StatusCode::INTERNAL ||
                           last.error_code() == grpc::StatusCode::UNKNOWN;
    if (!transient || (!established && !last.ok())) return conn.Fail("study watch " + id, last);
    const auto now = Clock::now();
    if (got || !lost_at.has_value()) lost_at = now;
    if (got) failures = 0;
    progress.Break();
    std::cerr << "gantry: study watch " << id << ": stream ended ("
              << (last.ok() ? "by the server" : last.error_message()) << "); reconnecting\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(2000, 100 * (1 << std::min(failures, 4)))));
  }
  if (*end == v1::JOB_STATE_FAILED) return kExitJobFailed;
  if (*end == v1::JOB_STATE_CANCELLED) return kExitJobCancelled;
  return kExitOk;
}

}  // namespace

bool ParseSearchParam(const std::string& text, v1::SearchParam* out, std::string* error) {
  static const std::vector<std::string> kinds = {"choice", "int", "uniform", "log_uniform"};
  const std::string forms =
      "NAME=choice:A|B|..., NAME=int:MIN:MAX, NAME=uniform:MIN:MAX or NAME=log_uniform:MIN:MAX";
  const size_t eq = text.find('=');
  const size_t colon = eq == std::string::npos ? std::string::npos : text.find(':', eq + 1);
  if (eq == std::string::npos || eq == 0 || colon == std::string::npos) {
    *error = "'" + text + "' is not " + forms;
    return false;
  }
  out->Clear();
  out->set_name(text.substr(0, eq));
  const std::string kind = text.substr(eq + 1, colon - eq - 1);
  const std::string args = text.substr(colon + 1);
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    *error = "'" + text + "': kind '" + kind + "' is not one of choice, int, uniform, log_uniform";
    const std::string near = ClosestMatch(kind, kinds);
    if (!near.empty()) *error += "; did you mean " + near + "?";
    return false;
  }
  out->set_kind(kind);
  if (kind == "choice") {
    if (args.empty()) {
      *error = "'" + text + "': a choice needs its values, separated by '|' (choice:bce|hinge)";
      return false;
    }
    for (const std::string& v : Split(args, '|')) out->add_values(v);
    return true;
  }
  const std::vector<std::string> bounds = Split(args, ':');
  if (bounds.size() != 2) {
    *error = "'" + text + "': " + kind + " takes MIN:MAX (" + out->name() + "=" + kind +
             (kind == "int" ? ":16:128" : kind == "log_uniform" ? ":1e-4:1e-2" : ":0:0.5") + ")";
    return false;
  }
  double lo = 0, hi = 0;
  for (int i = 0; i < 2; ++i) {
    const bool ok = kind == "int" ? ParseWhole(bounds[i], i == 0 ? &lo : &hi)
                                  : ParseNumber(bounds[i], i == 0 ? &lo : &hi);
    if (!ok) {
      *error = "'" + text + "': " + (i == 0 ? "MIN" : "MAX") + " '" + bounds[i] + "' is not " +
               (kind == "int" ? "a whole number" : "a finite decimal number");
      return false;
    }
  }
  if (lo > hi) {
    *error = "'" + text + "': MIN is above MAX";
    return false;
  }
  out->set_min(lo);
  out->set_max(hi);
  return true;
}

int CreateStudy(Connection& conn, const StudyArgs& args) {
  v1::CreateStudyRequest req;
  *req.mutable_spec() = args.spec;
  *req.mutable_spec()->mutable_base() = args.base;
  req.mutable_spec()->clear_space();
  if (args.params.empty()) {
    std::cerr << "gantry: study create: give the search space: --param NAME=KIND:ARGS (repeatable)\n";
    return kExitUsage;
  }
  for (const std::string& text : args.params) {
    std::string error;
    if (!ParseSearchParam(text, req.mutable_spec()->add_space(), &error)) {
      std::cerr << "gantry: study create: --param " << error << "\n";
      return kExitUsage;
    }
  }
  req.set_name(args.name);
  req.mutable_labels()->insert(args.labels.begin(), args.labels.end());
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::Study study;
  const grpc::Status s = conn.stub().CreateStudy(&ctx, req, &study);
  if (!s.ok()) return conn.Fail("study create", s);
  std::cout << (JsonOut(conn) ? ToJson(study) : study.id()) << std::endl;
  if (!args.watch) return kExitOk;
  return FollowStudy(conn, study.id(), args.reconnect_seconds, /*established=*/true);
}

int ListStudies(Connection& conn, const StudyArgs& args) {
  v1::ListStudiesRequest req;
  req.set_owner(args.owner);
  req.set_page_size(kListPageSize);
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "ALGORITHM", "STATE", "TRIALS", "EPOCHS", "BEST", "AGE"}};
  std::vector<std::string> owners;
  for (;;) {
    v1::ListStudiesResponse resp;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status s = conn.stub().ListStudies(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && req.page_size() > 1) {
      // Over the receive limit (base specs with user points): fewer at once.
      req.set_page_size(req.page_size() / 2);
      continue;
    }
    if (!s.ok()) {
      std::cout << std::flush;
      return conn.Fail("study list", s);
    }
    for (const v1::Study& st : resp.studies()) {
      if (JsonOut(conn)) {
        std::cout << ToJson(st) << "\n";
        continue;
      }
      rows.push_back({st.id(), st.name().empty() ? "-" : st.name(), st.spec().algorithm(),
                      StateName(st.state()),
                      std::to_string(st.summary().trials()) + "/" + std::to_string(st.spec().max_trials()),
                      std::to_string(st.summary().epochs_spent()), BestText(st), Age(st.create_time())});
      owners.push_back(st.owner());
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  if (!JsonOut(conn)) {
    AddOwnerColumn(&rows, owners);
    std::cout << Table(rows);
  }
  std::cout << std::flush;
  return kExitOk;
}

int GetStudy(Connection& conn, const StudyArgs& args) {
  v1::Study study;
  const grpc::Status s = Get(conn, args.id, &study);
  if (!s.ok()) return conn.Fail("study get " + args.id, s);
  if (JsonOut(conn)) {
    std::cout << ToJson(study) << std::endl;
    return kExitOk;
  }
  std::cout << DescribeStudy(study);
  if (study.trials_size() > 0) std::cout << "\n" << Table(TrialRows(study));
  std::cout << std::flush;
  return kExitOk;
}

int WatchStudy(Connection& conn, const StudyArgs& args) {
  return FollowStudy(conn, args.id, args.reconnect_seconds, /*established=*/false);
}

int CancelStudy(Connection& conn, const StudyArgs& args) {
  v1::CancelStudyRequest req;
  req.set_study_id(args.id);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::Study study;
  const grpc::Status s = conn.stub().CancelStudy(&ctx, req, &study);
  if (!s.ok()) return conn.Fail("study cancel " + args.id, s);
  std::cout << (JsonOut(conn) ? ToJson(study) : "cancelled study " + args.id) << std::endl;
  return kExitOk;
}

int DeleteStudy(Connection& conn, const StudyArgs& args) {
  v1::DeleteStudyRequest req;
  req.set_study_id(args.id);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::DeleteStudyResponse resp;
  const grpc::Status s = conn.stub().DeleteStudy(&ctx, req, &resp);
  if (!s.ok()) return conn.Fail("study delete " + args.id, s);
  std::cout << (JsonOut(conn) ? "{\"deleted\":" + JsonString(args.id) + "}" : "deleted study " + args.id)
            << std::endl;
  return kExitOk;
}

int ReplayTrial(Connection& conn, const StudyArgs& args) {
  v1::ReplayTrialRequest req;
  req.set_study_id(args.id);
  req.set_trial(args.trial);
  req.set_name(args.job_name);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::Job job;
  const grpc::Status s = conn.stub().ReplayTrial(&ctx, req, &job);
  if (!s.ok()) return conn.Fail("study replay " + args.id, s);
  std::cout << (JsonOut(conn) ? ToJson(job) : job.id()) << std::endl;
  if (!args.watch) return kExitOk;
  WatchArgs w;
  w.id = job.id();
  w.established = true;  // ReplayTrial reached the server
  return Watch(conn, w);
}

int StudyLeaderboard(Connection& conn, const StudyArgs& args) {
  const std::string command = "study leaderboard " + args.id;
  std::string metric_a, metric_b;
  if (!args.pareto.empty()) {
    const std::vector<std::string> two = Split(args.pareto, ',');
    if (two.size() != 2 || two[0].empty() || two[1].empty() || two[0] == two[1]) {
      std::cerr << "gantry: " << command << ": --pareto '" << args.pareto
                << "' is not two different metrics METRIC_A,METRIC_B (e.g. sliced_w1,coverage)\n";
      return kExitUsage;
    }
    for (const std::string& m : two) {
      if (!IsMetricName(m)) {
        std::cerr << "gantry: " << command << ": --pareto: '" << m << "' is not a metric (" << MetricNames()
                  << ")\n";
        return kExitUsage;
      }
    }
    metric_a = two[0];
    metric_b = two[1];
  }
  v1::Study study;
  const grpc::Status s = Get(conn, args.id, &study);
  if (!s.ok()) return conn.Fail(command, s);
  const std::string objective = study.spec().objective();
  const bool minimize = Minimize(study);
  const auto better = [](double a, double b, bool lower) { return lower ? a < b : a > b; };

  // Ranked: trials with a result that did not fail, best first; then those
  // without a result; failed and cancelled ones last.
  std::vector<const v1::Trial*> order;
  for (const v1::Trial& t : study.trials()) order.push_back(&t);
  const auto group = [](const v1::Trial* t) { return FailedTrial(*t) ? 2 : t->has_objective() ? 0 : 1; };
  std::stable_sort(order.begin(), order.end(), [&](const v1::Trial* a, const v1::Trial* b) {
    if (group(a) != group(b)) return group(a) < group(b);
    if (group(a) != 0) return false;
    return better(a->objective(), b->objective(), minimize);
  });
  std::map<int64_t, int> rank;  // trial number -> rank
  for (const v1::Trial* t : order) {
    if (group(t) == 0) rank[t->number()] = static_cast<int>(rank.size()) + 1;
  }

  std::vector<std::string> metrics;  // the metric columns besides the objective
  if (!args.pareto.empty()) {
    for (const std::string& m : {metric_a, metric_b}) {
      if (m != objective) metrics.push_back(m);
    }
    const auto value = [](const v1::Trial* t, const std::string& m) {
      return t->has_metrics() ? MetricOf(t->metrics(), m) : std::nullopt;
    };
    std::vector<const v1::Trial*> candidates, front;
    for (const v1::Trial* t : order) {
      if (value(t, metric_a) && value(t, metric_b)) candidates.push_back(t);
    }
    const bool lower_a = LowerIsBetter(metric_a), lower_b = LowerIsBetter(metric_b);
    for (const v1::Trial* t : candidates) {
      const double ta = *value(t, metric_a), tb = *value(t, metric_b);
      bool dominated = false;
      for (const v1::Trial* u : candidates) {
        const double ua = *value(u, metric_a), ub = *value(u, metric_b);
        const bool no_worse = !better(ta, ua, lower_a) && !better(tb, ub, lower_b);
        if (no_worse && (better(ua, ta, lower_a) || better(ub, tb, lower_b))) {
          dominated = true;
          break;
        }
      }
      if (!dominated) front.push_back(t);
    }
    std::stable_sort(front.begin(), front.end(), [&](const v1::Trial* a, const v1::Trial* b) {
      const double va = *value(a, metric_a), vb = *value(b, metric_a);
      if (va != vb) return better(va, vb, lower_a);
      return better(*value(a, metric_b), *value(b, metric_b), lower_b);
    });
    if (!JsonOut(conn)) {
      std::cout << "study " << study.id() << ": the Pareto front of " << metric_a << " ("
                << (lower_a ? "lower" : "higher") << " is better) and " << metric_b << " ("
                << (lower_b ? "lower" : "higher") << " is better): " << front.size() << " of "
                << candidates.size() << " trials with both, by " << metric_a << "\n";
    }
    order = front;
  } else if (!JsonOut(conn)) {
    std::cout << "study " << study.id() << " (" << StateName(study.state()) << "): " << study.trials_size()
              << " trials by " << objective << " (" << (minimize ? "lower" : "higher") << " is better)\n";
  }
  for (const std::string& m : IsTable(study) ? kTableColumns : kPointColumns) {
    if (m != objective && std::find(metrics.begin(), metrics.end(), m) == metrics.end()) metrics.push_back(m);
  }

  const std::vector<std::string> names = SpaceNames(study);
  std::vector<std::vector<std::string>> rows;
  // The front's two metrics carry their direction.
  const auto heading = [&](const std::string& m) {
    const bool marked = !args.pareto.empty() && (m == metric_a || m == metric_b);
    return Upper(m) + (marked ? (LowerIsBetter(m) ? "(min)" : "(max)") : "");
  };
  std::vector<std::string> header = {"RANK", "TRIAL", "STATUS", "EPOCHS", heading(objective)};
  for (const std::string& n : names) header.push_back(Upper(n));
  for (const std::string& m : metrics) header.push_back(heading(m));
  header.push_back("JOB");
  rows.push_back(header);
  for (const v1::Trial* t : order) {
    auto r = rank.find(t->number());
    if (JsonOut(conn)) {
      std::string json = "{\"rank\":" + (r == rank.end() ? std::string("null") : std::to_string(r->second)) +
                         ",\"trial\":" + std::to_string(t->number()) + ",\"status\":" + JsonString(t->status()) +
                         ",\"epochs\":" + std::to_string(t->epochs()) + ",\"objective\":" +
                         (t->has_objective() ? JsonNumber(t->objective()) : "null") + ",\"params\":{";
      const std::map<std::string, std::string> params(t->params().begin(), t->params().end());
      bool first = true;
      for (const auto& [k, v] : params) {
        json += (first ? "" : ",") + JsonString(k) + ":" + JsonString(v);
        first = false;
      }
      json += "},\"metrics\":{";
      first = true;
      for (const std::string& m : metrics) {
        const auto v = t->has_metrics() ? MetricOf(t->metrics(), m) : std::nullopt;
        json += (first ? "" : ",") + JsonString(m) + ":" + (v ? JsonNumber(*v) : "null");
        first = false;
      }
      const std::string job = LatestJob(*t);
      json += "},\"job_id\":" + (job == "-" ? std::string("null") : JsonString(job)) + "}";
      std::cout << json << "\n";
      continue;
    }
    std::vector<std::string> row = {r == rank.end() ? "-" : std::to_string(r->second), std::to_string(t->number()),
                                    t->status(), std::to_string(t->epochs()),
                                    t->has_objective() ? Num(t->objective()) : "-"};
    for (const std::string& n : names) {
      auto it = t->params().find(n);
      row.push_back(it == t->params().end() ? "-" : ShortValue(it->second));
    }
    for (const std::string& m : metrics) {
      const auto v = t->has_metrics() ? MetricOf(t->metrics(), m) : std::nullopt;
      row.push_back(v ? Num(*v) : "-");
    }
    row.push_back(LatestJob(*t));
    rows.push_back(std::move(row));
  }
  if (!JsonOut(conn)) std::cout << Table(rows);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace gantry::cli
