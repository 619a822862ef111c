// SnapshotCache over a MemoryStore's blobs: a byte budget, least recently
// used out first, an evicted snapshot read again from its blob, Forget,
// and the errors of a missing or unreadable blob.
#include "server/jobs/snapshot_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

// A 2 -> 16 -> 2 generator's weights for `epoch`.
std::shared_ptr<const GeneratorSnapshot> Snapshot(int64_t epoch) {
  at::manual_seed(epoch);
  return std::make_shared<const GeneratorSnapshot>(
      std::vector<at::Tensor>{at::randn({16, 2}), at::randn({16}), at::randn({2, 16}),
                              at::randn({2})},
      epoch);
}

class SnapshotCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unit::InsertQueued(&store_, "j");
    unit::InsertQueued(&store_, "k");
    size_ = SnapshotCache::SizeOf(*Snapshot(1));
  }
  void Put(const std::string& job, int64_t epoch) {
    auto bytes = SerializeSnapshot(*Snapshot(epoch));
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_.PutBlob({job, BlobKind::kSnapshot, epoch}, *bytes).ok());
  }
  std::shared_ptr<const GeneratorSnapshot> Get(SnapshotCache& cache, const std::string& job,
                                               int64_t epoch) {
    auto s = cache.Get(job, epoch);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }

  unit::CountingStore store_;
  int64_t size_ = 0;
};

TEST_F(SnapshotCacheTest, ReadsABlobOnceAndKeepsIt) {
  Put("j", 1);
  SnapshotCache cache(&store_, 10 * size_);
  auto first = Get(cache, "j", 1);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->epoch(), 1);
  EXPECT_TRUE(first->tensors()[0].equal(Snapshot(1)->tensors()[0]));
  EXPECT_EQ(Get(cache, "j", 1), first);
  EXPECT_EQ(store_.blob_reads(), 1);
  EXPECT_EQ(cache.bytes(), size_);
}

TEST_F(SnapshotCacheTest, StaysWithinItsBudgetLeastRecentlyUsedOutFirst) {
  for (int64_t e = 1; e <= 3; ++e) Put("j", e);
  SnapshotCache cache(&store_, 2 * size_ + size_ / 2);  // room for two
  auto e1 = Get(cache, "j", 1);
  auto e2 = Get(cache, "j", 2);
  EXPECT_EQ(Get(cache, "j", 1), e1);  // 1 is now the most recent
  Get(cache, "j", 3);                 // evicts 2
  EXPECT_EQ(cache.bytes(), 2 * size_);
  EXPECT_EQ(store_.blob_reads(), 3);
  EXPECT_EQ(Get(cache, "j", 1), e1) << "kept";
  EXPECT_EQ(store_.blob_reads(), 3);
  auto again = Get(cache, "j", 2);  // read again from its blob
  EXPECT_EQ(store_.blob_reads(), 4);
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again, e2);
  EXPECT_EQ(again->epoch(), 2);
  EXPECT_TRUE(again->tensors()[2].equal(e2->tensors()[2]));
  EXPECT_LE(cache.bytes(), 2 * size_ + size_ / 2);
}

TEST_F(SnapshotCacheTest, ASnapshotLargerThanTheBudgetIsServedButNotKept) {
  Put("j", 1);
  SnapshotCache cache(&store_, size_ - 1);
  ASSERT_NE(Get(cache, "j", 1), nullptr);
  ASSERT_NE(Get(cache, "j", 1), nullptr);
  EXPECT_EQ(cache.bytes(), 0);
  EXPECT_EQ(store_.blob_reads(), 2);
}

TEST_F(SnapshotCacheTest, ForgetDropsOneJobsSnapshots) {
  Put("j", 1);
  Put("j", 2);
  Put("k", 1);
  SnapshotCache cache(&store_, 10 * size_);
  Get(cache, "j", 1);
  auto j2 = Get(cache, "j", 2);
  auto k1 = Get(cache, "k", 1);
  cache.Forget("j");
  EXPECT_EQ(cache.bytes(), size_);
  EXPECT_EQ(Get(cache, "k", 1), k1);
  EXPECT_EQ(store_.blob_reads(), 3);
  EXPECT_NE(Get(cache, "j", 2), j2) << "read again";
  EXPECT_EQ(store_.blob_reads(), 4);
  // The job was deleted: its blobs are gone, and so is what was cached.
  ASSERT_TRUE(store_.DeleteBlob({"j", BlobKind::kSnapshot, 1}).ok());
  EXPECT_EQ(cache.Get("j", 1).status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotCacheTest, AMissingBlobIsNotFoundAndAGarbledOneDataLoss) {
  SnapshotCache cache(&store_, 10 * size_);
  const auto missing = cache.Get("j", 7);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_.PutBlob({"j", BlobKind::kSnapshot, 8}, "not a snapshot").ok());
  EXPECT_EQ(cache.Get("j", 8).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(cache.bytes(), 0);
}

}  // namespace
}  // namespace gantry
