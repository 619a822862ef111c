#include "client/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/json_text.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "proto/job_state.h"

namespace gantry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxNameChars = 200;      // CreateJobRequest.name
constexpr size_t kMaxLabels = 16;          // Job.labels
constexpr size_t kMaxSweepNameChars = 63;  // a label value
constexpr size_t kMaxLinesRedrawn = 30;    // jobs drawn a line each on a terminal
constexpr auto kPollEvery = std::chrono::seconds(1);
constexpr auto kGiveUpAfter = std::chrono::seconds(120);  // a server unreachable this long

// "" or why `name` cannot be a sweep's name (the value of its label).
std::string SweepNameError(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxSweepNameChars;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return "";
  return "--name '" + name +
         "' must be 1..63 characters of [A-Za-z0-9._-] (it becomes the label sweep=NAME)";
}

std::string DefaultName() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[64];
  std::strftime(buf, sizeof buf, "sweep-%Y%m%d-%H%M%S", &local);
  return buf;
}

std::string Selector(const std::string& name) { return "sweep=" + name; }

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Num(double v, const char* fmt) {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string SelectBy(const v1::Job& job) {
  return job.spec().select_by().empty() ? "sliced_w1" : job.spec().select_by();
}

bool HasBest(const v1::Job& job) { return job.best_epoch() > 0 && job.has_best_metrics(); }

// "seed=1 learning_rate=0.001": a job's values of the swept flags.
std::string SweptText(const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  for (const auto& [key, value] : values) out += (out.empty() ? "" : " ") + key + "=" + value;
  return out;
}

// One progress display for the jobs of a sweep: on a terminal a line per job
// (or, beyond kMaxLinesRedrawn jobs, one total line) redrawn in place;
// elsewhere plain lines: one per change of a job's state, and the total
// whenever a job ends.
class SweepProgress {
 public:
  SweepProgress(std::ostream& out, bool terminal, std::string name, std::vector<std::string> ids,
                std::vector<std::string> swept)
      : out_(out),
        terminal_(terminal),
        name_(std::move(name)),
        ids_(std::move(ids)),
        swept_(std::move(swept)),
        shown_(ids_.size(), v1::JOB_STATE_UNSPECIFIED) {}

  void Update(const std::map<std::string, v1::Job>& jobs) {
    std::vector<std::string> lines;
    int64_t done = 0, running = 0, queued = 0, epochs = 0, total = 0;
    for (size_t i = 0; i < ids_.size(); ++i) {
      auto it = jobs.find(ids_[i]);
      if (it == jobs.end()) {
        lines.push_back(ids_[i] + "  " + swept_[i] + "  (not listed)");
        continue;
      }
      const v1::Job& job = it->second;
      const bool ended = IsTerminalState(job.state());
      done += ended;
      running += job.state() == v1::JOB_STATE_RUNNING;
      queued += job.state() == v1::JOB_STATE_QUEUED;
      total += job.spec().epochs();
      epochs += ended ? job.spec().epochs() : std::min(job.epochs_done(), job.spec().epochs());
      lines.push_back(JobLine(job, swept_[i]));
      if (!terminal_ && job.state() != shown_[i]) {
        out_ << lines.back() << "\n";
        if (ended) ended_changed_ = true;
      }
      shown_[i] = job.state();
    }
    char buf[256];
    std::snprintf(
        buf, sizeof buf, "sweep %s: %lld/%zu done, %lld running, %lld queued, %.0f%%",
        name_.c_str(), static_cast<long long>(done), ids_.size(), static_cast<long long>(running),
        static_cast<long long>(queued),
        total > 0 ? 100.0 * static_cast<double>(epochs) / static_cast<double>(total) : 0.0);
    const std::string summary = buf;
    if (!terminal_) {
      if (ended_changed_) out_ << summary << "\n";
      ended_changed_ = false;
      out_ << std::flush;
      return;
    }
    if (ids_.size() > kMaxLinesRedrawn) {
      out_ << "\r\033[K" << summary << std::flush;
      open_ = true;
      return;
    }
    if (drawn_ > 0) out_ << "\033[" << drawn_ << "A";
    out_ << "\r\033[K" << summary << "\n";
    for (const auto& line : lines) out_ << "\r\033[K" << line << "\n";
    drawn_ = lines.size() + 1;
    out_ << std::flush;
  }

  void Done() {
    if (open_) out_ << "\n" << std::flush;
    open_ = false;
  }

 private:
  static std::string JobLine(const v1::Job& job, const std::string& swept) {
    std::string line = job.id() + "  " + swept + "  " + StateName(job.state()) + "  epoch " +
                       std::to_string(job.epochs_done()) + "/" +
                       std::to_string(job.spec().epochs());
    if (HasBest(job)) {
      const std::string by = SelectBy(job);
      line += "  best " + std::to_string(job.best_epoch()) + ": " + by + " " +
              Num(MetricValue(job.best_metrics(), by), "%.4g");
    }
    if (!job.stop_reason().empty()) line += "  (" + job.stop_reason() + ")";
    if (!job.error().empty()) line += "  " + job.error();
    return line;
  }

  std::ostream& out_;
  const bool terminal_;
  const std::string name_;
  const std::vector<std::string> ids_;
  const std::vector<std::string> swept_;
  std::vector<v1::JobState> shown_;  // the state last printed (plain lines)
  bool ended_changed_ = false;
  size_t drawn_ = 0;   // lines drawn last time (terminal)
  bool open_ = false;  // a total line without its newline (terminal)
};

// The jobs labelled sweep=NAME (newest first, without their preview
// points), at most `max` (*too_many when there are more). With `only`,
// only those ids are kept.
grpc::Status ListSweep(Connection& conn, const std::string& name, const std::set<std::string>* only,
                       size_t max, std::vector<v1::Job>* out, bool* too_many) {
  out->clear();
  *too_many = false;
  v1::ListJobsRequest req;
  req.set_label_selector(Selector(name));
  return ForEachJob(conn, req, [&](const v1::Job& job) {
    if (only != nullptr && only->count(job.id()) == 0) return true;
    if (out->size() >= max) {
      *too_many = true;
      return false;
    }
    out->push_back(job);
    // Not shown: only the figures are kept.
    if (out->back().has_latest()) out->back().mutable_latest()->clear_preview();
    return true;
  });
}

int ExitCodeOfJobs(const std::vector<v1::Job>& jobs) {
  bool failed = false, cancelled = false;
  for (const auto& j : jobs) {
    failed = failed || j.state() == v1::JOB_STATE_FAILED;
    cancelled = cancelled || j.state() == v1::JOB_STATE_CANCELLED;
  }
  return failed ? kExitJobFailed : cancelled ? kExitJobCancelled : kExitOk;
}

// Prints the leaderboard of `jobs` (creation order) in the CLI's --output.
void PrintLeaderboard(const Connection& conn, const std::string& name,
                      const std::vector<v1::Job>& jobs) {
  const std::string format = conn.options().output;
  std::string note;
  const std::string text = FormatLeaderboard(jobs, format, &note);
  if (format == "table") {
    const std::string by = jobs.empty() ? "sliced_w1" : SelectBy(jobs[0]);
    std::cout << "leaderboard of sweep " << name << ": " << jobs.size() << " jobs";
    if (note.empty()) {
      std::cout << ", by " << by << " (" << (LowerIsBetter(by) ? "lower" : "higher")
                << " is better)";
    }
    std::cout << "\n";
  }
  if (!note.empty()) std::cerr << "gantry: sweep " << name << ": " << note << "\n";
  std::cout << text << std::flush;
}

}  // namespace

std::string FormatLeaderboard(const std::vector<v1::Job>& jobs, const std::string& format,
                              std::string* note) {
  note->clear();
  std::string metric = jobs.empty() ? "sliced_w1" : SelectBy(jobs[0]);
  for (const auto& j : jobs) {
    if (SelectBy(j) != metric) {
      metric = "sliced_w1";
      *note =
          "its jobs select their best epoch by different metrics; ranked by sliced_w1 (lower "
          "is better)";
      break;
    }
  }
  // The parameters that differ between the jobs.
  std::vector<std::vector<std::pair<std::string, std::string>>> values;
  for (const auto& j : jobs) values.push_back(SpecValues(j.spec()));
  std::vector<size_t> columns;
  for (size_t c = 0; !values.empty() && c < values[0].size(); ++c) {
    for (const auto& v : values) {
      if (v[c].second != values[0][c].second) {
        columns.push_back(c);
        break;
      }
    }
  }
  std::vector<size_t> order(jobs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const bool lower = LowerIsBetter(metric);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const bool ha = HasBest(jobs[a]), hb = HasBest(jobs[b]);
    if (ha != hb) return ha;
    if (!ha) return false;
    const double va = MetricValue(jobs[a].best_metrics(), metric);
    const double vb = MetricValue(jobs[b].best_metrics(), metric);
    return lower ? va < vb : va > vb;
  });

  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"rank", "job_id"};
  for (size_t c : columns) header.push_back(values[0][c].first);
  for (const char* h : {"state", "best_epoch"}) header.push_back(h);
  for (const char* m : kMetricNames) header.push_back(m);
  header.push_back("stop_reason");
  std::string json;
  int rank = 0;
  for (size_t i : order) {
    const v1::Job& j = jobs[i];
    const bool has = HasBest(j);
    if (has) ++rank;
    if (format == "json") {
      json += "{\"rank\":" + (has ? std::to_string(rank) : std::string("null")) +
              ",\"job_id\":" + JsonString(j.id()) + ",\"name\":" + JsonString(j.name()) +
              ",\"params\":{";
      for (size_t k = 0; k < columns.size(); ++k) {
        const auto& [key, value] = values[i][columns[k]];
        json += (k ? "," : "") + JsonString(key) + ":" + JsonString(value);
      }
      json += "},\"state\":" + JsonString(StateName(j.state())) +
              ",\"best_epoch\":" + std::to_string(j.best_epoch()) +
              ",\"select_by\":" + JsonString(metric) + ",\"best_metrics\":";
      if (has) {
        json += "{";
        bool first = true;
        for (const char* m : kMetricNames) {
          json += (first ? "" : ",") + JsonString(m) + ":" +
                  JsonNumber(MetricValue(j.best_metrics(), m));
          first = false;
        }
        json += "}";
      } else {
        json += "null";
      }
      json += ",\"stop_reason\":" + JsonString(j.stop_reason()) + "}\n";
      continue;
    }
    const bool table = format != "csv";
    const std::string none = table ? "-" : "";
    std::vector<std::string> row = {has ? std::to_string(rank) : none, j.id()};
    for (size_t c : columns) row.push_back(values[i][c].second);
    row.push_back(StateName(j.state()));
    row.push_back(j.best_epoch() > 0 ? std::to_string(j.best_epoch()) : none);
    for (const char* m : kMetricNames) {
      row.push_back(has ? Num(MetricValue(j.best_metrics(), m), table ? "%.4g" : "%.9g") : none);
    }
    row.push_back(j.stop_reason().empty() ? none : j.stop_reason());
    rows.push_back(std::move(row));
  }
  if (format == "json") return json;
  if (format == "csv") {
    std::string out;
    rows.insert(rows.begin(), header);
    for (const auto& row : rows) {
      for (size_t k = 0; k < row.size(); ++k) out += (k ? "," : "") + CsvField(row[k]);
      out += "\n";
    }
    return out;
  }
  for (auto& h : header) h = Upper(h);
  rows.insert(rows.begin(), header);
  return Table(rows);
}

int Leaderboard(Connection& conn, const std::string& name) {
  if (name.find(',') != std::string::npos || name.empty()) {
    std::cerr << "gantry: sweep: --leaderboard '" << name << "' is not a sweep's name\n";
    return kExitUsage;
  }
  std::vector<v1::Job> jobs;
  bool too_many = false;
  const grpc::Status s = ListSweep(conn, name, nullptr, kMaxLeaderboardJobs, &jobs, &too_many);
  if (!s.ok()) return conn.Fail("sweep --leaderboard " + name, s);
  if (too_many) {
    std::cerr << "gantry: sweep --leaderboard " << name << ": more than " << kMaxLeaderboardJobs
              << " jobs carry the label sweep=" << name << "; a leaderboard shows at most "
              << kMaxLeaderboardJobs << "\n";
    return kExitError;
  }
  if (jobs.empty()) {
    std::cerr << "gantry: sweep --leaderboard " << name
              << ": no job carries the label sweep=" << name << "\n";
    return kExitNotFound;
  }
  std::reverse(jobs.begin(), jobs.end());  // creation order
  PrintLeaderboard(conn, name, jobs);
  return kExitOk;
}

int Sweep(Connection& conn, const SweepArgs& args) {
  const std::string name = args.name.empty() ? DefaultName() : args.name;
  if (const std::string error = SweepNameError(name); !error.empty()) {
    std::cerr << "gantry: sweep: " << error << "\n";
    return kExitUsage;
  }
  std::map<std::string, std::string> labels = args.labels;
  if (labels.count("sweep") != 0) {
    std::cerr << "gantry: sweep: --label sweep=" << labels.at("sweep")
              << ": the sweep sets the label sweep itself (use --name)\n";
    return kExitUsage;
  }
  labels["sweep"] = name;
  if (labels.size() > kMaxLabels) {
    std::cerr << "gantry: sweep: " << labels.size() - 1 << " --label labels and sweep=" << name
              << " are more than the " << kMaxLabels << " a job may carry\n";
    return kExitUsage;
  }
  // How many jobs: the product of the axes, checked before it can overflow.
  int64_t count = 1;
  std::string shape;
  for (const auto& axis : args.axes) {
    if (axis.values.size() < 2) continue;
    shape += (shape.empty() ? "" : " x ") + axis.key + " " + std::to_string(axis.values.size());
  }
  for (const auto& axis : args.axes) {
    count *= static_cast<int64_t>(axis.values.size());
    if (count > kMaxSweepJobs) {
      int64_t total = 1;
      bool huge = false;
      for (const auto& a : args.axes) {
        huge = huge || total > (int64_t{1} << 40);
        if (!huge) total *= static_cast<int64_t>(a.values.size());
      }
      std::cerr << "gantry: sweep: " << (huge ? "more than 2^40" : std::to_string(total))
                << " jobs (" << shape << ") are more than " << kMaxSweepJobs
                << "; sweep fewer values\n";
      return kExitUsage;
    }
  }
  // Progress goes to stdout with the table; with --no-watch (stdout: the
  // name) and json or csv (stdout: the leaderboard) it goes to stderr.
  const bool table = conn.options().output == "table" && !args.no_watch;
  std::ostream& info = table ? std::cout : std::cerr;
  info << "sweep " << name << ": submitting " << count << (count == 1 ? " job" : " jobs")
       << (shape.empty() ? "" : " (" + shape + ")") << std::endl;

  std::vector<std::string> ids, swept;
  bool waited = false;
  for (int64_t i = 0; i < count; ++i) {
    v1::CreateJobRequest req;
    *req.mutable_spec() = args.base;
    std::vector<std::pair<std::string, std::string>> values;
    // The last axis varies fastest.
    int64_t rest = i;
    std::vector<size_t> pick(args.axes.size());
    for (size_t a = args.axes.size(); a-- > 0;) {
      const int64_t n = static_cast<int64_t>(args.axes[a].values.size());
      pick[a] = static_cast<size_t>(rest % n);
      rest /= n;
    }
    std::set<std::string> swept_keys;
    for (size_t a = 0; a < args.axes.size(); ++a) {
      args.axes[a].values[pick[a]].apply(req.mutable_spec());
      if (args.axes[a].values.size() > 1) swept_keys.insert(args.axes[a].key);
    }
    // The swept values as the leaderboard shows them ("1e-3" reads 0.001).
    for (auto& [key, value] : SpecValues(req.spec())) {
      if (swept_keys.count(key) != 0) values.emplace_back(key, value);
    }
    const std::string index = name + "-" + std::to_string(i + 1);
    std::string job_name = index + (values.empty() ? "" : " " + SweptText(values));
    if (job_name.size() > kMaxNameChars) job_name = job_name.substr(0, kMaxNameChars - 3) + "...";
    req.set_name(job_name);
    req.set_request_id(index);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    v1::Job job;
    grpc::Status s;
    for (;;) {
      grpc::ClientContext ctx;
      conn.Prepare(&ctx);
      s = conn.stub().CreateJob(&ctx, req, &job);
      // A full queue empties as jobs start: wait for room.
      if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED ||
          s.error_message().rfind("the queue is full", 0) != 0) {
        break;
      }
      if (!waited) {
        std::cerr << "gantry: sweep " << name << ": " << s.error_message()
                  << "; waiting for room to submit the rest\n";
        waited = true;
      }
      std::this_thread::sleep_for(kPollEvery);
    }
    if (!s.ok()) {
      const int rc = conn.Fail(
          "sweep " + name + ": job " + std::to_string(i + 1) + " of " + std::to_string(count), s);
      if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
        std::cerr << "gantry: sweep " << name << ": a sweep named " << name
                  << " with other jobs exists; give this one another --name\n";
      } else if (!ids.empty()) {
        std::cerr << "gantry: sweep " << name << ": " << ids.size() << " of " << count
                  << " jobs were submitted; once the cause is fixed, the same command submits "
                     "the rest (and none twice)\n";
      }
      return rc;
    }
    ids.push_back(job.id());
    swept.push_back(values.empty() ? "-" : SweptText(values));
  }
  if (args.no_watch) {
    std::cout << name << std::endl;
    return kExitOk;
  }

  const std::set<std::string> ours(ids.begin(), ids.end());
  SweepProgress progress(info, isatty(table ? STDOUT_FILENO : STDERR_FILENO) != 0, name, ids,
                         swept);
  std::vector<v1::Job> listed;
  std::optional<Clock::time_point> failing_since;
  for (;;) {
    bool too_many = false;
    const grpc::Status s = ListSweep(conn, name, &ours, ours.size(), &listed, &too_many);
    if (!s.ok()) {
      const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (!failing_since) failing_since = Clock::now();
      if (!transient || Clock::now() - *failing_since > kGiveUpAfter) {
        progress.Done();
        return conn.Fail("sweep " + name, s);
      }
      std::this_thread::sleep_for(kPollEvery);
      continue;
    }
    failing_since.reset();
    std::map<std::string, v1::Job> by_id;
    for (auto& j : listed) by_id[j.id()] = j;
    progress.Update(by_id);
    // Done when every job ended (or is gone: deleted meanwhile).
    bool all_ended = true;
    for (const auto& id : ids) {
      auto it = by_id.find(id);
      all_ended = all_ended && (it == by_id.end() || IsTerminalState(it->second.state()));
    }
    if (all_ended) break;
    std::this_thread::sleep_for(kPollEvery);
  }
  progress.Done();
  std::reverse(listed.begin(), listed.end());  // creation order
  if (listed.size() < ids.size()) {
    std::cerr << "gantry: sweep " << name << ": " << ids.size() - listed.size()
              << " of its jobs were deleted meanwhile\n";
  }
  PrintLeaderboard(conn, name, listed);
  return ExitCodeOfJobs(listed);
}

}  // namespace gantry::cli
