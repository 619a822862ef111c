// WorkPool: a few threads, at a lower scheduling priority than the RPC
// threads, for the heavy part of RPCs (computing samples, reading and
// deserialising snapshots, exporting a generator, regenerating a dataset),
// so that a burst of them never delays cheap calls such as GetJob.
//
// The queue is bounded: Submit() refuses work beyond max_queued tasks, and
// the caller answers RESOURCE_EXHAUSTED.
//
// Thread-safety: every method is safe from any thread. Tasks run on the
// pool's threads; Stop() runs what is queued, then joins.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "server/util/mutex.h"

namespace gantry {

class WorkPool {
 public:
  // `nice` is added to the threads' nice value (Linux: per thread).
  WorkPool(int threads, size_t max_queued, int nice = 5);
  ~WorkPool() { Stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False when the queue is full or the pool stopped: the task is dropped.
  bool Submit(std::function<void()> task) EXCLUDES(mu_);
  // The next step of work already admitted (a stream's next chunk): queued
  // even when the queue is full (each open stream has at most one such
  // step queued, so they stay bounded by the open streams). False only once
  // the pool stopped.
  bool Continue(std::function<void()> task) EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_, join_mu_);
  size_t max_queued() const { return max_queued_; }

 private:
  void Loop(int nice) EXCLUDES(mu_);

  const size_t max_queued_;
  Mutex mu_;  // never held while a task runs
  CondVar cv_;
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  // Joined by the first Stop() under join_mu_; a Stop from another thread
  // at once waits for it.
  Mutex join_mu_;
  std::vector<std::thread> threads_ GUARDED_BY(join_mu_);
};

}  // namespace gantry
