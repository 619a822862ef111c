// ActiveJob: a job this process has claimed, while its runner trains it.
//
// Thread-safety: `row` and `spec` belong to the runner's thread (row is the
// lease holder's copy of the stored row); the flags are atomic; the latest
// snapshot is behind a lock of its own.
#pragma once

#include <atomic>
#include <memory>

#include "core/snapshot.h"
#include "core/spec.h"
#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

struct ActiveJob {
  JobRow row;
  // The claim: set before the job is shared, never changed (the lease
  // renewer reads them while the runner owns `row`).
  std::string id;
  int64_t lease = 0;
  std::atomic<bool> lease_lost{false};        // another replica took the job over
  JobSpec spec;
  std::atomic<bool> stop{false};              // the trainer stops between batches
  std::atomic<bool> cancel_requested{false};  // a user's cancel (not a drain)
  // Preemption (Scheduler::Added): the runner stops at the next epoch
  // boundary with a checkpoint and queues the job again, saying why.
  std::atomic<bool> preempt{false};
  // Set by the runner as it starts to queue the job again for a preemption,
  // before it looks at cancel_requested (see JobManager::Cancel).
  std::atomic<bool> requeued{false};
  // Set once the QUEUED event is stored: the scheduler counts the job
  // claimable again.
  std::atomic<bool> requeue_stored{false};
  // The priority it was claimed at (aged, ClaimPolicy), set before the job
  // is shared: a job that waited its way up is not the next one preempted.
  int claimed_priority = v1::PRIORITY_NORMAL;

  // Asks for a preemption for `why` (the first ask wins); false when one was
  // asked already.
  bool Preempt(std::string why) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (preempt.load()) return false;
    preempt_reason_ = std::move(why);
    preempt = true;
    return true;
  }
  std::string preempt_reason() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return preempt_reason_;
  }

  std::shared_ptr<const GeneratorSnapshot> latest_snapshot() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return latest_;
  }
  void set_latest_snapshot(std::shared_ptr<const GeneratorSnapshot> s) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    latest_ = std::move(s);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const GeneratorSnapshot> latest_ GUARDED_BY(mu_);
  std::string preempt_reason_ GUARDED_BY(mu_);
};

}  // namespace gantry
