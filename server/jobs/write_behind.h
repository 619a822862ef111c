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

#include <deque>
#include <functional>
#include <thread>

#include "server/util/mutex.h"

namespace gantry {

class WriteBehind {
 public:
  explicit WriteBehind(size_t max_pending);
  // Runs what is queued, then joins the thread.
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues `task`. False (and `task` dropped) once a task returned false.
  bool Push(std::function<bool()> task) EXCLUDES(mu_);
  // Waits until every queued task has run. False once a task returned false.
  bool Wait() EXCLUDES(mu_);
  // Waits until `done()` (checked after each task) or a task returned false;
  // returns done(). `done` runs with the internal lock held: it must not
  // call this object.
  bool WaitUntil(const std::function<bool()>& done) EXCLUDES(mu_);
  // A task returned false.
  bool stopped() const EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);

  const size_t max_pending_;
  mutable Mutex mu_;
  CondVar cv_;  // any change below
  std::deque<std::function<bool()>> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;  // a task is running
  bool stopped_ GUARDED_BY(mu_) = false;
  bool quit_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gantry
