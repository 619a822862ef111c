// JobManager: the facade the transports (Calls) use: validation of what a
// request asks for, and the parts that do the work:
//   Store          jobs, events, leases, blobs (store/store.h)
//   Scheduler      admission, the queue, workers, drain (scheduler.h)
//   JobRunner      one job's training loop (job_runner.h)
//   EventHub       live fan-out of new events (event_hub.h)
//   SnapshotCache  generator snapshots, bounded by bytes (snapshot_cache.h)
//   Retention      deleting ended jobs by policy (retention.h)
//
// Every job and event is committed to the store before it is acknowledged;
// an ended job lives only in the store (nothing of it stays in memory), so
// memory does not grow with the number of stored jobs or events. On start
// QUEUED jobs are claimable again and RUNNING ones resume from their newest
// usable checkpoint.
//
// A job is QUEUED, then RUNNING on one worker thread, then SUCCEEDED, FAILED
// or CANCELLED; each change and each epoch is an event.
//
// Thread-safety: every public method is safe from any thread. No method
// holds a lock during store I/O that another RPC needs.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <chrono>
#include <condition_variable>

#include "core/snapshot.h"
#include "core/spec.h"
#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/jobs/event_cursor.h"
#include "server/jobs/event_hub.h"
#include "server/jobs/labels.h"
#include "server/metrics.h"
#include "server/jobs/retention.h"
#include "server/jobs/scheduler.h"
#include "server/jobs/snapshot_cache.h"
#include "server/store/store.h"
#include "server/store/unstored_overlay.h"
#include "server/util/mutex.h"

namespace gantry {

// ListJobs' largest page (the API layer checks page_size against it).
inline constexpr int kMaxJobsPageSize = 1000;

// A job to create, as the API layer read it: the spec in its stored form
// (JobManager::Create validates it), name, request id and labels.
struct NewJob {
  v1::JobSpec spec;
  std::string name;
  std::string request_id;
  Labels labels;
  std::string created_by;  // the principal creating it ("" without credentials)
  Quota quota;             // created_by's limits (server/store/quota.h)
  int priority = v1::PRIORITY_NORMAL;  // v1::Priority (validated by the caller)
};

// A ListJobs page's rows.
struct JobsQuery {
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;  // UNSPECIFIED: any
  std::string label_selector;                      // server/jobs/labels.h
  int page_size = 0;                               // 1..kMaxJobsPageSize
  // Only jobs older than the one with this index (0: from the newest).
  int64_t before_index = 0;
  std::string created_by;  // only this principal's jobs, if set
};

struct ManagerOptions {
  int max_concurrent_jobs = 2;             // training workers, >= 1
  int max_queued_jobs = 100;               // jobs waiting for a worker, >= 0
  int64_t max_sample_points = 10'000'000;  // per Sample/SampleStream call
  int checkpoints_kept = 3;                // newest full trainer checkpoints kept per job
  // Drain lets running jobs finish their current epoch (and checkpoint) for
  // this long; jobs still mid-epoch then stop between two batches and resume
  // from their last periodic checkpoint.
  int64_t drain_grace_ms = 10'000;
  // Retention of ended jobs (0: keep forever): delete those that ended more
  // than retention_seconds ago, and all but the newest retention_count.
  int64_t retention_seconds = 0;
  int64_t retention_count = 0;
  // The training loop for jobs whose spec says "auto" (trainer.h): auto uses
  // the fast path where its start-up self-test passed. Results are the same.
  TrainerPath trainer_path = TrainerPath::kAuto;
  // Admission by memory (core/memory.h's estimate; 0: no limit). Create
  // refuses a job whose estimate exceeds either limit with
  // RESOURCE_EXHAUSTED; a queued job starts only when its estimate fits
  // beside the running jobs' within max_memory (first in, first out: a large
  // job at the head waits for memory rather than being overtaken).
  int64_t max_job_memory = 0;
  int64_t max_memory = 0;
  // Generator snapshots kept in memory for Sample and Export (least
  // recently used go first; they are read again from the store).
  int64_t snapshot_cache_bytes = 256 << 20;
  // A shared store (several replicas): how long a claim holds without
  // renewal. The owner renews every third of it; a dead replica's jobs are
  // taken over once it expires. Exclusive stores' claims never expire.
  int64_t lease_ms = 30'000;
  // Principals' limits on RUNNING jobs (quotas), asked for at every claim;
  // null: none.
  std::function<RunningLimits()> running_limits;
  // A queued job gains a priority level for every this long it waits, up
  // to HIGH (--priority-aging; 0: never).
  int64_t priority_aging_ms = 600'000;
};

// The snapshot JobManager::ChooseSnapshot chose: the job and epoch, and the
// snapshot itself when it is in memory (the live one, or cached), else null.
struct SnapshotChoice {
  std::string job_id;
  int64_t epoch = 0;
  std::shared_ptr<const GeneratorSnapshot> snapshot;
};

class JobManager {
 public:
  // `store` must outlive the manager; `metrics` may be null. Counts the
  // stored jobs and makes interrupted ones claimable.
  static StatusOr<std::unique_ptr<JobManager>> Create(ManagerOptions options, Store* store,
                                                      Metrics* metrics = nullptr);
  // Called on the worker's thread each time a job's run in this process
  // ends (it ended, was preempted or stopped by a drain); must not block.
  // Set before Start() (the StudyManager's wake-up).
  void set_on_run_end(std::function<void()> fn) { on_run_end_ = std::move(fn); }
  // Starts the training workers (and the retention janitor). Call once.
  void Start();
  // Something may be claimable now that was not (the principals' quotas
  // changed): idle workers try to claim.
  void Poke();
  // Drains (if not yet) and joins the workers.
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // The jobs domain: the API layer (server/api/calls.h) has checked each
  // request's shape (ids present, names' lengths, enums, page sizes); these
  // methods answer what it means.
  //
  // The domain speaks JobRow (server/store/store.h), the stored form, whose
  // spec and events are gantry.v1 messages; the API layer maps rows to
  // gantry.v1.Job (server/api/job_proto.h).
  //
  // Validates the spec and labels (server/jobs/labels.h); a request_id
  // retry must repeat the spec, name and labels (else ALREADY_EXISTS). The
  // stored row (the earlier job's, for a retry).
  StatusOr<JobRow> Create(const NewJob& job);
  // The job's row; with ReadPoints::kYes, a USER dataset's points too.
  StatusOr<JobRow> Get(const std::string& id, ReadPoints points = ReadPoints::kNo) const;
  // Up to query.page_size + 1 rows, newest first, filtered by state and
  // label_selector (INVALID_ARGUMENT naming a bad term); without points. A
  // row past page_size says that more follow (its index starts the next
  // page).
  StatusOr<std::vector<JobRow>> List(const JobsQuery& query) const;
  // Cancels a job: a queued one ends CANCELLED at once, a running one
  // between two batches of its runner. With a shared store the request is
  // always stored (Store::RequestCancel), whatever this process's runner
  // believes, so that the job's lease holder (or its next one) ends it; a
  // job whose lease has expired (its holder died or stalls) ends CANCELLED
  // here at once, under a new lease that fences the old holder out. The job
  // as it is after the call (CANCELLED when it ended here);
  // FAILED_PRECONDITION for an ended job.
  StatusOr<JobRow> Cancel(const std::string& id);
  Status Delete(const std::string& id);
  // A follower of the job's events from `from_seq` (0 or 1: the first).
  StatusOr<std::unique_ptr<EventCursor>> Watch(const std::string& id, int64_t from_seq) const;
  // The snapshot for `epoch` (or the latest; with `best`, the best evaluated
  // epoch's, INVALID_ARGUMENT together with an epoch). FAILED_PRECONDITION
  // before the first epoch (or evaluation); NOT_FOUND for an epoch whose
  // snapshot is not kept, naming the kept ones. May read the store: call it
  // off the RPC threads. LoadSnapshot(ChooseSnapshot(...)).
  StatusOr<std::shared_ptr<const GeneratorSnapshot>> Snapshot(const std::string& id,
                                                              std::optional<int64_t> epoch,
                                                              bool best = false) const;
  // Snapshot's first half, with its errors: which snapshot it answers with,
  // from the job's row and blob list only (read as GetJob reads its row),
  // never a snapshot file.
  StatusOr<SnapshotChoice> ChooseSnapshot(const std::string& id, std::optional<int64_t> epoch,
                                          bool best = false) const;
  // Its second half: the chosen snapshot, read when it is not in memory
  // (NOT_FOUND when it was deleted meanwhile).
  StatusOr<std::shared_ptr<const GeneratorSnapshot>> LoadSnapshot(
      const SnapshotChoice& choice) const;

  // The epochs whose snapshots Snapshot() serves, ascending (the kept ones
  // and a running job's latest), and the best evaluated epoch (0: none
  // yet). NOT_FOUND for an unknown id. Reads the store.
  struct SnapshotEpochs {
    std::vector<int64_t> epochs;
    int64_t best_epoch = 0;
  };
  StatusOr<SnapshotEpochs> ListSnapshots(const std::string& id) const;

  // A table job's evaluation of one evaluated epoch in full (default the
  // best), with the scores of every evaluated epoch (server/jobs/table_report.cc).
  // FAILED_PRECONDITION for a point job, before the first evaluation, or
  // when the job's table was deleted; INVALID_ARGUMENT for an epoch that was
  // not evaluated. Reads the table and a snapshot: call it off the RPC threads.
  StatusOr<v1::TableReport> TableReport(const std::string& id, std::optional<int64_t> epoch) const;

  // The job's training points, at most max_points rows (1..1e6/dim; 0:
  // up to 10,000).
  StatusOr<v1::GetDatasetResponse> Dataset(const std::string& id, int64_t max_points) const;

  // Stops accepting jobs; running ones stop at the end of their current
  // epoch and checkpoint, or between two batches once drain_grace_ms has
  // passed (they stay RUNNING, with no terminal event, and resume on the
  // next start); interrupts every follower. Returns once the workers are
  // idle. Idempotent.
  void Drain();
  bool draining() const;

  const ManagerOptions& options() const { return options_; }

 private:
  JobManager(ManagerOptions options, Store* store, Metrics* metrics);
  // init_from's job exists and has the checkpoint named (OK without init_from).
  Status CheckInitFrom(const JobSpec& spec) const;
  void Run(const std::shared_ptr<ActiveJob>& job);
  // Scheduler::Reserve; with a shared store a full queue is recounted from
  // the store (CapClaimable) before the job is refused.
  Status Reserve();
  // The stored row (through the overlay: a failure the store could not
  // record reads FAILED).
  StatusOr<JobRow> Row(const std::string& id, ReadPoints points) const;
  void CountState(v1::JobState from, v1::JobState to) const;
  // A shared store's other replicas, on two threads of their own. The poll
  // (every kReplicaPoll, or a third of the lease if shorter) applies cancels
  // requested elsewhere, ends jobs whose lease expired with a cancel
  // requested, lets idle workers claim (new jobs, expired leases) and wakes
  // followers of jobs trained elsewhere (notifications do the same at
  // once). The lease loop only renews this process's leases, every third of
  // the lease (a lost one stops its job), so that no poll or store read
  // delays a renewal.
  void PollLoop();
  void LeaseLoop();
  std::chrono::milliseconds LeaseRenewal() const;
  // Waits `period`; false once the manager is being destroyed.
  bool WaitReplicaTick(std::chrono::milliseconds period) EXCLUDES(replica_mu_);
  void OnStoreChange(const StoreChange& change);
  // Stops this process's runner of the job, if it has one.
  void CancelLocal(const std::string& id);
  // Cancel of a job RUNNING in a shared store: records the request in the
  // store (whatever this process's runner believes), stops a local runner,
  // and ends the job here when its lease has expired. The job as it is now
  // (CANCELLED when ended here); nullopt when it is no longer RUNNING.
  StatusOr<std::optional<JobRow>> CancelShared(const JobRow& row);
  // Claims a job whose lease expired with a cancel requested (`id`, or ""
  // for any: Store::ClaimCancelled) and ends it CANCELLED under the new
  // lease. The ended row; nullopt when there was none to claim.
  StatusOr<std::optional<JobRow>> FinishExpiredCancel(const std::string& id);
  // The replica loop's scan: FinishExpiredCancel("") until none is left
  // (at most 100 a poll).
  void FinishExpiredCancels();
  // Appends the CANCELLED event under row.lease (fenced: FAILED_PRECONDITION
  // when the lease changed), publishes it and deletes the checkpoints. The
  // ended row.
  StatusOr<JobRow> StoreCancelled(const JobRow& row);

  const ManagerOptions options_;
  // Ends this process could not store, laid over the store's rows and
  // events for every reader; store_ is this overlay.
  UnstoredOverlay overlay_;
  Store* const store_;
  Metrics* const metrics_;  // may be null
  mutable EventHub hub_;
  mutable SnapshotCache snapshots_;
  Scheduler scheduler_;
  Retention retention_;
  std::thread poll_thread_;
  std::thread lease_thread_;
  Mutex replica_mu_;
  CondVar replica_cv_;
  bool replica_stop_ GUARDED_BY(replica_mu_) = false;  // both loops end
  std::function<void()> on_run_end_;  // set before Start()
};

}  // namespace gantry
