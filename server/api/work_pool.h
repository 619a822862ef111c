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

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gantry {

class WorkPool {
 public:
  // `nice` is added to the threads' nice value (Linux: per thread).
  WorkPool(int threads, size_t max_queued, int nice = 5);
  ~WorkPool() { Stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False when the queue is full or the pool stopped: the task is dropped.
  bool Submit(std::function<void()> task);
  // The next step of work already admitted (a stream's next chunk): queued
  // even when the queue is full (each open stream has at most one such
  // step queued, so they stay bounded by the open streams). False only once
  // the pool stopped.
  bool Continue(std::function<void()> task);
  void Stop();
  size_t max_queued() const { return max_queued_; }

 private:
  void Loop(int nice);

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // Guarded by mu_.
  bool stopping_ = false;                    // Guarded by mu_.
  std::vector<std::thread> threads_;
};

}  // namespace gantry
