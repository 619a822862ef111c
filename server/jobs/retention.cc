#include "server/jobs/retention.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace gantry {

void Retention::Start() {
  if (!enabled()) return;
  thread_ = std::thread([this] {
    MutexLock lock(&mu_);
    while (!stopping_) {
      lock.Unlock();
      RunOnce();
      lock.Lock();
      const auto next = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!stopping_ && cv_.WaitUntil(&mu_, next)) {
      }
    }
  });
}

void Retention::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

int Retention::RunOnce() {
  if (!enabled()) return 0;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t before = seconds_ > 0 ? now - seconds_ * 1'000'000'000 : 0;
  int deleted = 0;
  // In batches, so that a large backlog never loads every id at once.
  for (int round = 0; round < 100; ++round) {
    auto ids = store_->ExpiredJobs(before, count_, 500);
    if (!ids.ok()) {
      spdlog::error("retention: {}", ids.status().message());
      break;
    }
    int n = 0;
    for (const std::string& id : *ids) n += remove_(id).ok();
    deleted += n;
    if (n == 0 || ids->size() < 500) break;
  }
  if (deleted > 0) spdlog::info("retention deleted {} ended jobs", deleted);
  return deleted;
}

}  // namespace gantry
