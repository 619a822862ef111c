// JobManager: owns every job, the bounded queue and the fixed pool of
// training workers.
//
// With a JobStore, every job and event is committed before it is
// acknowledged, trainer checkpoints are written every checkpoint_every epochs
// and at drain, and on start QUEUED jobs are queued again and RUNNING ones
// resume from their newest readable checkpoint: the epochs they train again
// reproduce the stored events exactly, so those are not repeated, and the
// job's event sequence continues unbroken.
//
// A job is QUEUED, then RUNNING on one worker thread, then SUCCEEDED, FAILED
// or CANCELLED; each change and each epoch is an event in the job's
// EventLog. Workers are created once (max_concurrent_jobs) and run one job
// at a time with one math thread each; gRPC threads never train. Generator
// snapshots are kept every checkpoint_every epochs and at the last epoch,
// and the latest one always, for Sample and ExportGenerator.
//
// Thread-safety: every public method is safe from any thread. Shared state
// is guarded by mu_; each job's EventLog has its own lock; the per-job
// cancel flag is atomic.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/snapshot.h"
#include "core/spec.h"
#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/event_log.h"
#include "server/job_store.h"
#include "server/metrics.h"

namespace gantry {

struct ManagerOptions {
  int max_concurrent_jobs = 2;      // training workers, >= 1
  int max_queued_jobs = 100;        // jobs waiting for a worker, >= 0
  int64_t max_sample_points = 10'000'000;  // per Sample/SampleStream call
  int checkpoints_kept = 3;         // newest full trainer checkpoints kept per job
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
};

class JobManager {
 public:
  // `store` may be null (nothing survives the process). With a store, the
  // stored jobs are loaded (and resumed) first; a failure to load is fatal.
  // `metrics` may be null too.
  static StatusOr<std::unique_ptr<JobManager>> Create(ManagerOptions options, JobStore* store,
                                                      Metrics* metrics = nullptr);
  // Starts the training workers (and the retention janitor). Call once.
  void Start();
  // Drains (if not yet) and joins the workers.
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  StatusOr<v1::Job> Create(const v1::CreateJobRequest& request);
  StatusOr<v1::Job> Get(const std::string& id) const;
  StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request) const;
  StatusOr<v1::Job> Cancel(const std::string& id);
  Status Delete(const std::string& id);
  StatusOr<std::shared_ptr<EventLog>> Events(const std::string& id) const;
  // The snapshot for `epoch` (or the latest). FAILED_PRECONDITION before the
  // first epoch; NOT_FOUND for an epoch whose snapshot is not kept, naming
  // the kept ones.
  StatusOr<std::shared_ptr<const GeneratorSnapshot>> Snapshot(const std::string& id,
                                                              std::optional<int64_t> epoch) const;

  // The job's training points, at most max_points rows (1..1e6/dim).
  StatusOr<v1::GetDatasetResponse> Dataset(const v1::GetDatasetRequest& request) const;

  // Stops accepting jobs; running ones stop at the end of their current
  // epoch and checkpoint, or between two batches once drain_grace_ms has
  // passed (they stay RUNNING, with no terminal event, and resume on the
  // next start); interrupts every event log so that watchers end. Returns
  // once the workers are idle. Idempotent.
  void Drain();
  bool draining() const;

  const ManagerOptions& options() const { return options_; }

  // Deletes ended jobs beyond the retention policy. Returns how many.
  int ApplyRetention();

 private:
  struct JobRecord;
  JobManager(ManagerOptions options, JobStore* store, Metrics* metrics);
  void CountState(v1::JobState from, v1::JobState to);
  Status Recover();
  // Makes the event durable (with the job's row), then publishes it. mu_ held
  // for state events; epoch events come from the job's worker alone.
  Status Publish(JobRecord& job, v1::JobEvent event);
  JobRow RowOf(const JobRecord& job) const;
  // Ends a job whose progress the store refused (mu_ held).
  void FailUnstored(JobRecord& job, const Status& cause);
  Status DeleteLocked(const std::string& id);
  // Restores the newest readable checkpoint; returns its epoch (0: none).
  StatusOr<int64_t> RestoreCheckpoint(JobRecord& job, class Trainer& trainer);
  void SaveCheckpoint(JobRecord& job, const class Trainer& trainer);
  void JanitorLoop();

  // Whether `job` may start beside the running jobs (mu_ held).
  bool Fits(const JobRecord& job) const;
  void WorkerLoop();
  void RunJob(const std::shared_ptr<JobRecord>& job);
  // Sets the state, appends the state event and logs the change.
  void SetState(JobRecord& job, v1::JobState state, const std::string& error = "");
  v1::Job ToProto(const JobRecord& job) const;  // mu_ held
  StatusOr<std::shared_ptr<JobRecord>> Find(const std::string& id) const;  // mu_ held

  const ManagerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;  // signalled when a worker finishes a job
  std::map<std::string, std::shared_ptr<JobRecord>> jobs_;       // Guarded by mu_.
  std::map<int64_t, std::shared_ptr<JobRecord>> by_index_;       // Guarded by mu_.
  std::map<std::string, std::string> request_ids_;               // Guarded by mu_.
  std::deque<std::shared_ptr<JobRecord>> queue_;                 // Guarded by mu_.
  int64_t next_index_ = 1;                                       // Guarded by mu_.
  int running_ = 0;                                              // Guarded by mu_.
  int64_t running_memory_ = 0;  // estimates of the running jobs  // Guarded by mu_.
  std::atomic<bool> draining_{false};
  JobStore* const store_;  // may be null
  Metrics* const metrics_;  // may be null
  std::vector<std::thread> workers_;
  std::thread janitor_;
};

}  // namespace gantry
