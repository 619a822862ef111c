#include "server/jobs/write_behind.h"

namespace gantry {

WriteBehind::WriteBehind(size_t max_pending)
    : max_pending_(max_pending == 0 ? 1 : max_pending), thread_([this] { Loop(); }) {}

WriteBehind::~WriteBehind() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool WriteBehind::Push(std::function<bool()> task) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopped_ || queue_.size() < max_pending_; });
  if (stopped_) return false;
  queue_.push_back(std::move(task));
  cv_.notify_all();
  return true;
}

bool WriteBehind::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopped_ || (queue_.empty() && !busy_); });
  return !stopped_;
}

bool WriteBehind::WaitUntil(const std::function<bool()>& done) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopped_ || done(); });
  return done();
}

bool WriteBehind::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

void WriteBehind::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
    if (queue_.empty()) return;  // quit, with nothing left to run
    std::function<bool()> task = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    const bool go_on = task();
    task = nullptr;  // what it held is released before anyone waits on it
    lock.lock();
    busy_ = false;
    if (!go_on) {
      stopped_ = true;
      queue_.clear();
    }
    cv_.notify_all();
  }
}

}  // namespace gantry
