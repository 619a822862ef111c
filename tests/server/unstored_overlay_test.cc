// UnstoredOverlay (server/store/unstored_overlay.h) over the memory store: an
// end the store refused reads FAILED for every reader, follows the stored
// events, is stored before a delete, and stops applying once the job is
// claimed again.
#include "server/store/unstored_overlay.h"

#include <gtest/gtest.h>

#include <string>

#include "server/store/memory_store.h"

namespace gantry {
namespace {

constexpr int64_t kLeaseNs = int64_t{60} * 1'000'000'000;

v1::JobEvent StateAt(const JobRow& row, v1::JobState state, const std::string& error = "") {
  v1::JobEvent e;
  e.set_seq(row.last_seq + 1);
  e.set_job_id(row.id);
  e.mutable_time()->set_seconds(1'700'000'000);
  e.mutable_state()->set_state(state);
  e.mutable_state()->set_error(error);
  return e;
}

class UnstoredOverlayTest : public ::testing::Test {
 protected:
  // A RUNNING job (lease 1) with events 1 (QUEUED), 2 (RUNNING), 3 (epoch 1),
  // and its FAILED event 4 recorded as unstored.
  void SetUp() override {
    JobRow row;
    row.id = "j-overlay01";
    row.spec.set_epochs(5);
    row.create_ns = 1;
    v1::JobEvent queued = StateAt(row, v1::JOB_STATE_QUEUED);
    ASSERT_TRUE(overlay_.InsertJob(row, queued).ok());
    auto claimed = overlay_.ClaimNext("me", -1, kLeaseNs);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    row_ = **claimed;
    ASSERT_EQ(row_.lease, 1);
    for (v1::JobEvent e : {StateAt(row_, v1::JOB_STATE_RUNNING)}) {
      ASSERT_TRUE(overlay_.AppendEvent(row_, e).ok());
      row_.last_seq = e.seq();
    }
    v1::JobEvent epoch;
    epoch.set_seq(row_.last_seq + 1);
    epoch.set_job_id(row_.id);
    epoch.mutable_epoch()->set_epoch(1);
    row_.epochs_done = 1;
    ASSERT_TRUE(overlay_.AppendEvent(row_, epoch).ok());
    row_.last_seq = epoch.seq();
    failed_ = StateAt(row_, v1::JOB_STATE_FAILED, "cannot store the job's progress: disk full");
    overlay_.Record(row_, failed_);
  }

  MemoryStore inner_;
  UnstoredOverlay overlay_{&inner_};
  JobRow row_;
  v1::JobEvent failed_;
};

TEST_F(UnstoredOverlayTest, RowsReadFailedWithTheEventsErrorAndSeq) {
  auto row = overlay_.GetJob(row_.id, ReadPoints::kNo);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, v1::JOB_STATE_FAILED);
  EXPECT_EQ(row->error, "cannot store the job's progress: disk full");
  EXPECT_EQ(row->last_seq, 4);
  EXPECT_EQ(row->end_ns, int64_t{1'700'000'000} * 1'000'000'000);
  auto listed = overlay_.ListJobs(ListQuery{});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().state, v1::JOB_STATE_FAILED);
  // The wrapped store still holds what it stored.
  EXPECT_EQ(inner_.GetJob(row_.id, ReadPoints::kNo)->state, v1::JOB_STATE_RUNNING);
}

TEST_F(UnstoredOverlayTest, TheEndFollowsTheStoredEvents) {
  auto all = overlay_.ReadEvents(row_.id, 1, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*all)[i].seq(), i + 1);
  EXPECT_EQ(all->back().state().state(), v1::JOB_STATE_FAILED);
  auto tail = overlay_.ReadEvents(row_.id, 4, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ(tail->front().seq(), 4);
  // A page that ends before it, or starts after it, does not hold it.
  auto first_two = overlay_.ReadEvents(row_.id, 1, 2);
  ASSERT_TRUE(first_two.ok());
  EXPECT_EQ(first_two->size(), 2u);
  auto after = overlay_.ReadEvents(row_.id, 5, 100);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

TEST_F(UnstoredOverlayTest, DeleteStoresTheEndFirst) {
  // The memory store deletes only ended jobs: without the overlay storing
  // the end, this delete would be refused.
  EXPECT_EQ(inner_.DeleteJob(row_.id).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(overlay_.DeleteJob(row_.id).ok());
  EXPECT_EQ(inner_.GetJob(row_.id, ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(overlay_.GetJob(row_.id, ReadPoints::kNo).status().code(), StatusCode::kNotFound);
}

TEST_F(UnstoredOverlayTest, AClaimUnderANewerLeaseEndsTheOverlay) {
  ASSERT_TRUE(inner_.ExpireAllLeases().ok());
  auto claimed = overlay_.ClaimNext("me-again", -1, kLeaseNs);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->lease, 2);
  auto row = overlay_.GetJob(row_.id, ReadPoints::kNo);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, v1::JOB_STATE_RUNNING);  // it resumes: no longer FAILED
  EXPECT_EQ(row->last_seq, 3);
  auto events = overlay_.ReadEvents(row_.id, 1, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 3u);
}

TEST_F(UnstoredOverlayTest, AStoredEndWins) {
  JobRow ended = row_;
  ended.state = v1::JOB_STATE_CANCELLED;
  ASSERT_TRUE(overlay_.AppendEvent(ended, StateAt(row_, v1::JOB_STATE_CANCELLED)).ok());
  EXPECT_EQ(overlay_.GetJob(row_.id, ReadPoints::kNo)->state, v1::JOB_STATE_CANCELLED);
  auto events = overlay_.ReadEvents(row_.id, 1, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ(events->back().state().state(), v1::JOB_STATE_CANCELLED);
}

TEST(UnstoredOverlayBound, KeepsTheNewestEntries) {
  MemoryStore inner;
  UnstoredOverlay overlay(&inner);
  const int n = static_cast<int>(UnstoredOverlay::kMaxUnstored) + 1;
  std::vector<JobRow> rows;
  for (int i = 0; i < n; ++i) {
    JobRow row;
    row.id = "j-b" + std::to_string(i);
    row.create_ns = i + 1;
    ASSERT_TRUE(overlay.InsertJob(row, StateAt(row, v1::JOB_STATE_QUEUED)).ok());
  }
  for (int i = 0; i < n; ++i) {
    auto claimed = overlay.ClaimNext("me", -1, kLeaseNs);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    overlay.Record(**claimed, StateAt(**claimed, v1::JOB_STATE_FAILED, "full"));
  }
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    failed += overlay.GetJob("j-b" + std::to_string(i), ReadPoints::kNo)->state ==
              v1::JOB_STATE_FAILED;
  }
  EXPECT_EQ(failed, n - 1);  // the oldest entry made room
  EXPECT_EQ(overlay.GetJob("j-b0", ReadPoints::kNo)->state, v1::JOB_STATE_RUNNING);
}

}  // namespace
}  // namespace gantry
