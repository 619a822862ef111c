#include "server/jobs/job_manager.h"
#include "server/util/ids.h"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "core/api_limits.h"
#include "core/datasets.h"
#include "core/memory.h"
#include "server/jobs/convert.h"
#include "server/jobs/table_jobs.h"
#include "server/jobs/job_runner.h"
#include "server/jobs/labels.h"
#include "server/util/safe_text.h"
#include "server/util/sha256.h"

namespace gantry {
namespace {

constexpr size_t kMaxIdBytes = 64;
// The embedded stores are exclusive (a directory lock, or the process's own
// memory): a claim never needs renewing.
constexpr int64_t kExclusiveLeaseNs = int64_t{100} * 365 * 24 * 3600 * 1'000'000'000;
// Random ids drawn for a new job before giving up (a collision with a stored
// id is ALREADY_EXISTS; 36^10 ids make even a second draw unlikely).
constexpr int kNewIdAttempts = 3;
// A cancel that races the job's claim or end reads the row again, at most
// this many times, this far apart, before answering UNAVAILABLE.
constexpr int kCancelAttempts = 100;
constexpr auto kCancelRetryAfter = std::chrono::milliseconds(1);
// A shared store's replica loops: the poll looks at least this often for
// what notifications missed and ends at most this many expired cancels per
// poll (the next poll takes the rest); the lease loop renews this many
// times per lease.
constexpr auto kReplicaPollAtMost = std::chrono::seconds(1);
constexpr int kRenewalsPerLease = 3;
constexpr int kExpiredCancelsPerPoll = 100;

// What a request_id retry must repeat: the effective spec (defaults filled
// in, so spelling one out changes nothing), the name and the labels, as a
// SHA-256 (a user dataset's points are not stored twice). Without labels
// the bytes are what they were before labels existed, so stored
// fingerprints still match; with them, "\0key=value\n" in key order follows
// (neither '=' nor '\n' is a label character).
std::string FingerprintBytes(const v1::JobSpec& effective_spec, const std::string& name,
                             const Labels& labels) {
  std::string bytes = effective_spec.SerializeAsString() + '\0' + name;
  if (!labels.empty()) bytes += '\0';
  for (const auto& [key, value] : labels) bytes += key + '=' + value + '\n';
  return bytes;
}

std::string Fingerprint(const v1::JobSpec& effective_spec, const std::string& name,
                        const Labels& labels) {
  return Sha256(FingerprintBytes(effective_spec, name, labels));
}

bool SameRequest(const std::string& stored, const v1::JobSpec& spec, const std::string& name,
                 const Labels& labels) {
  if (stored.size() == SHA256_DIGEST_LENGTH) return stored == Fingerprint(spec, name, labels);
  return stored == FingerprintBytes(spec, name, labels);  // stored before schema 3
}

}  // namespace

StatusOr<std::unique_ptr<JobManager>> JobManager::Create(ManagerOptions options, Store* store,
                                                         Metrics* metrics) {
  std::unique_ptr<JobManager> m(new JobManager(options, store, metrics));
  auto counts = store->CountJobs();
  if (!counts.ok()) return counts.status();
  for (const auto& [state, n] : *counts) {
    for (int64_t i = 0; i < n; ++i) m->CountState(v1::JOB_STATE_UNSPECIFIED, state);
  }
  GANTRY_RETURN_IF_ERROR(store->ExpireAllLeases());
  auto active = store->ActiveJobs();
  if (!active.ok()) return active.status();
  int64_t running = 0;
  for (const JobRow& row : *active) running += row.state == v1::JOB_STATE_RUNNING;
  // A shared store's RUNNING jobs belong to other replicas (a dead one's
  // become claimable when their leases expire, which the replica loop's
  // poll finds): only the queued ones wait.
  const int64_t queued = static_cast<int64_t>(active->size()) - running;
  m->scheduler_.SetClaimable(store->Shared() ? queued : queued + running);
  int64_t total = 0;
  for (const auto& [state, n] : *counts) total += n;
  if (store->Shared()) {
    spdlog::info("store {}: {} jobs; {} running (on any replica), {} queued", store->Describe(),
                 total, running, queued);
  } else {
    spdlog::info("store {}: {} jobs; {} to resume, {} queued", store->Describe(), total, running,
                 queued);
  }
  return m;
}

JobManager::JobManager(ManagerOptions options, Store* store, Metrics* metrics)
    : options_(options),
      overlay_(store),
      store_(&overlay_),
      metrics_(metrics),
      snapshots_(store, options.snapshot_cache_bytes),
      scheduler_(
          SchedulerOptions{options.max_concurrent_jobs, options.max_queued_jobs, options.max_memory,
                           options.drain_grace_ms, ProcessName(),
                           store->Shared() ? options.lease_ms * 1'000'000 : kExclusiveLeaseNs,
                           store->Shared(), options.running_limits,
                           options.priority_aging_ms * 1'000'000},
          store, [this](const std::shared_ptr<ActiveJob>& job) { Run(job); }),
      retention_(options.retention_seconds, options.retention_count, store,
                 [this](const std::string& id) { return Delete(id); }) {}

void JobManager::CountState(v1::JobState from, v1::JobState to) const {
  if (metrics_ != nullptr) metrics_->JobState(from, to);
}

void JobManager::Start() {
  scheduler_.Start();
  retention_.Start();
  if (store_->Shared()) {
    store_->Subscribe([this](const StoreChange& change) { OnStoreChange(change); });
    poll_thread_ = std::thread([this] { PollLoop(); });
    lease_thread_ = std::thread([this] { LeaseLoop(); });
  }
}

void JobManager::Poke() { scheduler_.Poke(); }

void JobManager::CancelLocal(const std::string& id) {
  if (auto job = scheduler_.Running(id)) {
    if (!job->cancel_requested.exchange(true)) spdlog::info("job {}: cancel requested", id);
    job->stop = true;
  }
}

void JobManager::OnStoreChange(const StoreChange& change) {
  switch (change.kind) {
    case StoreChange::kEvent:
      hub_.Nudge(change.job_id);
      return;
    case StoreChange::kJob:
      scheduler_.Poke();
      return;
    case StoreChange::kCancel:
      CancelLocal(change.job_id);
      return;
    case StoreChange::kResync:
      hub_.Nudge("");
      scheduler_.Poke();
      return;
  }
}

bool JobManager::WaitReplicaTick(std::chrono::milliseconds period) {
  MutexLock lock(&replica_mu_);
  const auto deadline = std::chrono::steady_clock::now() + period;
  while (!replica_stop_ && replica_cv_.WaitUntil(&replica_mu_, deadline)) {
  }
  return !replica_stop_;
}

void JobManager::PollLoop() {
  const auto poll = std::min<std::chrono::milliseconds>(kReplicaPollAtMost, LeaseRenewal());
  const std::string owner = ProcessName();
  while (WaitReplicaTick(poll)) {
    // What notifications may have missed. Followers are only woken: each
    // reads the store on its own thread.
    (void)store_->Ping();  // its failure is the health check's NOT_SERVING
    hub_.Nudge("");
    if (!scheduler_.draining()) {
      scheduler_.Poke();
      FinishExpiredCancels();
    }
    if (scheduler_.AllRunning().empty()) continue;
    if (auto cancels = store_->CancelRequests(owner); cancels.ok()) {
      for (const std::string& id : *cancels) CancelLocal(id);
    }
  }
}

void JobManager::LeaseLoop() {
  const int64_t lease_ns = options_.lease_ms * 1'000'000;
  while (WaitReplicaTick(LeaseRenewal())) {
    for (const auto& job : scheduler_.AllRunning()) {
      const Status s = store_->RenewLease(job->id, job->lease, lease_ns);
      if (s.code() == StatusCode::kFailedPrecondition && !job->lease_lost.exchange(true)) {
        spdlog::warn("job {}: {}; another replica holds it now, stopping it here", job->id,
                     s.message());
        job->stop = true;
      } else if (!s.ok() && s.code() != StatusCode::kFailedPrecondition) {
        spdlog::warn("job {}: renewing its lease failed: {}", job->id, s.message());
      }
    }
  }
}

std::chrono::milliseconds JobManager::LeaseRenewal() const {
  return std::chrono::milliseconds(options_.lease_ms) / kRenewalsPerLease;
}

JobManager::~JobManager() {
  if (store_->Shared()) store_->Subscribe(nullptr);  // no more calls into this
  Drain();
  {
    MutexLock lock(&replica_mu_);
    replica_stop_ = true;
  }
  replica_cv_.SignalAll();
  for (std::thread* t : {&poll_thread_, &lease_thread_}) {
    if (t->joinable()) t->join();
  }
}

void JobManager::Run(const std::shared_ptr<ActiveJob>& job) {
  RunnerContext ctx;
  ctx.store = store_;
  ctx.hub = &hub_;
  ctx.metrics = metrics_;
  ctx.drain = scheduler_.drain_token();
  ctx.default_path = options_.trainer_path;
  ctx.checkpoints_kept = options_.checkpoints_kept;
  // Followers that arrive while the job runs find its newest events here.
  auto live = hub_.Live(job->row.id);
  const RunResult result = RunJob(ctx, *job);
  // Recorded before `live` is released, so that a follower that finds no
  // live events afterwards reads the failure from the store (Watch).
  if (result.unstored_failure) overlay_.Record(job->row, *result.unstored_failure);
  if (on_run_end_) on_run_end_();
}

StatusOr<JobRow> JobManager::Row(const std::string& id, ReadPoints points) const {
  const Status not_found = Status::NotFound("job " + SafeText(id) + " not found");
  if (id.empty() || id.size() > kMaxIdBytes) return not_found;
  auto row = store_->GetJob(id, points);
  if (!row.ok()) return row.status().code() == StatusCode::kNotFound ? not_found : row.status();
  return row;
}

Status JobManager::CheckInitFrom(const JobSpec& spec) const {
  if (spec.init_job_id.empty()) return Status::Ok();
  auto parent = store_->GetJob(spec.init_job_id, ReadPoints::kNo);
  if (!parent.ok()) {
    if (parent.status().code() != StatusCode::kNotFound) return parent.status();
    return Status::InvalidArgument("init_from.job_id: job " + SafeText(spec.init_job_id) +
                                   " not found");
  }
  auto kept = store_->ListBlobs(spec.init_job_id, BlobKind::kCheckpoint);
  if (!kept.ok()) return kept.status();
  for (int64_t e : *kept) {
    if (e == spec.init_epoch) return Status::Ok();
  }
  std::string list;
  for (int64_t e : *kept) list += (list.empty() ? "" : ", ") + std::to_string(e);
  return Status::FailedPrecondition(
      "init_from: job " + spec.init_job_id + " has no checkpoint of epoch " +
      std::to_string(spec.init_epoch) + " (it has " + (list.empty() ? "none" : list) +
      "; a job that SUCCEEDED keeps its last epoch's with keep_checkpoint)");
}

StatusOr<JobRow> JobManager::Create(const NewJob& job) {
  auto spec = SpecFromProto(job.spec);
  if (!spec.ok()) return spec.status();
  if (spec->dataset.kind == DatasetKind::kTable) {
    // The table read with the spec's overrides: its errors name the file,
    // line and column now, and its schema is stored with the job.
    GANTRY_RETURN_IF_ERROR(LoadJobTable(*store_, &*spec));
  }
  GANTRY_RETURN_IF_ERROR(Validate(*spec));
  GANTRY_RETURN_IF_ERROR(CheckInitFrom(*spec));
  GANTRY_RETURN_IF_ERROR(ValidateLabels(job.labels));
  const MemoryEstimate memory = EstimateMemory(*spec);
  JobRow row;
  row.spec = SpecToProto(*spec);
  row.name = job.name;
  row.request_id = job.request_id;
  row.labels = job.labels;
  row.created_by = job.created_by;
  row.priority = job.priority;
  // A retry of an accepted request is answered before any limit.
  auto same_request = [&](const JobRow& existing) -> StatusOr<JobRow> {
    if (existing.created_by != row.created_by) {
      return Status::AlreadyExists("request_id " + SafeText(row.request_id) + " was used for job " +
                                   existing.id + " by another principal");
    }
    if (existing.priority != row.priority) {
      return Status::AlreadyExists("request_id " + SafeText(row.request_id) + " was used for job " +
                                   existing.id + " with another priority");
    }
    if (!SameRequest(existing.request_fingerprint, row.spec, row.name, row.labels)) {
      return Status::AlreadyExists("request_id " + SafeText(row.request_id) + " was used for job " +
                                   existing.id + " with a different spec, name or labels");
    }
    return existing;
  };
  if (!row.request_id.empty()) {
    auto existing = store_->FindRequest(row.request_id);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return same_request(**existing);
  }
  if (scheduler_.draining()) return Status::Unavailable("the server is shutting down; no new jobs");
  for (const auto& [flag, limit] :
       {std::pair<const char*, int64_t>{"--max-job-memory", options_.max_job_memory},
        {"--max-memory", options_.max_memory}}) {
    if (limit > 0 && memory.total() > limit) {
      return Status::ResourceExhausted("the job needs an estimated " + memory.ToString() +
                                       ", more than " + flag + " " + FormatBytes(limit) +
                                       "; use smaller layers, batches or data");
    }
  }
  GANTRY_RETURN_IF_ERROR(Reserve());
  row.request_fingerprint = Fingerprint(row.spec, row.name, row.labels);
  row.dataset_rows = TrainingRows(*spec);
  row.memory_bytes = memory.total();
  row.state = v1::JOB_STATE_QUEUED;
  row.create_ns = NowNs();
  row.queued_ns = row.create_ns;
  StatusOr<InsertResult> inserted = Status::Internal("unreachable");
  for (int attempt = 0; attempt < kNewIdAttempts; ++attempt) {
    row.id = NewId("j-");
    v1::JobEvent queued = StateEvent(v1::JOB_STATE_QUEUED, "");
    StampEvent(row, &queued);
    inserted = store_->InsertJob(row, queued, job.quota);
    if (inserted.ok() || inserted.status().code() != StatusCode::kAlreadyExists) break;
  }
  if (!inserted.ok() || !inserted->inserted) {
    scheduler_.Unreserve();
    if (!inserted.ok()) return inserted.status();
    return same_request(inserted->row);  // the same request_id, concurrently
  }
  scheduler_.Added(inserted->row.id, inserted->row.priority);
  CountState(v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_QUEUED);
  spdlog::info("job {} QUEUED", inserted->row.id);
  return std::move(inserted->row);
}

Status JobManager::Reserve() {
  Status reserved = scheduler_.Reserve();
  if (reserved.code() != StatusCode::kResourceExhausted || !store_->Shared()) return reserved;
  // Other replicas may have claimed queued jobs this one counted: recount
  // the shared queue before refusing.
  auto counts = store_->CountJobs();
  if (!counts.ok()) return reserved;
  const auto queued = counts->find(v1::JOB_STATE_QUEUED);
  scheduler_.CapClaimable(queued == counts->end() ? 0 : queued->second);
  return scheduler_.Reserve();
}

StatusOr<JobRow> JobManager::Get(const std::string& id, ReadPoints points) const {
  return Row(id, points);
}

StatusOr<std::vector<JobRow>> JobManager::List(const JobsQuery& request) const {
  auto selected = ParseLabelSelector(request.label_selector);
  if (!selected.ok()) return selected.status();
  ListQuery query;
  query.limit = request.page_size + 1;
  query.state = request.state;
  query.labels = std::move(selected).value();
  query.before_index = request.before_index;
  query.created_by = request.created_by;
  return store_->ListJobs(query);
}

StatusOr<JobRow> JobManager::Cancel(const std::string& id) {
  bool asked_runner = false;  // a preempted job's runner was asked to end it
  for (int attempt = 0; attempt < kCancelAttempts; ++attempt) {
    auto row = Row(id, ReadPoints::kNo);
    if (!row.ok()) return row.status();
    if (asked_runner && row->state == v1::JOB_STATE_CANCELLED) return row;
    if (IsTerminalState(row->state)) {
      return Status::FailedPrecondition("job " + id + " has already ended (" +
                                        JobStateName(row->state) + ")");
    }
    if (store_->Shared() && row->state == v1::JOB_STATE_RUNNING) {
      auto cancelled = CancelShared(*row);
      if (!cancelled.ok()) return cancelled.status();
      if (*cancelled) return std::move(**cancelled);
      continue;  // it ended meanwhile
    }
    if (auto running = scheduler_.Running(id)) {
      // The embedded stores are exclusive: this process's runner holds the
      // job, and it ends it CANCELLED between two batches, unless it is
      // queuing it again for a preemption (requeued, set before it looks at
      // the cancel: one of the two sees the other). Then, once the runner
      // is gone, the job is QUEUED (cancelled below) or CANCELLED already.
      CancelLocal(id);
      if (!running->requeued.load()) return row;
      asked_runner = true;
      // The runner stores a checkpoint and an event first: wait longer.
      std::this_thread::sleep_for(kCancelRetryAfter * 20);
      continue;
    }
    // Queued, or RUNNING in the store with no runner (the last server's
    // job, waiting to be resumed): it ends here, under the lease it has.
    // The embedded stores are exclusive, so no other process trains it.
    auto cancelled = StoreCancelled(*row);
    if (cancelled.ok()) {
      scheduler_.Removed();
      return cancelled;
    }
    // A worker claimed it meanwhile (its lease changed): cancel it running.
    const Status& s = cancelled.status();
    if (s.code() != StatusCode::kFailedPrecondition && s.code() != StatusCode::kAlreadyExists) {
      return s;
    }
    std::this_thread::sleep_for(kCancelRetryAfter);
  }
  return Status::Unavailable("job " + id + " is changing state; try again");
}

StatusOr<std::optional<JobRow>> JobManager::CancelShared(const JobRow& row) {
  const std::string& id = row.id;
  // The request is stored whatever this process's runner believes: it may
  // have lost its lease without knowing it yet (a paused replica), and the
  // job's real holder, or its next one, must see the cancel.
  const Status requested = store_->RequestCancel(id);
  if (requested.code() == StatusCode::kFailedPrecondition) return std::optional<JobRow>{};
  if (!requested.ok()) return requested;
  spdlog::info("job {}: cancel requested (its lease holder: {})", id, row.owner);
  CancelLocal(id);
  // A holder that died (or stalls) past its lease never acts on it: end the
  // job here, under a lease of this process's own.
  auto ended = FinishExpiredCancel(id);
  if (!ended.ok()) return ended.status();
  if (*ended) return ended;
  return std::optional<JobRow>(row);
}

StatusOr<std::optional<JobRow>> JobManager::FinishExpiredCancel(const std::string& id) {
  auto claimed = store_->ClaimCancelled(id, ProcessName(), options_.lease_ms * 1'000'000);
  if (!claimed.ok() || !claimed->has_value()) return claimed;
  const JobRow& row = **claimed;
  spdlog::info("job {}: its lease expired with a cancel requested; ending it here (lease {})",
               row.id, row.lease);
  auto cancelled = StoreCancelled(row);
  if (!cancelled.ok()) {
    // Still RUNNING, with its cancel requested: once this process's lease
    // expires, a worker's claim or another replica's scan ends it.
    spdlog::warn("job {}: storing its end failed: {}", row.id, cancelled.status().message());
    return cancelled.status();
  }
  return std::optional<JobRow>(std::move(cancelled).value());
}

void JobManager::FinishExpiredCancels() {
  for (int i = 0; i < kExpiredCancelsPerPoll && !scheduler_.draining(); ++i) {
    auto ended = FinishExpiredCancel("");
    if (!ended.ok() || !ended->has_value()) return;
  }
}

StatusOr<JobRow> JobManager::StoreCancelled(const JobRow& row) {
  JobRow cancelled = row;
  cancelled.state = v1::JOB_STATE_CANCELLED;
  cancelled.end_ns = NowNs();
  v1::JobEvent event = StateEvent(v1::JOB_STATE_CANCELLED, "");
  StampEvent(cancelled, &event);
  GANTRY_RETURN_IF_ERROR(store_->AppendEvent(cancelled, event));
  cancelled.last_seq = event.seq();
  CountState(row.state, v1::JOB_STATE_CANCELLED);
  hub_.Publish(row.id, std::move(event));
  spdlog::info("job {} CANCELLED", row.id);
  DeleteCheckpoints(store_, row.id, cancelled.lease);  // fenced by the lease it ended under
  return cancelled;
}

Status JobManager::Delete(const std::string& id) {
  auto row = Row(id, ReadPoints::kNo);
  if (!row.ok()) return row.status();
  if (!IsTerminalState(row->state)) {
    return Status::FailedPrecondition("job " + id + " is " + JobStateName(row->state) +
                                      "; cancel it before deleting it");
  }
  // An end the store could not record is stored first (the overlay).
  GANTRY_RETURN_IF_ERROR(store_->DeleteJob(id));
  snapshots_.Forget(id);
  CountState(row->state, v1::JOB_STATE_UNSPECIFIED);
  spdlog::info("job {} deleted", id);
  return Status::Ok();
}

StatusOr<std::unique_ptr<EventCursor>> JobManager::Watch(const std::string& id,
                                                         int64_t from_seq) const {
  auto row = Row(id, ReadPoints::kNo);
  if (!row.ok()) return row.status();
  std::shared_ptr<LiveEvents> live;
  if (!IsTerminalState(row->state)) {
    live = hub_.Live(id);
    // The job may have ended between the read and Live(), its runner gone
    // with the live events it held (a fresh, empty tail would never end):
    // read the row again once the tail is held.
    row = Row(id, ReadPoints::kNo);
    if (!row.ok()) return row.status();
  }
  if (IsTerminalState(row->state)) {
    return std::make_unique<EventCursor>(store_, id, nullptr, row->last_seq, from_seq);
  }
  auto cursor = std::make_unique<EventCursor>(store_, id, std::move(live), 0, from_seq);
  // Another replica may store its events: the cursor reads the store when
  // woken (by a notification, or the poll) and finds nothing live.
  if (store_->Shared()) cursor->set_shared();
  return cursor;
}

StatusOr<JobManager::SnapshotEpochs> JobManager::ListSnapshots(const std::string& id) const {
  auto row = Row(id, ReadPoints::kNo);
  if (!row.ok()) return row.status();
  auto kept = store_->ListBlobs(id, BlobKind::kSnapshot);
  if (!kept.ok()) return kept.status();
  SnapshotEpochs out;
  out.epochs.assign(kept->begin(), kept->end());
  if (auto job = scheduler_.Running(id)) {
    if (auto live = job->latest_snapshot(); live && !std::binary_search(out.epochs.begin(), out.epochs.end(), live->epoch())) {
      out.epochs.insert(std::upper_bound(out.epochs.begin(), out.epochs.end(), live->epoch()), live->epoch());
    }
  }
  out.best_epoch = row->latest ? row->latest->best_epoch() : 0;
  return out;
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> JobManager::Snapshot(
    const std::string& id, std::optional<int64_t> epoch, bool best) const {
  auto choice = ChooseSnapshot(id, epoch, best);
  if (!choice.ok()) return choice.status();
  return LoadSnapshot(*choice);
}

StatusOr<SnapshotChoice> JobManager::ChooseSnapshot(const std::string& id,
                                                    std::optional<int64_t> epoch,
                                                    bool best) const {
  auto row = Row(id, ReadPoints::kNo);
  if (!row.ok()) return row.status();
  if (best) {
    if (epoch) {
      return Status::InvalidArgument("best: asks for the best epoch's snapshot; leave epoch (" +
                                     std::to_string(*epoch) + ") unset with it");
    }
    const int64_t b = row->latest ? row->latest->best_epoch() : 0;
    if (b == 0) {
      return Status::FailedPrecondition("job " + id + " has no evaluated epoch yet (" +
                                        JobStateName(row->state) + ")");
    }
    epoch = b;
  }
  std::shared_ptr<const GeneratorSnapshot> live;
  if (auto job = scheduler_.Running(id)) live = job->latest_snapshot();
  auto kept = store_->ListBlobs(id, BlobKind::kSnapshot);
  if (!kept.ok()) return kept.status();
  const int64_t latest = std::max(live ? live->epoch() : 0, kept->empty() ? 0 : kept->back());
  if (latest == 0) {
    return Status::FailedPrecondition("job " + id + " has no trained epoch yet (" +
                                      JobStateName(row->state) + ")");
  }
  const int64_t want = epoch.value_or(latest);
  if (want < 1) {
    return Status::InvalidArgument("epoch: " + std::to_string(want) + " is out of range 1.." +
                                   std::to_string(row->spec.epochs()));
  }
  if (live && want == live->epoch()) return SnapshotChoice{id, want, live};
  if (!std::binary_search(kept->begin(), kept->end(), want)) {
    std::string names;
    for (int64_t e : *kept) {
      if (names.size() > 200) {
        names += ", ...";
        break;
      }
      names += (names.empty() ? "" : ", ") + std::to_string(e);
    }
    return Status::NotFound("epoch: no snapshot of job " + id + " is kept for epoch " +
                            std::to_string(want) + "; kept: " + names + " and the latest, " +
                            std::to_string(latest));
  }
  return SnapshotChoice{id, want, snapshots_.Peek(id, want)};
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> JobManager::LoadSnapshot(
    const SnapshotChoice& choice) const {
  if (choice.snapshot != nullptr) return choice.snapshot;
  auto snapshot = snapshots_.Get(choice.job_id, choice.epoch);
  if (!snapshot.ok() && snapshot.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("epoch: the snapshot of job " + choice.job_id + " for epoch " +
                            std::to_string(choice.epoch) + " was deleted meanwhile");
  }
  return snapshot;
}

StatusOr<v1::GetDatasetResponse> JobManager::Dataset(const std::string& id,
                                                     int64_t asked_points) const {
  auto row = Row(id, ReadPoints::kYes);
  if (!row.ok()) return row.status();
  auto spec = SpecFromProto(row->spec);
  if (!spec.ok()) return spec.status();
  if (spec->dataset.kind == DatasetKind::kTable) {
    return Status::FailedPrecondition("job " + id + " trains on table " +
                                      spec->dataset.table.table_id +
                                      "; its rows are the uploaded table (GetTable, `gantry data get`)");
  }
  const int64_t dim = DataDim(spec->dataset);
  const int64_t limit = kMaxMessageValues / dim;
  const int64_t max_points =
      asked_points == 0 ? std::min<int64_t>(10'000, limit) : asked_points;
  if (max_points < 1 || max_points > limit) {
    return Status::InvalidArgument("max_points: " + std::to_string(max_points) +
                                   " is out of range 1.." + std::to_string(limit));
  }
  auto values = DatasetValues(*spec, max_points);
  if (!values.ok()) return values.status();
  v1::GetDatasetResponse out;
  out.set_total_points(TrainingRows(*spec));
  out.mutable_points()->set_dim(static_cast<int32_t>(dim));
  out.mutable_points()->mutable_values()->Assign(values->begin(), values->end());
  return out;
}

void JobManager::Drain() {
  scheduler_.Drain();
  retention_.Stop();
  hub_.InterruptAll();
}

bool JobManager::draining() const { return scheduler_.draining(); }

}  // namespace gantry
