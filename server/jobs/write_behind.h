// WriteBehind: runs one job's store writes in order on a thread of their
// own, so that its trainer goes on with the next epoch while an epoch's
// event, snapshot and checkpoint are stored (the store's commits and fsyncs
// then cost the job no training time).
//
// Tasks run one at a time, in the order pushed; a task returns false when
// the job is over for this process (a write failed, the lease was lost), and
// from then on nothing more runs: later tasks are dropped, so nothing is
// written after a failure. Push() waits while `max_pending` tasks are queued
// (the queue, and what its tasks hold, stay bounded).
//
// Thread-safety: Push, Wait and stopped are for one producer thread (the
// job's runner); the tasks run on the internal thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace gantry {

class WriteBehind {
 public:
  explicit WriteBehind(size_t max_pending);
  // Runs what is queued, then joins the thread.
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues `task`. False (and `task` dropped) once a task returned false.
  bool Push(std::function<bool()> task);
  // Waits until every queued task has run. False once a task returned false.
  bool Wait();
  // Waits until `done()` (checked after each task) or a task returned false;
  // returns done().
  bool WaitUntil(const std::function<bool()>& done);
  // A task returned false.
  bool stopped() const;

 private:
  void Loop();

  const size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<bool()>> queue_;  // Guarded by mu_.
  bool busy_ = false;                        // a task is running; guarded by mu_
  bool stopped_ = false;                     // Guarded by mu_.
  bool quit_ = false;                        // Guarded by mu_.
  std::thread thread_;
};

}  // namespace gantry
