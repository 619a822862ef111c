#include "server/job_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/datasets.h"
#include "core/memory.h"
#include "core/trainer.h"
#include "server/convert.h"
#include "server/files.h"
#include "server/page_token.h"
#include "server/safe_text.h"

namespace gantry {
namespace {

using SystemClock = std::chrono::system_clock;

constexpr size_t kMaxNameLength = 200;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxKeptSnapshots = 1000;

// Characters (UTF-8 code points), not bytes: 200 emoji are a valid name.
size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// What a request_id retry must repeat: the effective spec (defaults filled
// in, so spelling one out changes nothing) and the name.
std::string Fingerprint(const v1::JobSpec& effective_spec, const std::string& name) {
  return effective_spec.SerializeAsString() + '\0' + name;
}


std::string NewJobId() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::lock_guard<std::mutex> lock(mu);
  std::string id = "j-";
  for (int i = 0; i < 10; ++i) id += kAlphabet[rng() % 36];
  return id;
}

v1::JobEvent StateEvent(v1::JobState state, const std::string& error) {
  v1::JobEvent ev;
  ev.mutable_state()->set_state(state);
  ev.mutable_state()->set_error(error);
  return ev;
}

int64_t ToNs(SystemClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SystemClock::time_point FromNs(int64_t ns) {
  return SystemClock::time_point(std::chrono::duration_cast<SystemClock::duration>(
      std::chrono::nanoseconds(ns)));
}

}  // namespace

struct JobManager::JobRecord {
  std::string id;
  int64_t index = 0;
  std::string name;
  std::string request_id;
  std::string request_fingerprint;  // serialized spec + name, for request_id retries
  JobSpec spec;
  v1::JobSpec spec_proto;
  int64_t memory_bytes = 0;  // EstimateMemory(spec).total(): what admission reserves
  std::shared_ptr<EventLog> events;
  std::atomic<bool> stop{false};  // user cancel: the trainer stops between batches
  // The rest is guarded by JobManager::mu_ (or owned by the job's worker).
  v1::JobState state = v1::JOB_STATE_QUEUED;
  bool cancel_requested = false;
  bool resume = false;            // RUNNING when the server last stopped
  std::string error;
  SystemClock::time_point create_time, start_time, end_time;
  int64_t epochs_done = 0;
  v1::EpochReport latest;
  std::shared_ptr<const GeneratorSnapshot> latest_snapshot;
  // Kept snapshots; a null pointer is one on disk, read when asked for.
  std::map<int64_t, std::shared_ptr<const GeneratorSnapshot>> kept;
  // The one kept snapshot last read from disk (so that a client sampling
  // one epoch repeatedly reads it once, and memory holds at most one).
  std::shared_ptr<const GeneratorSnapshot> loaded;
  std::map<int64_t, std::string> kept_files;
};

StatusOr<std::unique_ptr<JobManager>> JobManager::Create(ManagerOptions options, JobStore* store,
                                                        Metrics* metrics) {
  std::unique_ptr<JobManager> m(new JobManager(options, store, metrics));
  if (store != nullptr) GANTRY_RETURN_IF_ERROR(m->Recover());
  return m;
}

JobManager::JobManager(ManagerOptions options, JobStore* store, Metrics* metrics)
    : options_(options), store_(store), metrics_(metrics) {}

void JobManager::CountState(v1::JobState from, v1::JobState to) {
  if (metrics_ != nullptr) metrics_->JobState(from, to);
}

void JobManager::Start() {
  for (int i = 0; i < options_.max_concurrent_jobs; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  if (store_ != nullptr && (options_.retention_seconds > 0 || options_.retention_count > 0)) {
    janitor_ = std::thread([this] { JanitorLoop(); });
  }
}

JobManager::~JobManager() { Drain(); }

Status JobManager::Recover() {
  auto stored = store_->LoadAll();
  if (!stored.ok()) return stored.status();
  std::lock_guard<std::mutex> lock(mu_);
  int queued = 0, resumed = 0;
  for (StoredJob& s : *stored) {
    auto job = std::make_shared<JobRecord>();
    const JobRow& r = s.row;
    job->id = r.id;
    job->index = r.index;
    job->name = r.name;
    job->request_id = r.request_id;
    job->request_fingerprint = Fingerprint(r.spec, r.name);
    auto spec = SpecFromProto(r.spec);
    if (!spec.ok()) return Status::DataLoss("job " + r.id + ": " + spec.status().message());
    job->spec = std::move(spec).value();
    job->spec_proto = r.spec;
    job->memory_bytes = EstimateMemory(job->spec).total();
    job->state = r.state;
    job->error = r.error;
    job->create_time = FromNs(r.create_ns);
    if (r.start_ns) job->start_time = FromNs(r.start_ns);
    if (r.end_ns) job->end_time = FromNs(r.end_ns);
    job->epochs_done = r.epochs_done;
    if (r.latest) job->latest = *r.latest;
    job->events = std::make_shared<EventLog>(job->id);
    for (auto& ev : s.events) job->events->Restore(std::move(ev));
    for (const auto& [epoch, path] : store_->Snapshots(job->id)) {
      job->kept_files[epoch] = path;
      job->kept[epoch] = nullptr;
    }
    jobs_[job->id] = job;
    by_index_[job->index] = job;
    CountState(v1::JOB_STATE_UNSPECIFIED, job->state);
    next_index_ = std::max(next_index_, job->index + 1);
    if (!job->request_id.empty()) request_ids_[job->request_id] = job->id;
    if (job->state == v1::JOB_STATE_QUEUED) {
      queue_.push_back(job);
      ++queued;
    } else if (job->state == v1::JOB_STATE_RUNNING) {
      job->resume = true;
      queue_.push_back(job);
      ++resumed;
    }
  }
  std::stable_sort(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) {
    return a->resume > b->resume;  // resume interrupted jobs first
  });
  spdlog::info("recovered {} jobs from {}: {} to resume, {} queued", stored->size(), store_->dir(),
               resumed, queued);
  return Status::Ok();
}

StatusOr<std::shared_ptr<JobManager::JobRecord>> JobManager::Find(const std::string& id) const {
  if (id.empty()) return Status::InvalidArgument("job_id: must not be empty");
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("job " + SafeText(id) + " not found");
  return it->second;
}

v1::Job JobManager::ToProto(const JobRecord& j) const {
  v1::Job out;
  out.set_id(j.id);
  out.set_name(j.name);
  out.set_state(j.state);
  *out.mutable_spec() = j.spec_proto;
  out.set_epochs_done(j.epochs_done);
  if (j.epochs_done > 0) *out.mutable_latest() = j.latest;
  out.set_error(j.error);
  SetTimestamp(j.create_time, out.mutable_create_time());
  if (j.start_time.time_since_epoch().count() != 0) SetTimestamp(j.start_time, out.mutable_start_time());
  if (j.end_time.time_since_epoch().count() != 0) SetTimestamp(j.end_time, out.mutable_end_time());
  out.set_last_seq(j.events->last_seq());
  out.set_memory_estimate_bytes(j.memory_bytes);
  return out;
}

JobRow JobManager::RowOf(const JobRecord& j) const {
  JobRow r;
  r.id = j.id;
  r.index = j.index;
  r.name = j.name;
  r.request_id = j.request_id;
  r.request_fingerprint = j.request_fingerprint;
  r.spec = j.spec_proto;
  r.state = j.state;
  r.error = j.error;
  r.create_ns = ToNs(j.create_time);
  r.start_ns = j.start_time.time_since_epoch().count() ? ToNs(j.start_time) : 0;
  r.end_ns = j.end_time.time_since_epoch().count() ? ToNs(j.end_time) : 0;
  r.epochs_done = j.epochs_done;
  if (j.epochs_done > 0) r.latest = j.latest;
  return r;
}

Status JobManager::Publish(JobRecord& job, v1::JobEvent event) {
  job.events->Stamp(&event);
  if (store_ != nullptr) {
    const Status s = store_->RecordEvent(RowOf(job), event);
    if (!s.ok()) {
      spdlog::error("job {}: event {} not stored: {}", job.id, event.seq(), s.message());
      return s;
    }
  }
  job.events->Append(std::move(event));
  return Status::Ok();
}

void JobManager::FailUnstored(JobRecord& job, const Status& cause) {
  // The store could not record the job's progress (a full disk, say). The
  // job stops; its end is published to watchers but not stored, so on the
  // next start the job resumes from what was stored, with no gap in its
  // stored events.
  job.stop = true;
  CountState(job.state, v1::JOB_STATE_FAILED);
  job.state = v1::JOB_STATE_FAILED;
  job.error = "cannot store the job's progress: " + cause.message();
  job.end_time = SystemClock::now();
  job.events->Append(StateEvent(job.state, job.error));
  spdlog::error("job {} FAILED (not stored; it resumes on restart): {}", job.id, job.error);
}

void JobManager::SetState(JobRecord& job, v1::JobState state, const std::string& error) {
  CountState(job.state, state);
  job.state = state;
  job.error = error;
  const auto now = SystemClock::now();
  if (state == v1::JOB_STATE_RUNNING) job.start_time = now;
  if (IsTerminal(state)) {
    job.end_time = now;
    // An ended job resumes nowhere: its generator snapshots stay, its
    // trainer checkpoints go.
    if (store_ != nullptr) store_->DeleteCheckpoints(job.id);
  }
  if (const Status s = Publish(job, StateEvent(state, error)); !s.ok()) {
    FailUnstored(job, s);
    return;
  }
  if (error.empty()) {
    spdlog::info("job {} {}", job.id, JobStateName(state));
  } else {
    spdlog::warn("job {} {}: {}", job.id, JobStateName(state), error);
  }
}

StatusOr<v1::Job> JobManager::Create(const v1::CreateJobRequest& request) {
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"name", &request.name()},
                                     {"request_id", &request.request_id()}}) {
    const size_t chars = Utf8Length(*value);
    if (chars > kMaxNameLength || value->size() > 4 * kMaxNameLength) {
      return Status::InvalidArgument(std::string(field) + ": " + std::to_string(chars) +
                                     " characters is out of range 0..200");
    }
  }
  auto spec = SpecFromProto(request.spec());
  if (!spec.ok()) return spec.status();
  GANTRY_RETURN_IF_ERROR(Validate(*spec));
  const MemoryEstimate memory = EstimateMemory(*spec);

  auto job = std::make_shared<JobRecord>();
  job->spec = std::move(spec).value();
  job->memory_bytes = memory.total();
  job->spec_proto = SpecToProto(job->spec);
  job->name = request.name();
  job->request_id = request.request_id();
  job->request_fingerprint = Fingerprint(job->spec_proto, request.name());

  std::lock_guard<std::mutex> lock(mu_);
  if (!request.request_id().empty()) {
    auto it = request_ids_.find(request.request_id());
    if (it != request_ids_.end()) {
      auto existing = jobs_.find(it->second);
      if (existing != jobs_.end()) {
        if (existing->second->request_fingerprint != job->request_fingerprint) {
          return Status::AlreadyExists("request_id " + request.request_id() +
                                       " was used for job " + it->second +
                                       " with a different spec or name");
        }
        return ToProto(*existing->second);
      }
    }
  }
  if (draining_) return Status::Unavailable("the server is shutting down; no new jobs");
  for (const auto& [flag, limit] : {std::pair<const char*, int64_t>{"--max-job-memory", options_.max_job_memory},
                                    {"--max-memory", options_.max_memory}}) {
    if (limit > 0 && memory.total() > limit) {
      return Status::ResourceExhausted("the job needs an estimated " + memory.ToString() +
                                       ", more than " + flag + " " + FormatBytes(limit) +
                                       "; use smaller layers, batches or data");
    }
  }
  const int idle = options_.max_concurrent_jobs - running_;
  if (static_cast<int>(queue_.size()) >= options_.max_queued_jobs + std::max(0, idle)) {
    return Status::ResourceExhausted("the queue is full: " + std::to_string(queue_.size()) +
                                     " jobs are waiting (--max-queued-jobs " +
                                     std::to_string(options_.max_queued_jobs) + ")");
  }
  do {
    job->id = NewJobId();
  } while (jobs_.count(job->id) != 0);
  job->index = next_index_;
  job->create_time = SystemClock::now();
  job->events = std::make_shared<EventLog>(job->id);
  v1::JobEvent queued = StateEvent(v1::JOB_STATE_QUEUED, "");
  job->events->Stamp(&queued);
  if (store_ != nullptr) GANTRY_RETURN_IF_ERROR(store_->InsertJob(RowOf(*job), queued));
  ++next_index_;
  job->events->Append(std::move(queued));
  jobs_[job->id] = job;
  by_index_[job->index] = job;
  if (!request.request_id().empty()) request_ids_[request.request_id()] = job->id;
  queue_.push_back(job);
  CountState(v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_QUEUED);
  spdlog::info("job {} QUEUED", job->id);
  work_cv_.notify_all();
  return ToProto(*job);
}

StatusOr<v1::Job> JobManager::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = Find(id);
  if (!job.ok()) return job.status();
  return ToProto(**job);
}

StatusOr<v1::ListJobsResponse> JobManager::List(const v1::ListJobsRequest& request) const {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return Status::InvalidArgument("page_size: " + std::to_string(request.page_size()) +
                                   " is out of range 0..1000");
  }
  if (!v1::JobState_IsValid(request.state())) {
    return Status::InvalidArgument("state: " + std::to_string(request.state()) +
                                   " is not a JobState");
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  int64_t start = INT64_MAX;
  if (!request.page_token().empty()) GANTRY_RETURN_IF_ERROR(ParsePageToken(request.page_token(), &start));
  v1::ListJobsResponse out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = std::make_reverse_iterator(by_index_.upper_bound(start)); it != by_index_.rend();
       ++it) {
    const JobRecord& j = *it->second;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && j.state != request.state()) continue;
    if (out.jobs_size() == page_size) {
      out.set_next_page_token(MakePageToken(j.index));
      break;
    }
    *out.add_jobs() = ToProto(j);
  }
  return out;
}

StatusOr<v1::Job> JobManager::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = Find(id);
  if (!found.ok()) return found.status();
  JobRecord& job = **found;
  if (IsTerminal(job.state)) {
    return Status::FailedPrecondition("job " + id + " has already ended (" +
                                      JobStateName(job.state) + ")");
  }
  job.cancel_requested = true;
  job.stop = true;
  if (job.state == v1::JOB_STATE_QUEUED) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), *found), queue_.end());
    SetState(job, v1::JOB_STATE_CANCELLED);
    work_cv_.notify_all();  // the next job may fit now
  }
  return ToProto(job);
}

Status JobManager::DeleteLocked(const std::string& id) {
  auto found = Find(id);
  if (!found.ok()) return found.status();
  const JobRecord& job = **found;
  if (!IsTerminal(job.state)) {
    return Status::FailedPrecondition("job " + id + " is " + JobStateName(job.state) +
                                      "; cancel it before deleting it");
  }
  if (store_ != nullptr) GANTRY_RETURN_IF_ERROR(store_->DeleteJob(id));
  if (!job.request_id.empty()) request_ids_.erase(job.request_id);
  by_index_.erase(job.index);
  CountState(job.state, v1::JOB_STATE_UNSPECIFIED);
  jobs_.erase(id);
  spdlog::info("job {} deleted", id);
  return Status::Ok();
}

Status JobManager::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return DeleteLocked(id);
}

int JobManager::ApplyRetention() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<SystemClock::time_point, std::string>> ended;
  for (const auto& [id, job] : jobs_) {
    if (IsTerminal(job->state)) ended.push_back({job->end_time, id});
  }
  std::sort(ended.rbegin(), ended.rend());  // newest first
  const auto now = SystemClock::now();
  int deleted = 0;
  for (size_t i = 0; i < ended.size(); ++i) {
    const bool too_many = options_.retention_count > 0 &&
                          static_cast<int64_t>(i) >= options_.retention_count;
    const bool too_old = options_.retention_seconds > 0 &&
                         ended[i].first < now - std::chrono::seconds(options_.retention_seconds);
    if ((too_many || too_old) && DeleteLocked(ended[i].second).ok()) ++deleted;
  }
  if (deleted > 0) spdlog::info("retention deleted {} ended jobs", deleted);
  return deleted;
}

void JobManager::JanitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!draining_) {
    lock.unlock();
    ApplyRetention();
    lock.lock();
    work_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return draining_.load(); });
  }
}

StatusOr<std::shared_ptr<EventLog>> JobManager::Events(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = Find(id);
  if (!found.ok()) return found.status();
  return (*found)->events;
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> JobManager::Snapshot(
    const std::string& id, std::optional<int64_t> epoch) const {
  std::string path;
  int64_t want = 0;
  std::shared_ptr<JobRecord> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = Find(id);
    if (!found.ok()) return found.status();
    job = *found;
    const int64_t latest = job->latest_snapshot ? job->latest_snapshot->epoch()
                           : job->kept.empty() ? 0
                                               : job->kept.rbegin()->first;
    if (latest == 0) {
      return Status::FailedPrecondition("job " + id + " has no trained epoch yet (" +
                                        JobStateName(job->state) + ")");
    }
    want = epoch.value_or(latest);
    if (want < 1) {
      return Status::InvalidArgument("epoch: " + std::to_string(want) +
                                     " is out of range 1.." + std::to_string(job->spec.epochs));
    }
    if (job->latest_snapshot && want == job->latest_snapshot->epoch()) return job->latest_snapshot;
    auto it = job->kept.find(want);
    if (it == job->kept.end()) {
      std::string kept;
      for (const auto& [e, _] : job->kept) {
        if (kept.size() > 200) { kept += ", ..."; break; }
        kept += (kept.empty() ? "" : ", ") + std::to_string(e);
      }
      return Status::NotFound("epoch: no snapshot of job " + id + " is kept for epoch " +
                              std::to_string(want) + "; kept: " + kept + " and the latest, " +
                              std::to_string(latest));
    }
    if (it->second) return it->second;
    if (job->loaded && job->loaded->epoch() == want) return job->loaded;
    path = job->kept_files[want];
  }
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return Status::DataLoss("snapshot " + path + " is missing");
  auto payload = Unframe(std::move(bytes).value(), "snapshot " + path);
  if (!payload.ok()) return payload.status();
  auto snap = DeserializeSnapshot(*payload);
  if (!snap.ok()) return snap.status();
  std::lock_guard<std::mutex> lock(mu_);
  job->loaded = *snap;
  return *snap;
}

StatusOr<v1::GetDatasetResponse> JobManager::Dataset(const v1::GetDatasetRequest& request) const {
  JobSpec spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = Find(request.job_id());
    if (!found.ok()) return found.status();
    spec = (*found)->spec;
  }
  const int64_t dim = DataDim(spec.dataset);
  const int64_t limit = 1'000'000 / dim;
  const int64_t max_points = request.max_points() == 0 ? std::min<int64_t>(10'000, limit)
                                                       : request.max_points();
  if (max_points < 1 || max_points > limit) {
    return Status::InvalidArgument("max_points: " + std::to_string(max_points) +
                                   " is out of range 1.." + std::to_string(limit));
  }
  auto values = DatasetValues(spec, max_points);
  if (!values.ok()) return values.status();
  v1::GetDatasetResponse out;
  out.set_total_points(DatasetRows(spec.dataset));
  out.mutable_points()->set_dim(static_cast<int32_t>(dim));
  out.mutable_points()->mutable_values()->Assign(values->begin(), values->end());
  return out;
}

void JobManager::Drain() {
  std::vector<std::shared_ptr<EventLog>> logs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!draining_.exchange(true)) {
      spdlog::info("draining: no new jobs; running jobs stop after their current epoch");
    }
    for (auto& [id, job] : jobs_) logs.push_back(job->events);
    work_cv_.notify_all();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!idle_cv_.wait_for(lock, std::chrono::milliseconds(options_.drain_grace_ms),
                           [this] { return running_ == 0; })) {
      for (auto& [id, job] : jobs_) {
        if (job->state != v1::JOB_STATE_RUNNING) continue;
        spdlog::warn("job {}: its epoch outlasted the drain grace; stopping it mid-epoch "
                     "(it resumes from its last checkpoint)", id);
        job->stop = true;
      }
    }
  }
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  if (janitor_.joinable()) janitor_.join();
  for (auto& log : logs) log->Interrupt();
}

bool JobManager::draining() const { return draining_; }

bool JobManager::Fits(const JobRecord& job) const {
  // A job alone always runs (one stored before the limit was lowered), so
  // the queue never stalls.
  return options_.max_memory <= 0 || running_ == 0 ||
         running_memory_ + job.memory_bytes <= options_.max_memory;
}

void JobManager::WorkerLoop() {
  while (true) {
    std::shared_ptr<JobRecord> job;
    bool run = true;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return draining_ || (!queue_.empty() && Fits(*queue_.front())); });
      if (draining_) return;
      job = queue_.front();
      queue_.pop_front();
      ++running_;
      running_memory_ += job->memory_bytes;
      if (job->resume) {
        spdlog::info("job {} resuming after epoch {}", job->id, job->epochs_done);
      } else {
        SetState(*job, v1::JOB_STATE_RUNNING);
        run = job->state == v1::JOB_STATE_RUNNING;  // not if the store refused it
      }
    }
    if (run) RunJob(job);
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
    running_memory_ -= job->memory_bytes;
    idle_cv_.notify_all();
    work_cv_.notify_all();  // its memory may let the next job start
  }
}

StatusOr<int64_t> JobManager::RestoreCheckpoint(JobRecord& job, Trainer& trainer) {
  const auto checkpoints = store_->Checkpoints(job.id);
  std::string first_error;
  for (const auto& [epoch, path] : checkpoints) {
    Status s;
    auto bytes = ReadFile(path);
    if (!bytes.ok()) {
      s = bytes.status();
    } else {
      auto payload = Unframe(std::move(bytes).value(), "checkpoint " + path);
      s = payload.ok() ? trainer.RestoreState(*payload) : payload.status();
    }
    if (s.ok()) return trainer.epochs_done();
    spdlog::warn("job {}: {}; trying an older checkpoint", job.id, s.message());
    if (first_error.empty()) first_error = s.message();
  }
  if (!checkpoints.empty()) {
    return Status::DataLoss("all " + std::to_string(checkpoints.size()) + " checkpoints of job " +
                            job.id + " are unreadable (newest: " + first_error + ")");
  }
  return int64_t{0};
}

void JobManager::SaveCheckpoint(JobRecord& job, const Trainer& trainer) {
  if (store_ == nullptr) return;
  auto state = trainer.SaveState();
  Status s = state.ok() ? store_->WriteCheckpoint(job.id, trainer.epochs_done(), *state,
                                                  options_.checkpoints_kept)
                        : state.status();
  if (!s.ok()) spdlog::error("job {}: checkpoint after epoch {} failed: {}", job.id, trainer.epochs_done(), s.message());
}

void JobManager::RunJob(const std::shared_ptr<JobRecord>& job) {
  JobSpec spec = job->spec;
  if (spec.trainer_path == TrainerPath::kAuto) spec.trainer_path = options_.trainer_path;
  auto created = Trainer::Create(spec);
  if (!created.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    SetState(*job, v1::JOB_STATE_FAILED, created.status().message());
    return;
  }
  Trainer& trainer = **created;
  if (trainer.path() == TrainerPath::kFast) {
    spdlog::info("job {} trains on the fast path", job->id);
  } else {
    spdlog::info("job {} trains on the ATen path ({})", job->id, trainer.path_note());
  }
  const int64_t epochs = job->spec.epochs;
  const int64_t stored_through = job->epochs_done;  // events already stored up to this epoch
  if (job->resume && store_ != nullptr) {
    auto from = RestoreCheckpoint(*job, trainer);
    if (!from.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      SetState(*job, v1::JOB_STATE_FAILED, from.status().message());
      return;
    }
    spdlog::info("job {} restored checkpoint of epoch {}; events stored through epoch {}", job->id,
                 *from, stored_through);
  }
  job->resume = false;
  while (!trainer.finished()) {
    if (draining_) {
      SaveCheckpoint(*job, trainer);
      spdlog::info("job {} stopped for shutdown after epoch {}", job->id, trainer.epochs_done());
      return;
    }
    auto report = trainer.RunEpoch(&job->stop);
    if (!report.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (report.status().code() == StatusCode::kCancelled && !job->cancel_requested) {
        spdlog::info("job {} stopped mid-epoch for shutdown after epoch {}", job->id,
                     trainer.epochs_done());
      } else if (report.status().code() == StatusCode::kCancelled) {
        SetState(*job, v1::JOB_STATE_CANCELLED);
      } else {
        SetState(*job, v1::JOB_STATE_FAILED, report.status().message());
      }
      return;
    }
    const int64_t e = report->epoch;
    if (metrics_ != nullptr) metrics_->EpochTrained(report->seconds);
    bool cancelled_now = false;
    auto snapshot = trainer.Snapshot();
    const bool keep = e % job->spec.checkpoint_every == 0 || e == epochs;
    bool on_disk = false;
    if (keep && store_ != nullptr) {
      auto bytes = SerializeSnapshot(*snapshot);
      const Status s = bytes.ok() ? store_->WriteSnapshot(job->id, e, *bytes) : bytes.status();
      if (!s.ok()) spdlog::error("job {}: snapshot of epoch {} not stored: {}", job->id, e, s.message());
      on_disk = s.ok();
    }
    {
      v1::JobEvent event;
      ReportToProto(*report, epochs, event.mutable_epoch());
      std::lock_guard<std::mutex> lock(mu_);
      job->latest_snapshot = snapshot;
      if (keep) {
        // A stored snapshot stays on disk until asked for (the latest one
        // is latest_snapshot); one that could not be stored stays in memory.
        job->kept[e] = on_disk ? nullptr : snapshot;
        if (on_disk) job->kept_files[e] = store_->SnapshotPath(job->id, e);
        if (job->kept.size() > kMaxKeptSnapshots) {
          job->kept_files.erase(job->kept.begin()->first);
          job->kept.erase(job->kept.begin());
        }
      }
      if (e > stored_through) {  // else trained again after a restart: already stored
        job->epochs_done = e;
        job->latest = event.epoch();
        if (const Status st = Publish(*job, std::move(event)); !st.ok()) {
          FailUnstored(*job, st);
          return;
        }
      }
    }
    {
      // A cancel that came during the epoch's last batch (or a one-batch
      // epoch) is never lost: the job ends CANCELLED, not SUCCEEDED.
      std::lock_guard<std::mutex> lock(mu_);
      if (job->cancel_requested) {
        SetState(*job, v1::JOB_STATE_CANCELLED);
        cancelled_now = true;
      }
    }
    if (cancelled_now) return;
    // After the event is durable, so a restart never resumes past a missing event.
    if (e % job->spec.checkpoint_every == 0 && e != epochs) SaveCheckpoint(*job, trainer);
  }
  std::lock_guard<std::mutex> lock(mu_);
  SetState(*job, v1::JOB_STATE_SUCCEEDED);
}

}  // namespace gantry
