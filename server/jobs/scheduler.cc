#include "server/jobs/scheduler.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "server/util/clock.h"

namespace gantry {
namespace {

// How long a worker waits after a failed claim (the store unreachable)
// before it claims again.
constexpr auto kClaimRetryAfter = std::chrono::seconds(1);

}  // namespace

const char* PriorityName(int priority) {
  switch (priority) {
    case v1::PRIORITY_LOW: return "low";
    case v1::PRIORITY_HIGH: return "high";
    default: return "normal";
  }
}

Scheduler::Scheduler(SchedulerOptions options, Store* store, RunFn run)
    : options_(std::move(options)), store_(store), run_(std::move(run)) {}

Scheduler::~Scheduler() { Drain(); }

void Scheduler::SetClaimable(int64_t count) {
  MutexLock lock(&mu_);
  claimable_ = count;
}

void Scheduler::CapClaimable(int64_t queued) {
  {
    MutexLock lock(&mu_);
    claimable_ = std::min(claimable_, std::max<int64_t>(0, queued));
  }
  work_cv_.SignalAll();
}

void Scheduler::Start() {
  MutexLock join(&join_mu_);
  for (int i = 0; i < options_.max_concurrent_jobs; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

Status Scheduler::Reserve() {
  MutexLock lock(&mu_);
  if (drain_.stop_requested()) return Status::Unavailable("the server is shutting down; no new jobs");
  // Idle workers take new jobs at once, unless the next job waits for memory.
  const int idle = head_blocked_ ? 0 : std::max(0, options_.max_concurrent_jobs - running_);
  if (claimable_ + reserved_ >= options_.max_queued_jobs + idle) {
    return QueueFull(std::max<int64_t>(0, claimable_ + reserved_ - idle));
  }
  ++reserved_;
  return Status::Ok();
}

Status Scheduler::QueueFull(int64_t waiting) const {
  const std::string limit = std::to_string(options_.max_queued_jobs);
  if (options_.shared) {
    return Status::ResourceExhausted(std::string(kQueueFull) + "this replica counts " +
                                     std::to_string(waiting) +
                                     " queued jobs waiting for a worker (--max-queued-jobs " +
                                     limit + " applies per replica)");
  }
  return Status::ResourceExhausted(kQueueFull + std::to_string(waiting) +
                                   " jobs are waiting (--max-queued-jobs " + limit + ")");
}

void Scheduler::Added(const std::string& id, int priority) {
  {
    MutexLock lock(&mu_);
    --reserved_;
    ++claimable_;
    quota_blocked_ = false;  // a new job: perhaps of a creator under its limit
    ++generation_;
    if (running_ >= options_.max_concurrent_jobs) {
      // No worker is free: the lowest priority below the new job's makes
      // room, the latest started among equals (it loses the least work).
      std::shared_ptr<ActiveJob> victim;
      for (const auto& [job_id, job] : active_) {
        if (job->preempt.load() || job->claimed_priority >= priority) continue;
        if (!victim || job->claimed_priority < victim->claimed_priority ||
            (job->claimed_priority == victim->claimed_priority && job->row.start_ns > victim->row.start_ns)) {
          victim = job;
        }
      }
      if (victim &&
          victim->Preempt("preempted for job " + id + " (priority " + PriorityName(priority) + ")")) {
        spdlog::info("job {} (priority {}) stops at its next epoch for job {} (priority {})", victim->id,
                     PriorityName(victim->claimed_priority), id, PriorityName(priority));
      }
    }
  }
  work_cv_.SignalAll();
}

void Scheduler::Unreserve() {
  MutexLock lock(&mu_);
  --reserved_;
}

void Scheduler::Removed() {
  {
    MutexLock lock(&mu_);
    if (claimable_ > 0) --claimable_;
    head_blocked_ = false;  // the head may have been the cancelled job
    quota_blocked_ = false;
    ++generation_;
  }
  work_cv_.SignalAll();
}

std::shared_ptr<ActiveJob> Scheduler::Running(const std::string& id) const {
  MutexLock lock(&mu_);
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ActiveJob>> Scheduler::AllRunning() const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<ActiveJob>> out;
  for (const auto& [id, job] : active_) out.push_back(job);
  return out;
}

void Scheduler::Poke() {
  {
    MutexLock lock(&mu_);
    if (running_ >= options_.max_concurrent_jobs) return;
    claimable_ = std::max<int64_t>(claimable_, 1);
    head_blocked_ = false;
    quota_blocked_ = false;
    ++generation_;
  }
  work_cv_.SignalAll();
}

void Scheduler::WorkerLoop() {
  while (true) {
    MutexLock claim(&claim_mu_);
    int64_t budget = -1;
    uint64_t generation = 0;
    {
      MutexLock lock(&mu_);
      while (!drain_.stop_requested() && (claimable_ <= 0 || head_blocked_ || quota_blocked_)) {
        work_cv_.Wait(&mu_);
      }
      if (drain_.stop_requested()) return;
      if (options_.max_memory > 0 && running_ > 0) {
        budget = std::max<int64_t>(0, options_.max_memory - running_memory_);
      }
      generation = generation_;
    }
    ClaimPolicy policy;
    if (options_.running_limits) policy.running = options_.running_limits();
    policy.priority_aging_ns = options_.priority_aging_ns;
    const RunningLimits& limits = policy.running;
    auto claimed = store_->ClaimNext(options_.owner, budget, options_.lease_ns, policy);
    if (!claimed.ok()) {
      spdlog::error("claiming the next job failed: {}; retrying in {} s",
                    claimed.status().message(), kClaimRetryAfter.count());
      claim.Unlock();
      MutexLock lock(&mu_);
      const auto deadline = std::chrono::steady_clock::now() + kClaimRetryAfter;
      while (!drain_.stop_requested() && work_cv_.WaitUntil(&mu_, deadline)) {
      }
      continue;
    }
    std::shared_ptr<ActiveJob> job;
    {
      MutexLock lock(&mu_);
      if (!claimed->has_value()) {
        // Something changed during the claim (a job stored or ended): try
        // again. Else the next job waits for memory (with a budget), or the
        // count was stale (without one: nothing is claimable).
        if (generation != generation_ || drain_.stop_requested()) continue;
        if (!limits.empty()) {
          // Perhaps every queued job's creator is at its limit (or the head
          // waits for memory): a new job, or an ended one, may change that.
          quota_blocked_ = true;
        } else if (budget >= 0) {
          head_blocked_ = true;
        } else {
          claimable_ = 0;
        }
        continue;
      }
      job = std::make_shared<ActiveJob>();
      job->row = std::move(**claimed);
      job->id = job->row.id;
      job->lease = job->row.lease;
      job->cancel_requested = job->row.cancel_requested;
      job->claimed_priority = AgedPriority(job->row, NowNs(), options_.priority_aging_ns);
      if (claimable_ > 0) --claimable_;
      ++running_;
      running_memory_ += job->row.memory_bytes;
      active_[job->row.id] = job;
    }
    claim.Unlock();
    run_(job);
    {
      MutexLock lock(&mu_);
      --running_;
      running_memory_ -= job->row.memory_bytes;
      // Only this run's entry: after a lost lease (an outage, a pause) this
      // process may have claimed the job again on another worker.
      if (auto it = active_.find(job->id); it != active_.end() && it->second == job) {
        active_.erase(it);
      }
      head_blocked_ = false;  // its memory may let the next job start
      quota_blocked_ = false;  // its creator may be under its limit now
      if (job->requeue_stored.load()) ++claimable_;  // preempted: queued again
      ++generation_;
    }
    idle_cv_.SignalAll();
    work_cv_.SignalAll();
  }
}

void Scheduler::Drain() {
  {
    MutexLock lock(&mu_);
    if (drain_.request_stop()) {
      spdlog::info("draining: no new jobs; running jobs stop after their current epoch");
    }
  }
  work_cv_.SignalAll();
  {
    MutexLock lock(&mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.drain_grace_ms);
    while (running_ != 0 && idle_cv_.WaitUntil(&mu_, deadline)) {
    }
    if (running_ != 0) {
      for (auto& [id, job] : active_) {
        spdlog::warn(
            "job {}: its epoch outlasted the drain grace; stopping it mid-epoch "
            "(it resumes from its last checkpoint)",
            id);
        job->stop = true;
      }
    }
  }
  MutexLock join(&join_mu_);
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
}

}  // namespace gantry
