#include "client/sweep.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <thread>

#include "core/json_text.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "core/api_limits.h"
#include "client/output.h"
#include "proto/job_state.h"

namespace gantry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int32_t kStudiesPage = 100;      // studies per ListStudies page (halved when too large)
constexpr uint64_t kDefaultSeed = 111;     // JobSpec.seed's default
constexpr size_t kMaxSweepNameChars = 63;  // a label value
constexpr size_t kMaxLinesRedrawn = 30;    // jobs drawn a line each on a terminal
constexpr auto kPollEvery = std::chrono::seconds(1);
constexpr auto kGiveUpAfter = std::chrono::seconds(120);  // a server unreachable this long
constexpr auto kSettleAfterEnd = std::chrono::seconds(30);  // an ended study's jobs, to end too

// The JobSpec fields a study varies (core/api_limits.h): the only flags a
// sweep gives several values.
const std::vector<std::string>& StudyParams() {
  static const std::vector<std::string> names(std::begin(kStudyParamNames), std::end(kStudyParamNames));
  return names;
}

bool IsStudyParam(const std::string& key) {
  const auto& names = StudyParams();
  return std::find(names.begin(), names.end(), key) != names.end();
}

// "--learning-rate" for "learning_rate".
std::string FlagOf(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

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

bool Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// The study a sweep stands for, and what its display shows.
struct SweepPlan {
  std::string name;
  v1::CreateStudyRequest request;  // spec (base, space, grid, concurrency), name, labels
  int64_t count = 1;               // combinations: trials, one job each
  std::string shape;               // "learning_rate 2 x seed 2"; "" for one combination
  std::vector<std::string> swept;  // combination i's swept values, "learning_rate=0.001 seed=1" or "-"
};

// The sweep's name (default: the time) and labels (sweep=NAME and --label),
// or kExitUsage after printing why.
int PlanNameAndLabels(const SweepArgs& args, SweepPlan* plan) {
  plan->name = args.name.empty() ? DefaultName() : args.name;
  if (const std::string error = SweepNameError(plan->name); !error.empty()) {
    std::cerr << "gantry: sweep: " << error << "\n";
    return kExitUsage;
  }
  std::map<std::string, std::string> labels = args.labels;
  if (labels.count("sweep") != 0) {
    std::cerr << "gantry: sweep: --label sweep=" << labels.at("sweep")
              << ": the sweep sets the label sweep itself (use --name)\n";
    return kExitUsage;
  }
  labels["sweep"] = plan->name;
  if (labels.size() > kMaxStudyOwnLabels) {
    std::cerr << "gantry: sweep: " << labels.size() - 1 << " --label labels and sweep=" << plan->name
              << " are more than the " << kMaxStudyOwnLabels
              << " a study may carry (its jobs add study, trial and segment)\n";
    return kExitUsage;
  }
  plan->request.set_name(plan->name);
  plan->request.mutable_labels()->insert(labels.begin(), labels.end());
  return kExitOk;
}

// The axes' sizes: only parameters take several values, at most
// kMaxSweepAxisValues each and kMaxSweepJobs combinations in all. Sets
// count and shape, or returns kExitUsage after printing why.
int PlanSize(const std::vector<SweepAxis>& axes, SweepPlan* plan) {
  for (const auto& axis : axes) {
    if (axis.values.size() < 2 || IsStudyParam(axis.key)) continue;
    std::string params;
    for (const auto& p : StudyParams()) params += (params.empty() ? "" : ", ") + p;
    std::cerr << "gantry: sweep: " << FlagOf(axis.key)
              << " takes one value: a sweep is a grid study, whose trials vary " << params << "\n";
    return kExitUsage;
  }
  plan->shape.clear();
  for (const auto& axis : axes) {
    if (axis.values.size() < 2) continue;
    plan->shape += (plan->shape.empty() ? "" : " x ") + axis.key + " " + std::to_string(axis.values.size());
  }
  // The product of the axes, checked before it can overflow.
  int64_t count = 1;
  for (const auto& axis : axes) {
    count *= static_cast<int64_t>(axis.values.size());
    if (count > kMaxSweepJobs) {
      int64_t total = 1;
      bool huge = false;
      for (const auto& a : axes) {
        huge = huge || total > (int64_t{1} << 40);
        if (!huge) total *= static_cast<int64_t>(a.values.size());
      }
      std::cerr << "gantry: sweep: " << (huge ? "more than 2^40" : std::to_string(total)) << " jobs ("
                << plan->shape << ") are more than " << kMaxSweepJobs << "; sweep fewer values\n";
      return kExitUsage;
    }
  }
  for (const auto& axis : axes) {
    if (axis.values.size() <= kMaxSweepAxisValues) continue;
    std::cerr << "gantry: sweep: " << FlagOf(axis.key) << " has " << axis.values.size()
              << " values, more than the " << kMaxSweepAxisValues
              << " one axis may have (a study's choice); sweep fewer values\n";
    return kExitUsage;
  }
  plan->count = count;
  return kExitOk;
}

void AddChoice(const SweepAxis& axis, v1::StudySpec* spec) {
  v1::SearchParam* p = spec->add_space();
  p->set_name(axis.key);  // the JobSpec field's name, as the server's parameters
  p->set_kind("choice");
  // SpecValue.text is what SetParam reads: reals and integers as typed,
  // layer lists "16,32", loss names, spectral_norm true/false.
  for (const auto& v : axis.values) p->add_values(v.text);
}

// The study's spec: the base with the one-valued axes set, a choice
// parameter per several-valued axis, grid, concurrency min(64, count).
// The base also takes each several-valued axis's first value (every trial
// sets its own): the server checks the base as a job, so it is the first
// combination's spec, not one with defaults no trial uses (batch_size 32
// on a 3-row --data). With no several-valued axis the space is the first
// parameter flag's one value, else the base's seed: a study searches at
// least one parameter.
void PlanSpec(const SweepArgs& args, SweepPlan* plan) {
  v1::StudySpec* spec = plan->request.mutable_spec();
  *spec->mutable_base() = args.base;
  for (const auto& axis : args.axes) {
    if (!axis.values.empty()) axis.values[0].apply(spec->mutable_base());
    if (axis.values.size() > 1) AddChoice(axis, spec);
  }
  for (size_t a = 0; a < args.axes.size() && spec->space_size() == 0; ++a) {
    if (IsStudyParam(args.axes[a].key)) AddChoice(args.axes[a], spec);
  }
  if (spec->space_size() == 0) {
    v1::SearchParam* p = spec->add_space();
    p->set_name("seed");
    p->set_kind("choice");
    p->add_values(std::to_string(spec->base().has_seed() ? spec->base().seed() : kDefaultSeed));
  }
  spec->set_algorithm("grid");  // objective left empty: the server takes base.select_by
  spec->set_concurrency(std::min(kMaxStudyConcurrency, plan->count));
}

// "seed=1 learning_rate=0.001": the swept values of each combination, in
// the grid's order (the last axis fastest), as the leaderboard shows them
// ("1e-3" reads 0.001).
void PlanSwept(const std::vector<SweepAxis>& axes, SweepPlan* plan) {
  plan->swept.clear();
  for (int64_t i = 0; i < plan->count; ++i) {
    v1::JobSpec spec;  // only the swept fields: SpecValues reads nothing else of them
    std::vector<std::string> keys;
    int64_t rest = i;
    for (size_t a = axes.size(); a-- > 0;) {
      const int64_t n = static_cast<int64_t>(axes[a].values.size());
      if (n < 2) continue;
      axes[a].values[static_cast<size_t>(rest % n)].apply(&spec);
      keys.push_back(axes[a].key);
      rest /= n;
    }
    std::string text;
    for (const auto& [key, value] : SpecValues(spec)) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
      text += (text.empty() ? "" : " ") + key + "=" + value;
    }
    plan->swept.push_back(text.empty() ? "-" : text);
  }
}

int BuildPlan(const SweepArgs& args, SweepPlan* plan) {
  if (int rc = PlanNameAndLabels(args, plan); rc != kExitOk) return rc;
  if (int rc = PlanSize(args.axes, plan); rc != kExitOk) return rc;
  PlanSpec(args, plan);
  PlanSwept(args.axes, plan);
  return kExitOk;
}

bool SameSpace(const google::protobuf::RepeatedPtrField<v1::SearchParam>& a,
               const google::protobuf::RepeatedPtrField<v1::SearchParam>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (a[i].name() != b[i].name() || a[i].kind() != b[i].kind() ||
        a[i].values_size() != b[i].values_size()) {
      return false;
    }
    for (int k = 0; k < a[i].values_size(); ++k) {
      if (a[i].values(k) != b[i].values(k)) return false;
    }
  }
  return true;
}

// The studies labelled sweep=NAME (newest first) among the newest
// kMaxStudiesRead; *more when there were more studies to read.
grpc::Status FindSweepStudies(Connection& conn, const std::string& name, std::vector<v1::Study>* out,
                              bool* more) {
  out->clear();
  *more = false;
  v1::ListStudiesRequest req;
  req.set_page_size(kStudiesPage);
  size_t read = 0;
  while (read < kMaxStudiesRead) {
    req.set_page_size(std::min<int32_t>(req.page_size(), static_cast<int32_t>(kMaxStudiesRead - read)));
    v1::ListStudiesResponse resp;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status s = conn.stub().ListStudies(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && req.page_size() > 1) {
      req.set_page_size(req.page_size() / 2);  // over the receive limit (bases with user points)
      continue;
    }
    if (!s.ok()) return s;
    for (const v1::Study& st : resp.studies()) {
      auto it = st.labels().find("sweep");
      if (it != st.labels().end() && it->second == name) out->push_back(st);
    }
    read += static_cast<size_t>(resp.studies_size());
    if (resp.next_page_token().empty()) return grpc::Status::OK;
    req.set_page_token(resp.next_page_token());
  }
  *more = true;
  return grpc::Status::OK;
}

// "4 jobs (learning_rate 2 x seed 2)".
std::string JobsText(const SweepPlan& plan) {
  return std::to_string(plan.count) + (plan.count == 1 ? " job" : " jobs") +
         (plan.shape.empty() ? "" : " (" + plan.shape + ")");
}

// The study labelled sweep=NAME with the plan's space (attached to), else
// a new one; kExitError when NAME's study has another space.
int FindOrCreate(Connection& conn, const SweepPlan& plan, std::ostream& info, v1::Study* study) {
  const std::string what = "sweep " + plan.name;
  std::vector<v1::Study> found;
  bool more = false;
  grpc::Status s = FindSweepStudies(conn, plan.name, &found, &more);
  if (!s.ok()) return conn.Fail(what + ": ListStudies", s);
  if (more) {
    std::cerr << "gantry: " << what << ": only the newest " << kMaxStudiesRead
              << " studies were looked at for one labelled sweep=" << plan.name << "\n";
  }
  for (const v1::Study& st : found) {
    if (st.spec().algorithm() != "grid" || !SameSpace(st.spec().space(), plan.request.spec().space())) continue;
    *study = st;
    info << what << ": attached to study " << st.id() << " (" << StateName(st.state())
         << "), created with these values: " << JobsText(plan) << std::endl;
    return kExitOk;
  }
  if (!found.empty()) {
    std::cerr << "gantry: sweep: " << plan.name << " exists with other values (study "
              << found[0].id() << "); choose another --name\n";
    return kExitError;
  }
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  s = conn.stub().CreateStudy(&ctx, plan.request, study);
  if (!s.ok()) return conn.Fail(what + ": CreateStudy", s);
  info << what << ": created study " << study->id() << ": " << JobsText(plan) << std::endl;
  return kExitOk;
}

// What SIGINT prints while a sweep is followed; written before the handler
// is installed, read by it (only async-signal-safe calls there).
char g_sweep_note[512];
size_t g_sweep_note_size = 0;
int g_sweep_newline_fd = -1;  // where a total line is being rewritten, or -1

extern "C" void OnSweepInterrupt(int) {
  if (g_sweep_newline_fd >= 0) (void)!::write(g_sweep_newline_fd, "\n", 1);
  (void)!::write(STDERR_FILENO, g_sweep_note, g_sweep_note_size);
  ::_exit(kExitInterrupted);
}

// Ctrl-C from now on says that the study goes on, and how to reach it.
void NoteSweepGoesOnWhenInterrupted(const std::string& name, const std::string& id, int newline_fd) {
  const std::string note = "gantry: interrupted; sweep " + name + " goes on as study " + id +
                           ": the same command follows it again (gantry study cancel " + id +
                           " stops it)\n";
  g_sweep_note_size = std::min(note.size(), sizeof g_sweep_note);
  std::memcpy(g_sweep_note, note.data(), g_sweep_note_size);
  g_sweep_newline_fd = newline_fd;
  struct sigaction sa = {};
  sa.sa_handler = OnSweepInterrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

// One progress display for the trials of a sweep: on a terminal a line per
// trial (or, beyond kMaxLinesRedrawn, one total line) redrawn in place;
// elsewhere plain lines: one per change of a job's state, and the total
// whenever a job ends. A trial whose job the study has not created yet is
// counted as queued.
class SweepProgress {
 public:
  SweepProgress(std::ostream& out, bool terminal, std::string name, std::vector<std::string> swept)
      : out_(out),
        terminal_(terminal),
        name_(std::move(name)),
        swept_(std::move(swept)),
        shown_(swept_.size(), v1::JOB_STATE_UNSPECIFIED) {}

  // jobs[i]: trial i+1's job, nullptr while it has none; `epochs`: a
  // trial's epochs (the study's base).
  void Update(const std::vector<const v1::Job*>& jobs, int64_t epochs) {
    std::vector<std::string> lines;
    int64_t done = 0, running = 0, queued = 0, trained = 0, total = 0;
    for (size_t i = 0; i < swept_.size(); ++i) {
      const v1::Job* job = i < jobs.size() ? jobs[i] : nullptr;
      if (job == nullptr) {
        ++queued;
        total += epochs;
        lines.push_back("trial " + std::to_string(i + 1) + "  " + swept_[i] + "  PENDING");
        continue;
      }
      const bool ended = IsTerminalState(job->state());
      done += ended;
      running += job->state() == v1::JOB_STATE_RUNNING;
      queued += job->state() == v1::JOB_STATE_QUEUED;
      total += job->spec().epochs();
      trained += ended ? job->spec().epochs() : std::min(job->epochs_done(), job->spec().epochs());
      lines.push_back(JobLine(*job, swept_[i]));
      if (!terminal_ && job->state() != shown_[i]) {
        out_ << lines.back() << "\n";
        if (ended) ended_changed_ = true;
      }
      shown_[i] = job->state();
    }
    char buf[256];
    std::snprintf(
        buf, sizeof buf, "sweep %s: %lld/%zu done, %lld running, %lld queued, %.0f%%", name_.c_str(),
        static_cast<long long>(done), swept_.size(), static_cast<long long>(running),
        static_cast<long long>(queued),
        total > 0 ? 100.0 * static_cast<double>(trained) / static_cast<double>(total) : 0.0);
    Draw(buf, lines);
  }

  void Done() {
    if (open_) out_ << "\n" << std::flush;
    open_ = false;
  }

 private:
  void Draw(const std::string& summary, const std::vector<std::string>& lines) {
    if (!terminal_) {
      if (ended_changed_) out_ << summary << "\n";
      ended_changed_ = false;
      out_ << std::flush;
      return;
    }
    if (swept_.size() > kMaxLinesRedrawn) {
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

  static std::string JobLine(const v1::Job& job, const std::string& swept) {
    std::string line = job.id() + "  " + swept + "  " + StateName(job.state()) + "  epoch " +
                       std::to_string(job.epochs_done()) + "/" + std::to_string(job.spec().epochs());
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
  const std::vector<std::string> swept_;
  std::vector<v1::JobState> shown_;  // the state last printed (plain lines)
  bool ended_changed_ = false;
  size_t drawn_ = 0;   // lines drawn last time (terminal)
  bool open_ = false;  // a total line without its newline (terminal)
};

// The jobs `selector` matches (newest first, without their preview
// points), at most `max` (*too_many when there are more).
grpc::Status ListSelected(Connection& conn, const std::string& selector, size_t max,
                          std::vector<v1::Job>* out, bool* too_many) {
  out->clear();
  *too_many = false;
  v1::ListJobsRequest req;
  req.set_label_selector(selector);
  return ForEachJob(conn, req, [&](const v1::Job& job) {
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

// jobs (newest first) by trial: result[i] is trial i+1's newest job, or
// nullptr; pointers into `jobs`.
std::vector<const v1::Job*> JobsByTrial(const std::vector<v1::Job>& jobs, int64_t count) {
  std::vector<const v1::Job*> out(static_cast<size_t>(count), nullptr);
  for (const v1::Job& job : jobs) {
    auto it = job.labels().find("trial");
    if (it == job.labels().end()) continue;
    const int64_t trial = std::strtoll(it->second.c_str(), nullptr, 10);
    if (trial < 1 || trial > count || out[static_cast<size_t>(trial - 1)] != nullptr) continue;
    out[static_cast<size_t>(trial - 1)] = &job;
  }
  return out;
}

grpc::Status GetStudy(Connection& conn, const std::string& id, v1::Study* study) {
  v1::GetStudyRequest req;
  req.set_study_id(id);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  return conn.stub().GetStudy(&ctx, req, study);
}

// Polls the study and its jobs (labelled sweep=NAME and study=ID) once a
// second, showing them, until the study ended and so did its jobs (at
// most kSettleAfterEnd after the study). *study and *jobs (creation
// order): as last read. A server unreachable for kGiveUpAfter fails it.
int Follow(Connection& conn, const SweepPlan& plan, SweepProgress& progress, v1::Study* study,
           std::vector<v1::Job>* jobs) {
  const std::string id = study->id();
  const std::string selector = Selector(plan.name) + ",study=" + id;
  std::optional<Clock::time_point> failing_since, ended_at;
  for (;;) {
    bool too_many = false;
    grpc::Status s = GetStudy(conn, id, study);
    if (s.ok()) s = ListSelected(conn, selector, kMaxLeaderboardJobs, jobs, &too_many);
    if (!s.ok()) {
      if (!failing_since) failing_since = Clock::now();
      if (!Transient(s) || Clock::now() - *failing_since > kGiveUpAfter) {
        progress.Done();
        return conn.Fail("sweep " + plan.name + " (study " + id + ")", s);
      }
      std::this_thread::sleep_for(kPollEvery);
      continue;
    }
    failing_since.reset();
    progress.Update(JobsByTrial(*jobs, plan.count), study->spec().base().epochs());
    if (IsTerminalState(study->state())) {
      if (!ended_at) ended_at = Clock::now();
      const bool all_ended = std::all_of(jobs->begin(), jobs->end(),
                                         [](const v1::Job& j) { return IsTerminalState(j.state()); });
      if (all_ended || Clock::now() - *ended_at > kSettleAfterEnd) break;
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  progress.Done();
  std::reverse(jobs->begin(), jobs->end());  // creation order
  return kExitOk;
}

int ExitCodeOfJobs(const std::vector<v1::Job>& jobs) {
  bool failed = false, cancelled = false;
  for (const auto& j : jobs) {
    failed = failed || j.state() == v1::JOB_STATE_FAILED;
    cancelled = cancelled || j.state() == v1::JOB_STATE_CANCELLED;
  }
  return failed ? kExitJobFailed : cancelled ? kExitJobCancelled : kExitOk;
}

// The jobs' code; a FAILED or CANCELLED study whose jobs all succeeded
// (one was never created) still says so.
int ExitCodeOf(const v1::Study& study, const std::vector<v1::Job>& jobs) {
  const int code = ExitCodeOfJobs(jobs);
  if (code != kExitOk) return code;
  if (study.state() == v1::JOB_STATE_FAILED) return kExitJobFailed;
  if (study.state() == v1::JOB_STATE_CANCELLED) return kExitJobCancelled;
  return kExitOk;
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
  const grpc::Status s = ListSelected(conn, Selector(name), kMaxLeaderboardJobs, &jobs, &too_many);
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

int CheckSweep(const SweepArgs& args) {
  SweepPlan plan;
  return BuildPlan(args, &plan);
}

int Sweep(Connection& conn, const SweepArgs& args) {
  SweepPlan plan;
  if (int rc = BuildPlan(args, &plan); rc != kExitOk) return rc;
  // Progress goes to stdout with the table; with --no-watch (stdout: the
  // name and the study) and json or csv (stdout: the leaderboard) to stderr.
  const bool table = conn.options().output == "table" && !args.no_watch;
  std::ostream& info = table ? std::cout : std::cerr;
  v1::Study study;
  if (int rc = FindOrCreate(conn, plan, info, &study); rc != kExitOk) return rc;
  if (args.no_watch) {
    if (JsonOut(conn)) {
      std::cout << "{\"sweep\":" << JsonString(plan.name) << ",\"study_id\":" << JsonString(study.id())
                << "}" << std::endl;
    } else {
      std::cout << plan.name << " " << study.id() << std::endl;
    }
    return kExitOk;
  }
  const int fd = table ? STDOUT_FILENO : STDERR_FILENO;
  const bool terminal = isatty(fd) != 0;
  NoteSweepGoesOnWhenInterrupted(
      plan.name, study.id(), terminal && plan.count > static_cast<int64_t>(kMaxLinesRedrawn) ? fd : -1);
  SweepProgress progress(info, terminal, plan.name, plan.swept);
  std::vector<v1::Job> jobs;
  const int rc = Follow(conn, plan, progress, &study, &jobs);
  ::signal(SIGINT, SIG_DFL);
  if (rc != kExitOk) return rc;
  if (study.state() != v1::JOB_STATE_SUCCEEDED) {
    std::cerr << "gantry: sweep " << plan.name << ": study " << study.id() << " "
              << StateName(study.state()) << (study.error().empty() ? "" : ": " + study.error()) << "\n";
  }
  PrintLeaderboard(conn, plan.name, jobs);
  return ExitCodeOf(study, jobs);
}

}  // namespace gantry::cli
