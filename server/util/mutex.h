// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// the capability annotations clang's -Wthread-safety needs (libstdc++'s
// carry none), at no cost: each call is the std one, inline.
//
//   mutable Mutex mu_;
//   std::deque<Task> queue_ GUARDED_BY(mu_);
//   CondVar cv_;
//
//   void Push(Task t) EXCLUDES(mu_) {
//     MutexLock lock(&mu_);
//     queue_.push_back(std::move(t));
//     cv_.SignalAll();
//   }
//   Task Pop() EXCLUDES(mu_) {
//     MutexLock lock(&mu_);
//     while (queue_.empty()) cv_.Wait(&mu_);  // a loop, not a predicate: the
//     ...                                     // analysis checks the condition
//   }
//
// A wait is a loop around CondVar::Wait, whose REQUIRES(mu) the analysis
// checks at the call (a predicate lambda would be analysed as a function of
// its own, without the lock). MutexLock::Unlock/Lock let a scope drop the
// lock around a call that must run without it (a task, store I/O, a
// notifier) and take it back.
//
// Thread-safety: a Mutex and a CondVar are shared by the threads that use
// them; a MutexLock belongs to the thread that made it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "server/util/thread_annotations.h"

namespace gantry {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // True when the lock was free and is now held.
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the calling thread holds this lock (checks
  // nothing at run time): for code it cannot follow.
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Drops the lock until Lock(); the destructor then leaves it alone.
  void Unlock() RELEASE() {
    held_ = false;
    mu_->Unlock();
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// Waits for a change made under a Mutex. Every wait may wake spuriously:
// wait in a loop that tests the condition.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu` while it waits; holds it again when it returns.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Like Wait, until `deadline` at the latest. False once the deadline has
  // passed, so a timed wait for a condition reads
  //   const auto deadline = std::chrono::steady_clock::now() + timeout;
  //   while (!condition && cv_.WaitUntil(&mu_, deadline)) {}
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace gantry
