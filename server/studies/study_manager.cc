#include "server/studies/study_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/jobs/convert.h"
#include "server/jobs/scheduler.h"
#include "server/store/quota.h"
#include "server/util/clock.h"
#include "server/util/ids.h"
#include "server/jobs/labels.h"
#include "server/studies/study_spec.h"

namespace gantry {

using studies::Plan;
using studies::Result;
using studies::Segment;
using studies::SegmentKey;

struct StudyManager::Loaded {
  studies::Config config;
  std::map<SegmentKey, JobRow> jobs;  // the study's jobs by (trial, segment)
  studies::Results results;
  Plan plan;
  int64_t active = 0;  // jobs QUEUED or RUNNING
};

namespace {

constexpr int kNewIdAttempts = 3;

bool Active(v1::JobState s) { return s == v1::JOB_STATE_QUEUED || s == v1::JOB_STATE_RUNNING; }

std::optional<int64_t> LabelInt(const JobRow& row, const char* key) {
  auto it = row.labels.find(key);
  if (it == row.labels.end()) return std::nullopt;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < 0) return std::nullopt;
  return v;
}

std::string RequestId(const std::string& study, int64_t trial, int64_t index) {
  return "study/" + study + "/" + std::to_string(trial) + "/" + std::to_string(index);
}

// Whether a refused trial creation may succeed later (a full queue, a
// principal's quota, a store that does not answer): the study waits.
// Anything else (a job too large for --max-job-memory, a bad spec) fails it.
bool Transient(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
      return true;
    case StatusCode::kResourceExhausted:
      return IsQuotaRefusal(s) || IsQueueFull(s);
    default:
      return false;
  }
}

// Where a segment job started: its init_from epoch, else 0.
int64_t StartOf(const JobRow& job) { return job.spec.has_init_from() ? job.spec.init_from().epoch() : 0; }

// A SUCCEEDED segment job's result: its objective at its last epoch and,
// with track_best, at its best epoch (the job's select_by is the objective,
// and a checkpoint carries the best so far from the segment it continues,
// so this is the lineage's best up to here); best_so_far decides on that.
studies::Result ResultOf(const studies::Config& c, const std::string& objective, const JobRow& job) {
  studies::Result r;
  if (!job.latest || job.latest->epoch() != job.epochs_done || !job.latest->has_metrics()) return r;
  const std::optional<double> at_end = studies::ObjectiveOf(objective, job.latest->metrics());
  if (!at_end) return r;
  r.ok = true;
  r.objective = r.best = *at_end;
  r.epoch = r.best_epoch = job.latest->epoch();
  if (!c.track_best || job.spec.select_by() != objective) return r;
  if (job.latest->best_epoch() == 0) {
    // No best epoch: none met the privacy limit (max_dcr_share), so there
    // is no result to rank.
    return job.spec.has_max_dcr_share() ? studies::Result{} : r;
  }
  const std::optional<double> best = studies::ObjectiveOf(objective, job.latest->best_metrics());
  if (!best) return r;
  r.best = *best;
  r.best_epoch = job.latest->best_epoch();
  if (c.best_so_far) {
    r.objective = r.best;
    r.epoch = r.best_epoch;
  }
  return r;
}

}  // namespace

StudyManager::StudyManager(StudyOptions options, Store* store, JobManager* jobs)
    : options_(std::move(options)), store_(store), jobs_(jobs) {}

StudyManager::~StudyManager() { Stop(); }

void StudyManager::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  watch_cv_.SignalAll();
  if (controller_.joinable()) controller_.join();
  if (watcher_.joinable()) watcher_.join();
  // Open watches end now, not at their deadlines.
  MutexLock calls(&watch_call_mu_);
  std::map<int64_t, Watcher> open;
  {
    MutexLock lock(&mu_);
    open.swap(watches_);
  }
  const Status down = Status::Unavailable("the server is shutting down; watch the study again");
  for (auto& [key, w] : open) w.fn(down, true);
}

void StudyManager::Start() {
  controller_ = std::thread([this] { ControllerLoop(); });
  watcher_ = std::thread([this] { WatchLoop(); });
}

bool StudyManager::Wait(std::chrono::milliseconds period, bool controller) {
  // One wait: a signal ends it early (the controller's: a new study or a
  // run's end; the watch thread's: a new watch).
  MutexLock lock(&mu_);
  CondVar& cv = controller ? cv_ : watch_cv_;
  if (!stop_ && !(controller && poked_)) cv.WaitUntil(&mu_, std::chrono::steady_clock::now() + period);
  if (controller) poked_ = false;
  return !stop_;
}

void StudyManager::Poke() {
  {
    MutexLock lock(&mu_);
    poked_ = true;
  }
  cv_.SignalAll();
}

StatusOr<v1::Study> StudyManager::Create(const v1::CreateStudyRequest& request,
                                         const std::string& owner) {
  v1::StudySpec spec = request.spec();
  GANTRY_RETURN_IF_ERROR(studies::NormalizeStudySpec(&spec));
  if (request.name().size() > 200) {
    return Status::InvalidArgument("name: " + std::to_string(request.name().size()) +
                                   " characters, more than 200");
  }
  Labels labels(request.labels().begin(), request.labels().end());
  GANTRY_RETURN_IF_ERROR(ValidateLabels(labels));
  if (labels.size() > studies::kMaxStudyLabels) {
    return Status::InvalidArgument("labels: " + std::to_string(labels.size()) +
                                   " labels; a study has at most 13 (its jobs add study, trial and segment)");
  }
  for (const char* reserved : {studies::kStudyLabel, studies::kTrialLabel, studies::kSegmentLabel}) {
    if (labels.count(reserved)) {
      return Status::InvalidArgument(std::string("labels: ") + reserved + " is set by the study on its jobs");
    }
  }
  if (const std::string& table = spec.base().dataset().table().table_id(); !table.empty()) {
    if (auto t = store_->GetTable(table); !t.ok()) {
      if (t.status().code() == StatusCode::kNotFound) {
        return Status::InvalidArgument("base.dataset.table.table_id: table " + table.substr(0, 80) + " not found");
      }
      return t.status();
    }
  } else if (auto core = SpecFromProto(spec.base()); core.ok()) {
    if (Status v = Validate(*core); !v.ok()) return Status::InvalidArgument("base: " + v.message());
  }
  StudyRow row;
  v1::Study& s = row.study;
  s.set_name(request.name());
  *s.mutable_spec() = spec;
  s.set_state(v1::JOB_STATE_RUNNING);
  s.mutable_labels()->insert(labels.begin(), labels.end());
  s.set_owner(owner);
  SetTimestamp(NowNs(), s.mutable_create_time());
  StatusOr<StudyRow> stored = Status::Internal("unreachable");
  for (int attempt = 0; attempt < kNewIdAttempts; ++attempt) {
    s.set_id(NewId("st-"));
    stored = store_->InsertStudy(row);
    if (stored.ok() || stored.status().code() != StatusCode::kAlreadyExists) break;
  }
  if (!stored.ok()) return stored.status();
  spdlog::info("study {} RUNNING: {} over {} parameters", s.id(), spec.algorithm(), spec.space_size());
  Poke();
  return stored->study;
}

StatusOr<StudyManager::Loaded> StudyManager::Load(const StudyRow& row) const {
  Loaded l;
  l.config = studies::ConfigOf(row.study.spec());
  JobsQuery query;
  query.label_selector = std::string(studies::kStudyLabel) + "=" + row.study.id();
  query.page_size = kMaxJobsPageSize;
  for (int page = 0; page < studies::kMaxStudyJobs / kMaxJobsPageSize + 2; ++page) {
    auto rows = jobs_->List(query);
    if (!rows.ok()) return rows.status();
    const size_t n = std::min(rows->size(), static_cast<size_t>(query.page_size));
    for (size_t i = 0; i < n; ++i) {
      JobRow& job = (*rows)[i];
      auto trial = LabelInt(job, studies::kTrialLabel);
      auto segment = LabelInt(job, studies::kSegmentLabel);
      if (!trial || !segment) continue;
      const SegmentKey key{*trial, *segment};
      // Only the jobs the study created (their request id; labels alone
      // anyone can set).
      if (job.request_id != RequestId(row.study.id(), *trial, *segment) ||
          job.created_by != row.study.owner()) {
        continue;
      }
      if (Active(job.state)) {
        ++l.active;
      } else if (job.state == v1::JOB_STATE_SUCCEEDED) {
        l.results[key] = ResultOf(l.config, row.study.spec().objective(), job);
      } else {
        l.results[key] = Result{};  // FAILED or CANCELLED
      }
      l.jobs[key] = std::move(job);
    }
    if (rows->size() <= n) break;
    query.before_index = (*rows)[n - 1].index;
  }
  l.plan = studies::MakePlan(l.config, l.results);
  return l;
}

v1::Study StudyManager::View(const StudyRow& row, const Loaded& l) const {
  v1::Study s = row.study;
  s.clear_trials();
  const bool ended = s.state() != v1::JOB_STATE_RUNNING;
  std::map<int64_t, int> at;  // trial number -> its place in s.trials
  v1::StudySummary summary;
  const Segment* best = nullptr;
  Result best_result;
  for (const Segment& seg : l.plan.segments) {
    auto [it, added] = at.emplace(seg.trial, s.trials_size());
    if (added) s.add_trials()->set_number(seg.trial);
    v1::Trial& t = *s.mutable_trials(it->second);
    v1::TrialSegment& ts = *t.add_segments();
    ts.set_start_epoch(seg.start);
    ts.set_end_epoch(seg.end);
    ts.set_parent_trial(seg.parent_trial);
    ts.mutable_params()->insert(seg.params.begin(), seg.params.end());
    t.mutable_params()->clear();
    t.mutable_params()->insert(seg.params.begin(), seg.params.end());
    auto job = l.jobs.find({seg.trial, seg.index});
    if (job == l.jobs.end()) {
      t.set_status("pending");
      continue;
    }
    const JobRow& j = job->second;
    ts.set_job_id(j.id);
    ts.set_state(j.state);
    ts.set_epochs_done(j.epochs_done);
    t.set_epochs(t.epochs() + std::max<int64_t>(0, j.epochs_done - StartOf(j)));
    auto r = l.results.find({seg.trial, seg.index});
    if (r != l.results.end() && r->second.ok) {
      // The metrics where the objective was measured: the job's best
      // epoch's (a trial's best so far), else its last epoch's.
      const bool at_best = r->second.epoch > 0 && r->second.epoch != j.latest->epoch();
      const v1::Metrics& metrics = at_best ? j.latest->best_metrics() : j.latest->metrics();
      ts.set_objective(r->second.objective);
      ts.set_objective_epoch(r->second.epoch > 0 ? r->second.epoch : seg.end);
      *ts.mutable_metrics() = metrics;
      t.set_objective(r->second.objective);
      *t.mutable_metrics() = metrics;
      // The study's best: the best of every result's lineage best.
      Result as_best = r->second;
      as_best.objective = as_best.best;
      if (best == nullptr || studies::Better(l.config, as_best, best_result)) {
        best = &seg;
        best_result = as_best;
      }
    }
    switch (j.state) {
      case v1::JOB_STATE_QUEUED: t.set_status("queued"); break;
      case v1::JOB_STATE_RUNNING: t.set_status("running"); break;
      case v1::JOB_STATE_FAILED: t.set_status("failed"); break;
      case v1::JOB_STATE_CANCELLED: t.set_status("cancelled"); break;
      default:
        if (seg.end >= l.config.epochs || j.epochs_done < j.spec.epochs()) {
          t.set_status("done");
        } else {
          t.set_status(ended || l.plan.done ? "stopped" : "paused");
        }
    }
  }
  summary.set_trials(s.trials_size());
  summary.set_jobs(static_cast<int64_t>(l.jobs.size()));
  int64_t spent = 0;
  for (const auto& [key, job] : l.jobs) spent += std::max<int64_t>(0, job.epochs_done - StartOf(job));
  summary.set_epochs_spent(spent);
  if (best != nullptr) {
    const int64_t epoch = best_result.best_epoch > 0 ? best_result.best_epoch : best->end;
    // The segment that trained that epoch: the best one, or an earlier one
    // of its lineage (a trial's best so far; for PBT, perhaps another
    // member's before an exploit: its trial is the best trial, which is
    // what replaying the best follows).
    const Segment* holder = LineageSegment(l.plan, *best, epoch);
    summary.set_best_trial(holder->trial);
    summary.set_best_objective(best_result.objective);
    summary.set_best_epoch(epoch);
    auto job = l.jobs.find({holder->trial, holder->index});
    if (job != l.jobs.end()) summary.set_best_job_id(job->second.id);
  }
  *s.mutable_summary() = summary;
  return s;
}

StatusOr<v1::Study> StudyManager::Get(const std::string& id) const {
  auto row = store_->GetStudy(id);
  if (!row.ok()) return row.status();
  auto loaded = Load(*row);
  if (!loaded.ok()) return loaded.status();
  return View(*row, *loaded);
}

StatusOr<std::vector<StudyRow>> StudyManager::List(const StudyQuery& query) const {
  return store_->ListStudies(query);
}

StatusOr<v1::Study> StudyManager::Cancel(const std::string& id) {
  MutexLock serial(&reconcile_mu_);
  auto ended = store_->EndStudy(id, v1::JOB_STATE_CANCELLED, "", NowNs());
  if (!ended.ok()) return ended.status();
  spdlog::info("study {} CANCELLED", id);
  auto loaded = Load(*ended);
  if (!loaded.ok()) return loaded.status();  // the controller's next look sweeps its jobs
  EndJobs(loaded->jobs);
  return View(*ended, *loaded);
}

Status StudyManager::Delete(const std::string& id) {
  auto row = store_->GetStudy(id);
  if (!row.ok()) return row.status();
  if (row->study.state() == v1::JOB_STATE_RUNNING) {
    return Status::FailedPrecondition("study " + id + " is RUNNING; cancel it before deleting it");
  }
  auto loaded = Load(*row);
  if (!loaded.ok()) return loaded.status();
  for (const auto& [key, job] : loaded->jobs) {
    if (Active(job.state)) {
      return Status::FailedPrecondition("study " + id + ": its job " + job.id + " is still " +
                                        JobStateName(job.state) + "; try again once it has ended");
    }
  }
  for (const auto& [key, job] : loaded->jobs) {
    Status deleted = jobs_->Delete(job.id);
    if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  }
  GANTRY_RETURN_IF_ERROR(store_->DeleteStudy(id));
  spdlog::info("study {} deleted with {} jobs", id, loaded->jobs.size());
  return Status::Ok();
}

StatusOr<v1::JobSpec> StudyManager::ReplaySpec(const std::string& id, int64_t* trial_io) const {
  int64_t& trial = *trial_io;
  auto row = store_->GetStudy(id);
  if (!row.ok()) return row.status();
  auto loaded = Load(*row);
  if (!loaded.ok()) return loaded.status();
  // The best result's segment (trial 0), else the trial's last finished one.
  int64_t up_to = 0;
  if (trial == 0) {
    const v1::StudySummary summary = View(*row, *loaded).summary();
    trial = summary.best_trial();
    up_to = summary.best_epoch();
    if (trial == 0) return Status::FailedPrecondition("study " + id + " has no result yet");
  }
  const Segment* last = nullptr;
  int64_t trials = 0;
  for (const Segment& s : loaded->plan.segments) {
    trials = std::max(trials, s.trial);
    auto r = loaded->results.find({s.trial, s.index});
    if (s.trial == trial && r != loaded->results.end() && r->second.ok &&
        (up_to == 0 || s.start < up_to)) {
      last = &s;  // the trial's last finished segment, or the one that holds up_to
    }
  }
  if (trial > trials) {
    return Status::NotFound("study " + id + " has no trial " + std::to_string(trial) + " (it has " +
                            std::to_string(trials) + ")");
  }
  if (last == nullptr) {
    return Status::FailedPrecondition("study " + id + ": trial " + std::to_string(trial) +
                                      " has no finished segment to replay");
  }
  // Its lineage, from the first segment trained from scratch.
  std::vector<const Segment*> chain = studies::Lineage(loaded->plan, *last);
  if (chain.back()->parent_trial > 0) return Status::Internal("study " + id + ": a lineage is broken");
  std::reverse(chain.begin(), chain.end());
  Segment first = *chain.front();
  first.end = up_to > 0 ? std::min(up_to, last->end) : last->end;
  first.parent_trial = 0;
  auto spec = studies::SegmentSpec(row->study.spec(), first, "");
  if (!spec.ok()) return spec.status();
  spec->clear_keep_checkpoint();
  for (size_t i = 1; i < chain.size(); ++i) {
    if (chain[i]->params == chain[i - 1]->params) continue;
    v1::SpecChange* change = spec->add_schedule();
    change->set_after_epoch(chain[i]->start);
    for (const auto& [name, value] : chain[i]->params) {
      auto before = chain[i - 1]->params.find(name);
      if (before == chain[i - 1]->params.end() || before->second != value) {
        (*change->mutable_params())[name] = value;
      }
    }
  }
  return spec;
}

bool StudyManager::Reconcile(StudyRow* row) {
  MutexLock serial(&reconcile_mu_);
  const std::string& id = row->study.id();
  // Ended (a cancel) or taken over since the last tick: nothing to do here.
  auto now = store_->GetStudy(id);
  if (!now.ok()) {
    if (now.status().code() == StatusCode::kNotFound) return false;
    spdlog::warn("study {}: reading it: {}", id, now.status().message());
    return true;
  }
  if (now->study.state() != v1::JOB_STATE_RUNNING) {
    // Ended elsewhere (a cancel): its jobs end and their checkpoints go,
    // whatever the canceller managed (idempotent).
    if (auto ended = Load(*now); ended.ok()) EndJobs(ended->jobs);
    return false;
  }
  if (now->lease != row->lease) {
    spdlog::info("study {}: no longer held here (lease {})", id, now->lease);
    return false;
  }
  if (now->study.spec().plan_version() > studies::kPlanVersion) {
    // A newer server's study: its decisions are not this server's to take.
    // Its lease lapses; this server never claims it again.
    spdlog::warn("study {}: plan version {} is newer than this server's ({}); left to a newer server", id,
                 now->study.spec().plan_version(), studies::kPlanVersion);
    if (too_new_.size() >= static_cast<size_t>(kMaxRunningStudies)) too_new_.clear();
    too_new_.insert(id);
    return false;
  }
  auto loaded = Load(*row);
  if (!loaded.ok()) {
    spdlog::warn("study {}: reading its jobs: {}", id, loaded.status().message());
    return true;
  }
  Loaded& l = *loaded;
  const v1::StudySpec& spec = row->study.spec();
  const std::string& owner = row->study.owner();
  std::optional<Quota> quota = options_.quota_of ? options_.quota_of(owner) : Quota();
  std::string failure;
  bool created_any = false;
  for (const Segment& seg : l.plan.segments) {
    const SegmentKey key{seg.trial, seg.index};
    if (l.jobs.count(key)) continue;
    if (l.active >= spec.concurrency()) break;
    if (!quota) {
      failure = "its owner " + owner + " is no longer a principal of this server";
      break;
    }
    std::string parent_id;
    if (seg.parent_trial > 0) {
      auto parent = l.jobs.find({seg.parent_trial, seg.parent_index});
      if (parent == l.jobs.end()) {
        failure = "trial " + std::to_string(seg.trial) + ": the job it starts from is gone";
        break;
      }
      parent_id = parent->second.id;
    }
    auto job_spec = studies::SegmentSpec(spec, seg, parent_id);
    if (!job_spec.ok()) {
      failure = "trial " + std::to_string(seg.trial) + ": " + job_spec.status().message();
      break;
    }
    NewJob job;
    job.spec = *std::move(job_spec);
    job.name = (row->study.name().empty() ? id : row->study.name()) + " trial " +
               std::to_string(seg.trial) + (seg.index > 0 ? "." + std::to_string(seg.index) : "");
    if (job.name.size() > 200) job.name = id + " trial " + std::to_string(seg.trial);
    job.request_id = RequestId(id, seg.trial, seg.index);
    job.labels.insert(row->study.labels().begin(), row->study.labels().end());
    job.labels[studies::kStudyLabel] = id;
    job.labels[studies::kTrialLabel] = std::to_string(seg.trial);
    job.labels[studies::kSegmentLabel] = std::to_string(seg.index);
    job.created_by = owner;
    job.quota = *quota;
    auto created = jobs_->Create(job);
    if (!created.ok()) {
      if (Transient(created.status())) {
        spdlog::debug("study {}: trial {} waits: {}", id, seg.trial, created.status().message());
        break;  // the queue or a quota is full, or the store or server is busy: next tick
      }
      failure = "trial " + std::to_string(seg.trial) + " segment " + std::to_string(seg.index) +
                ": " + created.status().message();
      break;
    }
    spdlog::info("study {}: trial {} segment {} (epochs {}..{}) is job {}", id, seg.trial,
                 seg.index, seg.start + 1, seg.end, created->id);
    if (Active(created->state)) ++l.active;
    l.jobs[key] = *std::move(created);
    created_any = true;
  }
  if (created_any) {
    // A cancel or delete (another replica's) that came while jobs were
    // being created: they end too.
    auto again = store_->GetStudy(id);
    if (again.status().code() == StatusCode::kNotFound ||
        (again.ok() && again->study.state() != v1::JOB_STATE_RUNNING)) {
      CancelActive(l.jobs);
      return false;
    }
  }
  v1::Study view = View(*row, l);
  StudyRow next = *row;
  *next.study.mutable_summary() = view.summary();
  const bool done = !failure.empty() || (l.plan.done && l.active == 0);
  if (done) {
    if (!failure.empty()) {
      next.study.set_state(v1::JOB_STATE_FAILED);
      next.study.set_error(failure);
    } else if (view.summary().best_trial() == 0) {
      next.study.set_state(v1::JOB_STATE_FAILED);
      next.study.set_error("no trial has a result: every one failed");
    } else {
      next.study.set_state(v1::JOB_STATE_SUCCEEDED);
    }
    SetTimestamp(NowNs(), next.study.mutable_end_time());
  }
  // The summary is stored when a decision or result changed it, else at
  // most every few seconds (epochs_spent moves every epoch).
  v1::StudySummary stored = row->study.summary(), fresh = next.study.summary();
  const bool progress_only = fresh.epochs_spent() != stored.epochs_spent();
  stored.clear_epochs_spent();
  fresh.clear_epochs_spent();
  const bool changed = fresh.SerializeAsString() != stored.SerializeAsString();
  const auto now_tp = std::chrono::steady_clock::now();
  if (!done && !changed && (!progress_only || now_tp - last_summary_[id] < kSummaryEvery)) {
    return true;
  }
  Status updated = store_->UpdateStudy(next);
  if (!updated.ok()) {
    if (updated.code() == StatusCode::kFailedPrecondition || updated.code() == StatusCode::kNotFound) {
      spdlog::info("study {}: no longer held here ({})", id, updated.message());
      return false;
    }
    spdlog::warn("study {}: storing its progress: {}", id, updated.message());
    return true;
  }
  *row = next;
  last_summary_[id] = now_tp;
  if (done) {
    spdlog::info("study {} {}{}{}", id, JobStateName(next.study.state()),
                 next.study.error().empty() ? "" : ": ", next.study.error());
    EndJobs(l.jobs);  // stored as ended under this lease
    return false;
  }
  return true;
}

void StudyManager::EndJobs(const std::map<studies::SegmentKey, JobRow>& jobs) {
  CancelActive(jobs);
  // An ended study resumes nowhere: promotions and exploits are over (a
  // replay trains from scratch), so the kept checkpoints go.
  for (const auto& [key, job] : jobs) DeleteCheckpoints(store_, job.id, 0);
}

void StudyManager::CancelActive(const std::map<studies::SegmentKey, JobRow>& jobs) {
  for (const auto& [key, job] : jobs) {
    if (!Active(job.state)) continue;
    auto cancelled = jobs_->Cancel(job.id);
    if (!cancelled.ok() && cancelled.status().code() != StatusCode::kFailedPrecondition) {
      spdlog::warn("cancelling job {}: {}", job.id, cancelled.status().message());
    }
  }
}

void StudyManager::ControllerLoop() {
  std::map<std::string, StudyRow> held;
  const int64_t lease_ns = options_.lease_ms * 1'000'000;
  auto renewed = std::chrono::steady_clock::now();
  do {
    while (static_cast<int64_t>(held.size()) < kMaxRunningStudies) {
      std::vector<std::string> skip(too_new_.begin(), too_new_.end());
      for (const auto& [id, row] : held) skip.push_back(id);
      auto claimed = store_->ClaimStudy(options_.holder, lease_ns, skip);
      if (!claimed.ok()) {
        spdlog::warn("claiming a study: {}", claimed.status().message());
        break;
      }
      if (!claimed->has_value()) break;
      spdlog::info("study {} held here (lease {})", (*claimed)->study.id(), (*claimed)->lease);
      held[(*claimed)->study.id()] = **claimed;
    }
    if (std::chrono::steady_clock::now() - renewed >= std::chrono::milliseconds(options_.lease_ms / 3)) {
      renewed = std::chrono::steady_clock::now();
      for (auto it = held.begin(); it != held.end();) {
        Status s = store_->RenewStudy(it->first, it->second.lease, lease_ns);
        if (s.code() == StatusCode::kFailedPrecondition || s.code() == StatusCode::kNotFound) {
          spdlog::info("study {}: its lease is gone ({})", it->first, s.message());
          last_summary_.erase(it->first);
          it = held.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto it = held.begin(); it != held.end();) {
      if (Reconcile(&it->second)) {
        ++it;
      } else {
        last_summary_.erase(it->first);
        it = held.erase(it);
      }
    }
  } while (Wait(options_.tick, /*controller=*/true));
}

StatusOr<std::unique_ptr<StudyManager::Watch>> StudyManager::WatchStudy(const std::string& id,
                                                                        WatchFn fn) {
  auto row = store_->GetStudy(id);
  if (!row.ok()) return row.status();
  MutexLock lock(&mu_);
  if (static_cast<int>(watches_.size()) >= kMaxStudyWatches) {
    return Status::ResourceExhausted(std::to_string(kMaxStudyWatches) +
                                     " study watches are open, the most this server keeps");
  }
  const int64_t key = next_watch_++;
  watches_[key] = Watcher{id, std::move(fn), 0, false};
  watch_cv_.SignalAll();
  return std::unique_ptr<Watch>(new Watch(this, key));
}

StudyManager::Watch::~Watch() {
  MutexLock calls(&manager_->watch_call_mu_);
  MutexLock lock(&manager_->mu_);
  manager_->watches_.erase(key_);
}

void StudyManager::WatchLoop() {
  do {
    std::map<std::string, std::vector<int64_t>> by_study;
    {
      MutexLock lock(&mu_);
      for (const auto& [key, w] : watches_) by_study[w.id].push_back(key);
    }
    for (const auto& [id, keys] : by_study) {
      StatusOr<v1::Study> study = Get(id);
      const size_t bytes = study.ok() ? std::hash<std::string>()(study->SerializeAsString()) : 0;
      const bool last = !study.ok() || study->state() != v1::JOB_STATE_RUNNING;
      MutexLock calls(&watch_call_mu_);
      for (int64_t key : keys) {
        WatchFn fn;
        {
          MutexLock lock(&mu_);
          auto it = watches_.find(key);
          if (it == watches_.end() || (study.ok() && it->second.sent && it->second.last == bytes)) continue;
          it->second.sent = true;
          it->second.last = bytes;
          fn = it->second.fn;
          if (last) watches_.erase(it);
        }
        fn(study, last);
      }
    }
  } while (Wait(std::chrono::milliseconds(500), /*controller=*/false));
}

}  // namespace gantry
