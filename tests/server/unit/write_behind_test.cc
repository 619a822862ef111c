// WriteBehind: tasks run in order on their own thread; a task that fails
// stops everything after it; Push waits while max_pending tasks are queued;
// the destructor runs what is queued.
#include "server/jobs/write_behind.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

// A task that counts its run and succeeds.
std::function<bool()> Count(std::atomic<int>* ran) {
  return [ran] {
    ++*ran;
    return true;
  };
}

TEST(WriteBehindTest, RunsTasksInOrderOnItsOwnThread) {
  std::mutex mu;
  std::vector<int> ran;
  std::atomic<bool> on_caller{false};
  const auto caller = std::this_thread::get_id();
  WriteBehind writer(4);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(writer.Push([&, i] {
      if (std::this_thread::get_id() == caller) on_caller = true;
      std::lock_guard<std::mutex> lock(mu);
      ran.push_back(i);
      return true;
    }));
  }
  EXPECT_TRUE(writer.Wait());
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[i] = i;
  EXPECT_EQ(ran, expected);
  EXPECT_FALSE(on_caller);
  EXPECT_FALSE(writer.stopped());
}

TEST(WriteBehindTest, AFailedTaskDropsEverythingAfterIt) {
  unit::Gate fail_now;
  std::atomic<int> ran{0};
  {
    WriteBehind writer(8);
    ASSERT_TRUE(writer.Push(Count(&ran)));
    ASSERT_TRUE(writer.Push([&] {
      ++ran;
      EXPECT_TRUE(fail_now.Wait());
      return false;  // the write failed
    }));
    // Queued behind the failing task before it failed: never run.
    ASSERT_TRUE(writer.Push(Count(&ran)));
    ASSERT_TRUE(writer.Push(Count(&ran)));
    fail_now.Open();
    EXPECT_FALSE(writer.Wait());
    EXPECT_TRUE(writer.stopped());
    EXPECT_FALSE(writer.Push(Count(&ran))) << "refused once stopped";
    EXPECT_FALSE(writer.WaitUntil([] { return false; })) << "a failure ends the wait";
  }  // the destructor runs whatever is still queued: nothing
  EXPECT_EQ(ran, 2);
}

TEST(WriteBehindTest, PushWaitsWhileMaxPendingTasksAreQueued) {
  unit::Gate release;
  std::atomic<int> ran{0};
  WriteBehind writer(2);
  unit::Gate running;
  ASSERT_TRUE(writer.Push([&] {
    running.Open();
    EXPECT_TRUE(release.Wait());
    ++ran;
    return true;
  }));
  ASSERT_TRUE(running.Wait());  // the first task is off the queue
  ASSERT_TRUE(writer.Push(Count(&ran)));
  ASSERT_TRUE(writer.Push(Count(&ran)));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(writer.Push(Count(&ran)));
    pushed = true;
  });
  // Give the third Push the chance to return early (it must not).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(pushed) << "Push returned with max_pending tasks queued";
  release.Open();
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_TRUE(writer.Wait());
  EXPECT_EQ(ran, 4);
}

TEST(WriteBehindTest, WaitUntilReturnsOnceDone) {
  std::atomic<int> ran{0};
  WriteBehind writer(4);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer.Push(Count(&ran)));
  EXPECT_TRUE(writer.WaitUntil([&] { return ran >= 2; }));
  EXPECT_GE(ran, 2);
  EXPECT_TRUE(writer.Wait());
  EXPECT_EQ(ran, 3);
}

TEST(WriteBehindTest, TheDestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  unit::Gate release;
  std::thread opener;
  {
    WriteBehind writer(8);
    ASSERT_TRUE(writer.Push([&] {
      ++ran;
      return release.Wait();
    }));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.Push(Count(&ran)));
    // The first task holds the other five in the queue until the
    // destructor has begun (opened before it, they could all have run
    // without it, and a destructor that dropped them would pass).
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release.Open();
    });
  }
  opener.join();
  EXPECT_EQ(ran, 6);
}

}  // namespace
}  // namespace gantry
