// Scheduler: admission, the queue, the fixed pool of training workers, and
// drain.
//
// The queue itself is in the store: a worker claims the next job with
// Store::ClaimNext (a job interrupted by the last shutdown first, then the
// oldest queued one), within the memory left beside the running jobs, so a
// large job at the head waits for memory rather than being overtaken. The
// scheduler only counts: jobs claimable (claimable_), running ones and their
// memory.
//
// Thread-safety: every method is safe from any thread. mu_ guards the
// counts and the running set and is never held during store I/O; claim_mu_
// serialises the workers' claims (held during ClaimNext; no RPC takes it),
// and is taken before mu_.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "server/jobs/active_job.h"
#include "server/jobs/stop_token.h"
#include "server/util/mutex.h"
#include "server/store/store.h"

namespace gantry {

// "low", "normal" or "high" for v1::Priority's numbers (anything else: "normal").
const char* PriorityName(int priority);

struct SchedulerOptions {
  int max_concurrent_jobs = 2;
  int max_queued_jobs = 100;
  int64_t max_memory = 0;  // 0: no limit
  int64_t drain_grace_ms = 10'000;
  std::string owner;     // this process, as the store's lease owner
  int64_t lease_ns = 0;  // how long a claim holds without renewal
  // A shared store: the queue is shared by every replica, and this process
  // counts only the queued jobs it knows of (its own, and those found at
  // start); other replicas' claims are not counted until CapClaimable.
  bool shared = false;
  // Principals' limits on RUNNING jobs (quotas; null: none), asked for at
  // every claim: a queued job of a creator at its limit waits, and later
  // jobs of others start first.
  std::function<RunningLimits()> running_limits;
  // A queued job gains a priority level for every this long it waits (0:
  // never): see ClaimPolicy.
  int64_t priority_aging_ns = int64_t{600} * 1'000'000'000;
};

// How Reserve's RESOURCE_EXHAUSTED for a full queue begins, and whether a
// status is that refusal (the caller may retry once jobs have started).
inline constexpr char kQueueFull[] = "the queue is full: ";
inline bool IsQueueFull(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted && s.message().rfind(kQueueFull, 0) == 0;
}

class Scheduler {
 public:
  // `run` trains one claimed job on the calling worker thread.
  using RunFn = std::function<void(const std::shared_ptr<ActiveJob>&)>;
  Scheduler(SchedulerOptions options, Store* store, RunFn run);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Sets how many jobs are claimable (at start-up, from the store: the
  // queued jobs, and with an exclusive store the interrupted ones too).
  void SetClaimable(int64_t count);
  // A shared store's count of QUEUED jobs: this process's count of
  // claimable jobs is lowered to it (other replicas may have claimed jobs
  // it counted).
  void CapClaimable(int64_t queued);
  void Start();

  // Reserves a place for a new job: UNAVAILABLE while draining,
  // RESOURCE_EXHAUSTED when the queue is full: when the jobs waiting for a
  // worker (claimable and reserved ones, less the idle workers that take
  // them at once) number max_queued_jobs; the message says how many and
  // what was counted. Follow with Added() once the job is stored, or
  // Unreserve() when it was not.
  Status Reserve();
  // `id`'s place is stored, with v1::Priority `priority`: when no worker
  // is free, the running job of the lowest priority below it (the latest
  // started among equals) is asked to make room (ActiveJob::Preempt).
  void Added(const std::string& id = "", int priority = v1::PRIORITY_NORMAL);
  void Unreserve();
  // A queued job was cancelled: it is no longer claimable.
  void Removed();

  // The job if it runs in this process.
  std::shared_ptr<ActiveJob> Running(const std::string& id) const;
  // Every job running in this process.
  std::vector<std::shared_ptr<ActiveJob>> AllRunning() const;
  // Something may be claimable that this process did not add (a shared
  // store: another replica's job, or an expired lease): idle workers try.
  void Poke();

  // Stops claiming; waits up to drain_grace_ms for running jobs to finish
  // their epoch (their runners hold drain_token()), then stops the rest
  // between two batches and joins the workers. Idempotent, and safe from
  // two threads at once (the second returns once the workers are joined).
  void Drain() EXCLUDES(join_mu_, mu_);
  // The server's one drain flag: set by Drain(), read by runners, the
  // manager and the API layer.
  StopToken drain_token() const { return drain_.token(); }
  bool draining() const { return drain_.stop_requested(); }

 private:
  void WorkerLoop();
  // RESOURCE_EXHAUSTED: `waiting` jobs wait for a worker.
  Status QueueFull(int64_t waiting) const REQUIRES(mu_);

  const SchedulerOptions options_;
  Store* const store_;
  const RunFn run_;
  StopSource drain_;
  Mutex claim_mu_ ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  CondVar work_cv_;
  CondVar idle_cv_;
  int64_t claimable_ GUARDED_BY(mu_) = 0;      // queued (and interrupted) jobs
  int64_t reserved_ GUARDED_BY(mu_) = 0;       // admitted, not yet stored
  bool head_blocked_ GUARDED_BY(mu_) = false;  // the next job waits for memory
  // Every queued job's creator is at its running limit: wait for a job to
  // end or a new one to come.
  bool quota_blocked_ GUARDED_BY(mu_) = false;
  // Counts every change that can make a claim succeed (a job stored,
  // cancelled or ended), so that a worker whose claim found nothing only
  // concludes so when nothing changed during the claim.
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  int running_ GUARDED_BY(mu_) = 0;
  int64_t running_memory_ GUARDED_BY(mu_) = 0;
  std::map<std::string, std::shared_ptr<ActiveJob>> active_ GUARDED_BY(mu_);
  // Started by Start(), joined by the first Drain() under join_mu_ (a
  // second Drain waits for it and finds none left).
  Mutex join_mu_;
  std::vector<std::thread> workers_ GUARDED_BY(join_mu_);
};

}  // namespace gantry
