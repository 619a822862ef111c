// WorkPool: a bounded queue (Submit refuses beyond max_queued; Continue
// does not), `threads` threads that run tasks at once, their nice value
// raised by `nice`, and Stop running what is queued.
#include "server/api/work_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

int ThreadNice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid))); }

TEST(WorkPoolTest, SubmitRefusesBeyondMaxQueuedAndContinueDoesNot) {
  WorkPool pool(/*threads=*/1, /*max_queued=*/2);
  EXPECT_EQ(pool.max_queued(), 2u);
  unit::Gate running, release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.Submit([&] {
    running.Open();
    EXPECT_TRUE(release.Wait());
    ++ran;
  }));
  ASSERT_TRUE(running.Wait());  // taken off the queue by the only thread
  EXPECT_TRUE(pool.Submit([&] { ++ran; }));
  EXPECT_TRUE(pool.Submit([&] { ++ran; }));
  EXPECT_FALSE(pool.Submit([&] { ++ran; })) << "the queue is full";
  EXPECT_TRUE(pool.Continue([&] { ++ran; })) << "a stream's next step is admitted already";
  release.Open();
  pool.Stop();  // runs what is queued
  EXPECT_EQ(ran, 4);
  EXPECT_FALSE(pool.Submit([&] { ++ran; }));
  EXPECT_FALSE(pool.Continue([&] { ++ran; }));
  EXPECT_EQ(ran, 4);
}

TEST(WorkPoolTest, RunsAsManyTasksAtOnceAsItHasThreads) {
  constexpr int kThreads = 3;
  WorkPool pool(kThreads, 16);
  // Each task waits until all kThreads run: with fewer threads they would
  // wait until the deadline.
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  std::atomic<int> met{0};
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(pool.Submit([&] {
      std::unique_lock<std::mutex> lock(mu);
      ++arrived;
      cv.notify_all();
      if (cv.wait_for(lock, unit::kDeadline, [&] { return arrived == kThreads; })) ++met;
    }));
  }
  pool.Stop();
  EXPECT_EQ(met, kThreads);
}

TEST(WorkPoolTest, ItsThreadsRunAtALowerPriority) {
  const int base = ThreadNice();
  for (int nice : {0, 5}) {
    WorkPool pool(2, 4, nice);
    std::atomic<int> seen{-100};
    std::atomic<bool> on_caller{false};
    const auto caller = std::this_thread::get_id();
    ASSERT_TRUE(pool.Submit([&] {
      seen = ThreadNice();
      on_caller = std::this_thread::get_id() == caller;
    }));
    pool.Stop();
    EXPECT_EQ(seen, std::min(19, base + nice)) << "nice " << nice;
    EXPECT_FALSE(on_caller);
  }
  EXPECT_EQ(ThreadNice(), base) << "the caller's own priority is unchanged";
}

}  // namespace
}  // namespace gantry
