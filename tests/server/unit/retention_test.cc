// Retention over a MemoryStore: the count policy, the age policy (ended
// jobs' end times set in the past, so no clock is faked), both, batches
// beyond one page of ids, a delete that fails, and the janitor thread.
#include "server/jobs/retention.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>

#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;

class RetentionTest : public ::testing::Test {
 protected:
  // Stores an ended job that ended `ago_s` seconds ago.
  void Ended(const std::string& id, int64_t ago_s) {
    JobRow row = unit::InsertQueued(&store_, id);
    ASSERT_TRUE(
        unit::End(&store_, &row, v1::JOB_STATE_SUCCEEDED, unit::NowNs() - ago_s * kSecondNs).ok());
  }
  std::set<std::string> Ids() const {
    std::set<std::string> ids;
    ListQuery query;
    query.limit = 100'000;
    auto rows = store_.ListJobs(query);
    EXPECT_TRUE(rows.ok());
    for (const auto& row : *rows) ids.insert(row.id);
    return ids;
  }
  Retention::DeleteFn Delete() {
    return [this](const std::string& id) {
      ++deletes_;
      return store_.DeleteJob(id);
    };
  }

  MemoryStore store_;
  std::atomic<int> deletes_{0};
};

TEST_F(RetentionTest, CountKeepsTheNewestEndedJobsAndNeverActiveOnes) {
  for (int i = 1; i <= 5; ++i) Ended("e" + std::to_string(i), 100 - i);  // e5 ended last
  unit::InsertQueued(&store_, "queued");
  Retention retention(0, 2, &store_, Delete());
  EXPECT_TRUE(retention.enabled());
  EXPECT_EQ(retention.RunOnce(), 3);
  EXPECT_EQ(Ids(), (std::set<std::string>{"e4", "e5", "queued"}));
  EXPECT_EQ(retention.RunOnce(), 0);
}

TEST_F(RetentionTest, AgeDeletesJobsThatEndedLongerAgo) {
  Ended("old", 7200);
  Ended("recent", 1800);
  Ended("now", 0);
  Retention retention(3600, 0, &store_, Delete());
  EXPECT_EQ(retention.RunOnce(), 1);
  EXPECT_EQ(Ids(), (std::set<std::string>{"recent", "now"}));
}

TEST_F(RetentionTest, AnAgeLongerThanTheClockHasRunKeepsEverything) {
  // --retention 1000000d: longer ago than 1970, so nothing ended that long
  // ago (its nanoseconds do not fit in 64 bits).
  Ended("now", 0);
  Ended("old", 7200);
  Retention retention(1'000'000LL * 86'400, 0, &store_, Delete());
  EXPECT_EQ(retention.RunOnce(), 0);
  EXPECT_EQ(Ids(), (std::set<std::string>{"now", "old"}));
}

TEST_F(RetentionTest, BothPoliciesApply) {
  Ended("old", 7200);
  Ended("a", 30);
  Ended("b", 20);
  Ended("c", 10);
  Retention retention(3600, 2, &store_, Delete());
  EXPECT_EQ(retention.RunOnce(), 2);
  EXPECT_EQ(Ids(), (std::set<std::string>{"b", "c"}));
}

TEST_F(RetentionTest, NoPolicyDeletesNothing) {
  Ended("old", 1'000'000);
  Retention retention(0, 0, &store_, Delete());
  EXPECT_FALSE(retention.enabled());
  retention.Start();  // no thread
  EXPECT_EQ(retention.RunOnce(), 0);
  EXPECT_EQ(deletes_, 0);
}

TEST_F(RetentionTest, ABacklogIsDeletedInBatches) {
  for (int i = 0; i < 1203; ++i) Ended("e" + std::to_string(i), 10'000 - i);
  Retention retention(0, 3, &store_, Delete());
  EXPECT_EQ(retention.RunOnce(), 1200);
  EXPECT_EQ(Ids(), (std::set<std::string>{"e1200", "e1201", "e1202"}));
}

TEST_F(RetentionTest, AFailedDeleteIsNotCountedAndDoesNotSpin) {
  Ended("stuck", 7200);
  Ended("old", 7100);
  std::atomic<int> calls{0};
  Retention retention(3600, 0, &store_, [&](const std::string& id) {
    ++calls;
    return id == "stuck" ? Status::Unavailable("the store is down") : store_.DeleteJob(id);
  });
  EXPECT_EQ(retention.RunOnce(), 1);
  EXPECT_EQ(Ids(), (std::set<std::string>{"stuck"}));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(retention.RunOnce(), 0);
}

TEST_F(RetentionTest, TheJanitorRunsAtStartAndStops) {
  Ended("old", 7200);
  Ended("now", 0);
  Retention retention(3600, 0, &store_, Delete());
  retention.Start();
  ASSERT_TRUE(unit::WaitUntil([&] { return Ids().size() == 1; }));
  retention.Stop();
  EXPECT_EQ(Ids(), (std::set<std::string>{"now"}));
}

}  // namespace
}  // namespace gantry
