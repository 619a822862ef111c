#include "server/job_manager.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <algorithm>
#include <random>

#include "core/datasets.h"
#include "core/trainer.h"
#include "server/convert.h"

namespace gantry {
namespace {

constexpr size_t kMaxNameLength = 200;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxKeptSnapshots = 1000;

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

}  // namespace

struct JobManager::JobRecord {
  std::string id;
  int64_t index = 0;
  std::string name;
  std::string request_fingerprint;  // serialized spec + name, for request_id retries
  JobSpec spec;
  v1::JobSpec spec_proto;
  std::shared_ptr<EventLog> events;
  std::atomic<bool> stop{false};  // cancel or drain: the trainer stops between batches
  // The rest is guarded by JobManager::mu_.
  v1::JobState state = v1::JOB_STATE_QUEUED;
  bool cancel_requested = false;
  std::string error;
  std::chrono::system_clock::time_point create_time, start_time, end_time;
  int64_t epochs_done = 0;
  v1::EpochReport latest;
  std::shared_ptr<const GeneratorSnapshot> latest_snapshot;
  std::map<int64_t, std::shared_ptr<const GeneratorSnapshot>> kept;
};

JobManager::JobManager(ManagerOptions options) : options_(options) {
  for (int i = 0; i < options_.max_concurrent_jobs; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

JobManager::~JobManager() { Drain(); }

StatusOr<std::shared_ptr<JobManager::JobRecord>> JobManager::Find(const std::string& id) const {
  if (id.empty()) return Status::InvalidArgument("job_id: must not be empty");
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("job " + id + " not found");
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
  return out;
}

void JobManager::SetState(JobRecord& job, v1::JobState state, const std::string& error) {
  job.state = state;
  job.error = error;
  const auto now = std::chrono::system_clock::now();
  if (state == v1::JOB_STATE_RUNNING) job.start_time = now;
  if (IsTerminal(state)) job.end_time = now;
  job.events->Append(StateEvent(state, error));
  if (error.empty()) {
    spdlog::info("job {} {}", job.id, JobStateName(state));
  } else {
    spdlog::warn("job {} {}: {}", job.id, JobStateName(state), error);
  }
}

StatusOr<v1::Job> JobManager::Create(const v1::CreateJobRequest& request) {
  if (request.name().size() > kMaxNameLength) {
    return Status::InvalidArgument("name: " + std::to_string(request.name().size()) +
                                   " characters is out of range 0..200");
  }
  if (request.request_id().size() > kMaxNameLength) {
    return Status::InvalidArgument("request_id: " + std::to_string(request.request_id().size()) +
                                   " characters is out of range 0..200");
  }
  auto spec = SpecFromProto(request.spec());
  if (!spec.ok()) return spec.status();
  GANTRY_RETURN_IF_ERROR(Validate(*spec));

  auto job = std::make_shared<JobRecord>();
  job->spec = std::move(spec).value();
  job->spec_proto = SpecToProto(job->spec);
  job->name = request.name();
  job->request_fingerprint = request.spec().SerializeAsString() + '\0' + request.name();

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
  const int idle = options_.max_concurrent_jobs - running_;
  if (static_cast<int>(queue_.size()) >= options_.max_queued_jobs + std::max(0, idle)) {
    return Status::ResourceExhausted("the queue is full: " + std::to_string(queue_.size()) +
                                     " jobs are waiting (--max-queued-jobs " +
                                     std::to_string(options_.max_queued_jobs) + ")");
  }
  do {
    job->id = NewJobId();
  } while (jobs_.count(job->id) != 0);
  job->index = next_index_++;
  job->create_time = std::chrono::system_clock::now();
  job->events = std::make_shared<EventLog>(job->id);
  jobs_[job->id] = job;
  by_index_[job->index] = job;
  if (!request.request_id().empty()) request_ids_[request.request_id()] = job->id;
  queue_.push_back(job);
  SetState(*job, v1::JOB_STATE_QUEUED);
  work_cv_.notify_one();
  return ToProto(*job);
}

StatusOr<v1::Job> JobManager::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = Find(id);
  if (!job.ok()) return job.status();
  return ToProto(**job);
}

StatusOr<v1::ListJobsResponse> JobManager::List(const v1::ListJobsRequest& request) const {
  if (request.page_size() < 0) {
    return Status::InvalidArgument("page_size: " + std::to_string(request.page_size()) +
                                   " is out of range 0..1000");
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize
                                                 : std::min(request.page_size(), kMaxPageSize);
  int64_t start = INT64_MAX;
  if (!request.page_token().empty()) {
    try {
      size_t used = 0;
      start = std::stoll(request.page_token(), &used);
      if (used != request.page_token().size() || start < 1) throw std::invalid_argument("token");
    } catch (const std::exception&) {
      return Status::InvalidArgument("page_token: '" + request.page_token() +
                                     "' is not a token from a previous ListJobs");
    }
  }
  v1::ListJobsResponse out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = std::make_reverse_iterator(by_index_.upper_bound(start)); it != by_index_.rend();
       ++it) {
    const JobRecord& j = *it->second;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && j.state != request.state()) continue;
    if (out.jobs_size() == page_size) {
      out.set_next_page_token(std::to_string(j.index));
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
  }
  return ToProto(job);
}

Status JobManager::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = Find(id);
  if (!found.ok()) return found.status();
  const JobRecord& job = **found;
  if (!IsTerminal(job.state)) {
    return Status::FailedPrecondition("job " + id + " is " + JobStateName(job.state) +
                                      "; cancel it before deleting it");
  }
  for (auto it = request_ids_.begin(); it != request_ids_.end();) {
    it = it->second == id ? request_ids_.erase(it) : std::next(it);
  }
  by_index_.erase(job.index);
  jobs_.erase(id);
  spdlog::info("job {} deleted", id);
  return Status::Ok();
}

StatusOr<std::shared_ptr<EventLog>> JobManager::Events(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = Find(id);
  if (!found.ok()) return found.status();
  return (*found)->events;
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> JobManager::Snapshot(
    const std::string& id, std::optional<int64_t> epoch) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = Find(id);
  if (!found.ok()) return found.status();
  const JobRecord& job = **found;
  if (!job.latest_snapshot) {
    return Status::FailedPrecondition("job " + id + " has no trained epoch yet (" +
                                      JobStateName(job.state) + ")");
  }
  if (!epoch.has_value() || *epoch == job.latest_snapshot->epoch()) return job.latest_snapshot;
  auto it = job.kept.find(*epoch);
  if (it != job.kept.end()) return it->second;
  std::string kept;
  for (const auto& [e, _] : job.kept) {
    if (kept.size() > 200) { kept += ", ..."; break; }
    kept += (kept.empty() ? "" : ", ") + std::to_string(e);
  }
  return Status::NotFound("epoch: no snapshot of job " + id + " is kept for epoch " +
                          std::to_string(*epoch) + "; kept: " + kept + " and the latest, " +
                          std::to_string(job.latest_snapshot->epoch()));
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
    if (!draining_.exchange(true)) spdlog::info("draining: no new jobs; stopping running jobs");
    for (auto& [id, job] : jobs_) {
      if (!IsTerminal(job->state)) job->stop = true;
      logs.push_back(job->events);
    }
    work_cv_.notify_all();
  }
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  for (auto& log : logs) log->Interrupt();
}

bool JobManager::draining() const { return draining_; }

void JobManager::WorkerLoop() {
  while (true) {
    std::shared_ptr<JobRecord> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return draining_ || !queue_.empty(); });
      if (draining_) return;
      job = queue_.front();
      queue_.pop_front();
      ++running_;
      SetState(*job, v1::JOB_STATE_RUNNING);
    }
    RunJob(job);
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
}

void JobManager::RunJob(const std::shared_ptr<JobRecord>& job) {
  auto created = Trainer::Create(job->spec);
  if (!created.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    SetState(*job, v1::JOB_STATE_FAILED, created.status().message());
    return;
  }
  Trainer& trainer = **created;
  const int64_t epochs = job->spec.epochs;
  while (!trainer.finished()) {
    auto report = trainer.RunEpoch(&job->stop);
    if (!report.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (report.status().code() != StatusCode::kCancelled) {
        SetState(*job, v1::JOB_STATE_FAILED, report.status().message());
      } else if (job->cancel_requested) {
        SetState(*job, v1::JOB_STATE_CANCELLED);
      } else {
        spdlog::info("job {} stopped for shutdown after epoch {}", job->id, trainer.epochs_done());
      }
      return;
    }
    auto snapshot = trainer.Snapshot();
    v1::JobEvent event;
    ReportToProto(*report, epochs, event.mutable_epoch());
    {
      std::lock_guard<std::mutex> lock(mu_);
      job->epochs_done = report->epoch;
      job->latest = event.epoch();
      job->latest_snapshot = snapshot;
      if (report->epoch % job->spec.checkpoint_every == 0 || report->epoch == epochs) {
        job->kept[report->epoch] = snapshot;
        if (job->kept.size() > kMaxKeptSnapshots) job->kept.erase(job->kept.begin());
      }
    }
    job->events->Append(std::move(event));
  }
  std::lock_guard<std::mutex> lock(mu_);
  SetState(*job, v1::JOB_STATE_SUCCEEDED);
}

}  // namespace gantry
