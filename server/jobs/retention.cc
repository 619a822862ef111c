#include "server/jobs/retention.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "server/util/clock.h"

namespace gantry {
namespace {

// How often the janitor applies the policy.
constexpr auto kRunEvery = std::chrono::seconds(5);
// Expired ids read per store call, and calls per run: a large backlog is
// never loaded at once, and one run ends after 50,000 deletions (the next
// run takes the rest).
constexpr int kBatchIds = 500;
constexpr int kMaxBatchesPerRun = 100;

}  // namespace

void Retention::Start() {
  if (!enabled() || thread_.joinable()) return;  // no policy, or started already
  thread_ = std::thread([this] {
    MutexLock lock(&mu_);
    while (!stopping_) {
      lock.Unlock();
      RunOnce();
      lock.Lock();
      const auto next = std::chrono::steady_clock::now() + kRunEvery;
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
  const int64_t now = NowNs();
  // An age longer than the clock has run (since 1970) expires nothing, and
  // its nanoseconds could overflow.
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  const int64_t before =
      seconds_ > 0 && seconds_ < now / kNsPerSecond ? now - seconds_ * kNsPerSecond : 0;
  int deleted = 0;
  for (int round = 0; round < kMaxBatchesPerRun; ++round) {
    auto ids = store_->ExpiredJobs(before, count_, kBatchIds);
    if (!ids.ok()) {
      spdlog::error("retention: {}", ids.status().message());
      break;
    }
    int n = 0;
    for (const std::string& id : *ids) n += remove_(id).ok();
    deleted += n;
    if (n == 0 || ids->size() < kBatchIds) break;
  }
  if (deleted > 0) spdlog::info("retention deleted {} ended jobs", deleted);
  return deleted;
}

}  // namespace gantry
