#include "server/jobs/write_behind.h"

namespace gantry {

WriteBehind::WriteBehind(size_t max_pending)
    : max_pending_(max_pending == 0 ? 1 : max_pending), thread_([this] { Loop(); }) {}

WriteBehind::~WriteBehind() {
  {
    MutexLock lock(&mu_);
    quit_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

bool WriteBehind::Push(std::function<bool()> task) {
  MutexLock lock(&mu_);
  while (!stopped_ && queue_.size() >= max_pending_) cv_.Wait(&mu_);
  if (stopped_) return false;
  queue_.push_back(std::move(task));
  cv_.SignalAll();
  return true;
}

bool WriteBehind::Wait() {
  MutexLock lock(&mu_);
  while (!stopped_ && (!queue_.empty() || busy_)) cv_.Wait(&mu_);
  return !stopped_;
}

bool WriteBehind::WaitUntil(const std::function<bool()>& done) {
  MutexLock lock(&mu_);
  while (!stopped_ && !done()) cv_.Wait(&mu_);
  return done();
}

bool WriteBehind::stopped() const {
  MutexLock lock(&mu_);
  return stopped_;
}

void WriteBehind::Loop() {
  MutexLock lock(&mu_);
  for (;;) {
    while (!quit_ && queue_.empty()) cv_.Wait(&mu_);
    if (queue_.empty()) return;  // quit, with nothing left to run
    std::function<bool()> task = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.Unlock();
    const bool go_on = task();
    task = nullptr;  // what it held is released before anyone waits on it
    lock.Lock();
    busy_ = false;
    if (!go_on) {
      stopped_ = true;
      queue_.clear();
    }
    cv_.SignalAll();
  }
}

}  // namespace gantry
