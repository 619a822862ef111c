// CachedStore over the memory store: rows and blob lists served from
// memory until a write of their job, bounded by entries, never a row older
// than the last write (also when the write lands in the middle of a read or
// of another write), and shared stores passed through. The conformance suite
// (store_conformance_test.cc) runs every Store contract over CachedStore too.
#include "server/store/cached_store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "server/store/forwarding_store.h"
#include "server/store/memory_store.h"
#include "server/store/sqlite_store.h"
#include "tests/common/job_events.h"
#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

// A MemoryStore that counts the GetJob and ListBlobs calls reaching it,
// runs the hooks set, and says it is shared when told.
class CountingStore final : private unit::MemoryHolder, public ForwardingStore {
 public:
  explicit CountingStore(bool shared = false) : ForwardingStore(&memory), shared_(shared) {}

  std::atomic<int> reads{0};           // GetJob calls
  std::atomic<int> lists{0};           // ListBlobs calls
  std::function<void()> after_read;    // between GetJob's read and its return
  std::function<void()> after_append;  // between AppendEvent's write and its return
  // Before ClaimNext's claim, on the wrapped memory store.
  std::function<void(Store&)> before_claim;

  std::string Describe() const override { return "counting memory"; }
  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override {
    ++const_cast<CountingStore*>(this)->reads;
    auto row = inner_->GetJob(id, points);
    if (after_read) after_read();
    return row;
  }
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override {
    Status s = inner_->AppendEvent(row, event);
    if (after_append) after_append();
    return s;
  }
  using ForwardingStore::ClaimNext;
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory,
                                            int64_t lease_ns, const ClaimPolicy& policy) override {
    if (before_claim) before_claim(memory);
    return inner_->ClaimNext(owner, max_memory, lease_ns, policy);
  }
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& id, BlobKind kind) const override {
    ++const_cast<CountingStore*>(this)->lists;
    return inner_->ListBlobs(id, kind);
  }
  bool Shared() const override { return shared_; }

 private:
  const bool shared_;
};

constexpr int64_t kLeaseNs = int64_t{60} * 1'000'000'000;

JobRow NewRow(const std::string& id) {
  JobRow r;
  r.id = id;
  r.name = "job " + id;
  r.spec.set_epochs(5);
  r.state = v1::JOB_STATE_QUEUED;
  r.create_ns = 1000;
  return r;
}

using test::EpochEvent;
using test::StateEvent;

class CachedStoreTest : public ::testing::Test {
 protected:
  void Make(size_t max_rows = CachedStore::kDefaultMaxRows, bool shared = false) {
    auto inner = std::make_unique<CountingStore>(shared);
    inner_ = inner.get();
    cache_ = std::make_unique<CachedStore>(std::move(inner), max_rows);
  }
  void SetUp() override { Make(); }

  JobRow Insert(const std::string& id) {
    auto r = cache_->InsertJob(NewRow(id), StateEvent(1, v1::JOB_STATE_QUEUED));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->row : JobRow{};
  }
  JobRow Claim() {
    auto c = cache_->ClaimNext("me", -1, kLeaseNs);
    EXPECT_TRUE(c.ok() && c->has_value());
    return c.ok() && c->has_value() ? **c : JobRow{};
  }
  JobRow Get(const std::string& id) {
    auto r = cache_->GetJob(id, ReadPoints::kNo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : JobRow{};
  }
  // GetJob of `id`, and whether it reached the wrapped store.
  std::pair<JobRow, bool> GetCounted(const std::string& id) {
    const int before = inner_->reads;
    JobRow row = Get(id);
    return {row, inner_->reads != before};
  }

  CountingStore* inner_ = nullptr;
  std::unique_ptr<CachedStore> cache_;
};

TEST_F(CachedStoreTest, AnUnchangedRowIsReadFromTheStoreOnce) {
  Insert("a");
  auto [first, read1] = GetCounted("a");
  auto [second, read2] = GetCounted("a");
  auto [third, read3] = GetCounted("a");
  EXPECT_TRUE(read1);
  EXPECT_FALSE(read2);
  EXPECT_FALSE(read3);
  EXPECT_EQ(third.name, "job a");
  EXPECT_EQ(third.index, first.index);
  EXPECT_EQ(third.last_seq, 1);
  EXPECT_EQ(cache_->hits(), 2);
  EXPECT_EQ(cache_->misses(), 1);
  EXPECT_EQ(cache_->rows(), 1u);
}

TEST_F(CachedStoreTest, EveryWriteOfTheJobUpdatesOrDropsItsRowAndNoOtherJobs) {
  Insert("a");
  Insert("b");
  (void)Get("b");
  auto b_is_cached = [&] { return !GetCounted("b").second; };

  // ClaimNext (the oldest, a): RUNNING, lease 1.
  (void)Get("a");
  JobRow a = Claim();
  ASSERT_EQ(a.id, "a");
  auto [claimed, read] = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_EQ(claimed.state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(claimed.lease, 1);
  // b is QUEUED, so claimable: the claim may have written it too (a store
  // fails an unreadable job on its way), and it is read again, then kept.
  EXPECT_FALSE(b_is_cached());
  EXPECT_TRUE(b_is_cached());

  // AppendEvent keeps the row current (see below); a refused one drops it.
  a.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).ok());
  EXPECT_EQ(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).code(),
            StatusCode::kAlreadyExists);
  std::tie(claimed, read) = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_EQ(claimed.last_seq, 2);
  EXPECT_EQ(claimed.state, v1::JOB_STATE_RUNNING);
  EXPECT_TRUE(b_is_cached());

  // RenewLease.
  const int64_t expires = claimed.lease_expires_ns;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(cache_->RenewLease("a", 1, kLeaseNs).ok());
  std::tie(claimed, read) = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_GT(claimed.lease_expires_ns, expires);

  // RequestCancel (refused by an exclusive store: a write of the job's all
  // the same, so the row is read again).
  EXPECT_EQ(cache_->RequestCancel("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(GetCounted("a").second);

  // ClaimCancelled (the memory store, exclusive, has none to claim): still
  // a write of the job's, so the row is read again.
  auto none = cache_->ClaimCancelled("a", "me", kLeaseNs);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(GetCounted("a").second);

  // ExpireAllLeases drops every row.
  ASSERT_TRUE(cache_->ExpireAllLeases().ok());
  EXPECT_TRUE(GetCounted("a").second);
  EXPECT_TRUE(GetCounted("b").second);

  // The end (the stored event updates the kept row: no read), then
  // DeleteJob: NOT_FOUND, not the kept row.
  a.state = v1::JOB_STATE_SUCCEEDED;
  a.end_ns = 5000;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(3, v1::JOB_STATE_SUCCEEDED)).ok());
  std::tie(claimed, read) = GetCounted("a");
  EXPECT_FALSE(read);
  EXPECT_EQ(claimed.state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(claimed.end_ns, 5000);
  ASSERT_TRUE(cache_->DeleteJob("a").ok());
  EXPECT_EQ(cache_->GetJob("a", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(b_is_cached());
}

// A RUNNING job read once stays in memory through its events, each read
// giving what the store holds.
TEST_F(CachedStoreTest, StoredEventsUpdateTheKeptRow) {
  Insert("a");
  JobRow a = Claim();
  (void)Get("a");
  a.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).ok());
  for (int64_t epoch = 1; epoch <= 3; ++epoch) {
    a.epochs_done = epoch;
    a.latest.emplace();
    a.latest->set_epoch(epoch);
    a.latest->set_loss_d(0.5 / static_cast<double>(epoch));
    ASSERT_TRUE(cache_->AppendEvent(a, EpochEvent(epoch + 2, epoch)).ok());
    auto [row, read] = GetCounted("a");
    EXPECT_FALSE(read);
    auto stored = inner_->GetJob("a", ReadPoints::kNo);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(row.last_seq, stored->last_seq);
    EXPECT_EQ(row.epochs_done, stored->epochs_done);
    EXPECT_EQ(row.state, stored->state);
    ASSERT_TRUE(row.latest.has_value());
    EXPECT_EQ(row.latest->SerializeAsString(), stored->latest->SerializeAsString());
    EXPECT_EQ(row.lease, stored->lease);
    EXPECT_EQ(row.lease_expires_ns, stored->lease_expires_ns);
  }
  a.state = v1::JOB_STATE_FAILED;
  a.error = "out of luck";
  a.end_ns = 9000;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(6, v1::JOB_STATE_FAILED)).ok());
  auto [ended, read] = GetCounted("a");
  EXPECT_FALSE(read);
  EXPECT_EQ(ended.state, v1::JOB_STATE_FAILED);
  EXPECT_EQ(ended.error, "out of luck");
  EXPECT_EQ(ended.end_ns, 9000);
  EXPECT_EQ(ended.last_seq, 6);
  EXPECT_EQ(ended.name, "job a");
}

// A row whose latest report is large (a big preview) is never kept, and a
// kept row that an event makes large is dropped: the cache stays within
// kMaxBytes whatever the jobs ask for.
TEST_F(CachedStoreTest, LargeRowsAreNotKept) {
  Insert("a");
  JobRow a = Claim();
  (void)Get("a");
  ASSERT_EQ(cache_->rows(), 1u);
  a.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).ok());
  ASSERT_EQ(cache_->rows(), 1u);  // small still: kept and updated
  a.epochs_done = 1;
  a.latest.emplace();
  a.latest->set_epoch(1);
  a.latest->mutable_preview()->set_dim(64);
  for (int i = 0; i < 4096 * 64; ++i) a.latest->mutable_preview()->add_values(0.5f);
  ASSERT_TRUE(cache_->AppendEvent(a, EpochEvent(3, 1)).ok());
  EXPECT_EQ(cache_->rows(), 0u);  // the event made it a MiB: dropped
  auto [first, read1] = GetCounted("a");
  auto [second, read2] = GetCounted("a");
  EXPECT_TRUE(read1);
  EXPECT_TRUE(read2);  // read each time, never kept
  EXPECT_EQ(second.latest->preview().values_size(), 4096 * 64);
  EXPECT_EQ(cache_->rows(), 0u);
}

// Two events stored one after the other whose cache steps come in the
// other order: the earlier one must not overwrite the later one's row.
TEST_F(CachedStoreTest, AnEventsUpdateNeverGoesBackOverALaterOne) {
  Insert("a");
  JobRow a = Claim();
  (void)Get("a");
  a.state = v1::JOB_STATE_RUNNING;
  bool nested = false;
  inner_->after_append = [&] {
    if (nested) return;
    nested = true;
    // seq 2 is stored; seq 3 is stored and cached before seq 2's cache step.
    JobRow later = a;
    later.epochs_done = 1;
    ASSERT_TRUE(cache_->AppendEvent(later, EpochEvent(3, 1)).ok());
  };
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).ok());
  inner_->after_append = nullptr;
  ASSERT_TRUE(nested);
  const JobRow row = Get("a");
  EXPECT_EQ(row.last_seq, 3);
  EXPECT_EQ(row.epochs_done, 1);
}

TEST_F(CachedStoreTest, ARefusedWriteDropsTheRowToo) {
  Insert("a");
  JobRow a = Claim();
  (void)Get("a");
  // A stale seq: refused, nothing stored; the next read goes to the store
  // all the same (a cache never decides what a failed write changed).
  EXPECT_FALSE(cache_->AppendEvent(a, StateEvent(7, v1::JOB_STATE_RUNNING)).ok());
  auto [row, read] = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_EQ(row.last_seq, 1);
}

TEST_F(CachedStoreTest, AnUnknownJobIsNotRemembered) {
  EXPECT_EQ(cache_->GetJob("a", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache_->rows(), 0u);
  Insert("a");
  EXPECT_EQ(Get("a").name, "job a");
}

TEST_F(CachedStoreTest, RowsWithPointsAreNeverKept) {
  JobRow user = NewRow("u");
  auto* d = user.spec.mutable_dataset();
  d->set_kind(v1::DATASET_KIND_USER);
  d->mutable_points()->set_dim(2);
  for (int i = 0; i < 4; ++i) d->mutable_points()->add_values(static_cast<float>(i));
  ASSERT_TRUE(cache_->InsertJob(user, StateEvent(1, v1::JOB_STATE_QUEUED)).ok());
  for (int i = 0; i < 2; ++i) {
    const int before = inner_->reads;
    auto full = cache_->GetJob("u", ReadPoints::kYes);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->spec.dataset().points().values_size(), 4);
    EXPECT_EQ(inner_->reads, before + 1);
  }
  EXPECT_EQ(cache_->rows(), 0u);
  // A row without points is kept, and never answers a read with points.
  EXPECT_EQ(Get("u").spec.dataset().points().values_size(), 0);
  EXPECT_EQ(cache_->rows(), 1u);
  auto full = cache_->GetJob("u", ReadPoints::kYes);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->spec.dataset().points().values_size(), 4);
}

TEST_F(CachedStoreTest, TheLeastRecentlyReadRowGoesFirst) {
  Make(/*max_rows=*/2);
  for (const char* id : {"a", "b", "c"}) Insert(id);
  (void)Get("a");
  (void)Get("b");
  (void)Get("a");  // b is now the least recently read
  (void)Get("c");  // evicts b
  EXPECT_EQ(cache_->rows(), 2u);
  EXPECT_FALSE(GetCounted("a").second);
  EXPECT_FALSE(GetCounted("c").second);
  EXPECT_TRUE(GetCounted("b").second);  // read again, evicting a
  EXPECT_EQ(cache_->rows(), 2u);
  EXPECT_TRUE(GetCounted("a").second);
}

// The race a cache of a store must not lose: a read that started before a
// write and ends after it must not keep what it read.
TEST_F(CachedStoreTest, AReadOverlappingAWriteIsNotKept) {
  Insert("a");
  JobRow a = Claim();
  a.state = v1::JOB_STATE_RUNNING;
  bool wrote = false;
  inner_->after_read = [&] {
    if (wrote) return;
    wrote = true;
    // The store's read is done (last_seq 1); the write lands before the
    // cache decides whether to keep it.
    ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_RUNNING)).ok());
  };
  EXPECT_EQ(Get("a").last_seq, 1);  // what the read saw, as it began before the write
  inner_->after_read = nullptr;
  ASSERT_TRUE(wrote);
  auto [row, read] = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_EQ(row.last_seq, 2);
  EXPECT_EQ(row.state, v1::JOB_STATE_RUNNING);
}

// Only a write of the job itself stops a read from being kept: a read of
// a that overlaps a write of b is kept.
TEST_F(CachedStoreTest, AReadOverlappingAnotherJobsWriteIsKept) {
  Insert("a");
  JobRow b = Insert("b");
  bool wrote = false;
  inner_->after_read = [&] {
    if (wrote) return;
    wrote = true;
    // Refused (b is QUEUED), a write of b's all the same; and a new job c.
    EXPECT_EQ(cache_->RenewLease("b", b.lease, kLeaseNs).code(), StatusCode::kFailedPrecondition);
    Insert("c");
  };
  EXPECT_EQ(Get("a").name, "job a");
  inner_->after_read = nullptr;
  ASSERT_TRUE(wrote);
  EXPECT_EQ(cache_->tracked_writes(), 0u);  // no read in flight: nothing recorded
  auto [row, read] = GetCounted("a");
  EXPECT_FALSE(read);
  EXPECT_EQ(row.name, "job a");
}

// The writes recorded for the reads in flight stay within
// kMaxTrackedWrites however many jobs are written meanwhile; past it they
// count as a write of every job (the read is not kept).
TEST_F(CachedStoreTest, TheWritesRecordedForReadsInFlightAreBounded) {
  Insert("a");
  size_t most = 0;
  bool wrote = false;
  inner_->after_read = [&] {
    if (wrote) return;
    wrote = true;
    for (size_t i = 0; i < CachedStore::kMaxTrackedWrites + 10; ++i) {
      // A write of an unknown job (NOT_FOUND): a write all the same.
      (void)cache_->RequestCancel("other-" + std::to_string(i));
      most = std::max(most, cache_->tracked_writes());
    }
  };
  EXPECT_EQ(Get("a").name, "job a");
  inner_->after_read = nullptr;
  ASSERT_TRUE(wrote);
  EXPECT_EQ(most, CachedStore::kMaxTrackedWrites);
  EXPECT_EQ(cache_->tracked_writes(), 0u);
  EXPECT_TRUE(GetCounted("a").second);   // not kept: as if a were written
  EXPECT_FALSE(GetCounted("a").second);  // kept by the read after
}

// A claim may write more jobs than the one it returns: SqliteStore marks a
// job whose stored row is unreadable FAILED and claims the next one (or
// none), saying nothing of it. No kept row of a job that had not ended
// outlives a claim; an ended job's row stays.
TEST_F(CachedStoreTest, AClaimDropsTheRowOfEveryJobThatHadNotEnded) {
  Insert("done");
  JobRow done = Claim();
  done.state = v1::JOB_STATE_SUCCEEDED;
  done.end_ns = 4000;
  ASSERT_TRUE(cache_->AppendEvent(done, StateEvent(2, v1::JOB_STATE_SUCCEEDED)).ok());
  Insert("a");
  Insert("b");
  Insert("c");
  for (const char* id : {"done", "a", "b", "c"}) (void)Get(id);
  ASSERT_EQ(cache_->rows(), 4u);
  // What SqliteStore does to an unreadable job before claiming the next.
  std::string fail = "a";
  inner_->before_claim = [&](Store& store) {
    auto row = store.GetJob(fail, ReadPoints::kNo);
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    row->state = v1::JOB_STATE_FAILED;
    row->error = "its stored row is unreadable";
    row->end_ns = 5000;
    ASSERT_TRUE(store.AppendEvent(*row, StateEvent(2, v1::JOB_STATE_FAILED)).ok());
  };
  EXPECT_EQ(Claim().id, "b");
  auto [a, read] = GetCounted("a");
  EXPECT_TRUE(read);
  EXPECT_EQ(a.state, v1::JOB_STATE_FAILED);
  EXPECT_EQ(a.error, "its stored row is unreadable");
  EXPECT_FALSE(GetCounted("done").second);

  // A claim that finds nothing else to take: nullopt, c failed all the same.
  EXPECT_TRUE(GetCounted("c").second);  // dropped by the claim too (QUEUED)
  ASSERT_FALSE(GetCounted("c").second);
  fail = "c";
  auto none = cache_->ClaimNext("me", -1, kLeaseNs);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  auto [c, read_c] = GetCounted("c");
  EXPECT_TRUE(read_c);
  EXPECT_EQ(c.state, v1::JOB_STATE_FAILED);
  EXPECT_FALSE(GetCounted("done").second);
}

// The same over a real SqliteStore: a USER job whose stored points are
// unreadable (its row without them reads, and is kept) is failed by the
// claim, and the next read says so.
TEST(CachedSqliteStoreTest, AJobFailedByAClaimIsNotServedQueued) {
  namespace fs = std::filesystem;
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-cached-sqlite-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto opened = SqliteStore::Open(dir);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    CachedStore cache(std::move(opened).value());
    JobRow user = NewRow("u");
    auto* d = user.spec.mutable_dataset();
    d->set_kind(v1::DATASET_KIND_USER);
    d->mutable_points()->set_dim(2);
    for (int i = 0; i < 4; ++i) d->mutable_points()->add_values(static_cast<float>(i));
    ASSERT_TRUE(cache.InsertJob(user, StateEvent(1, v1::JOB_STATE_QUEUED)).ok());
    auto queued = cache.GetJob("u", ReadPoints::kNo);
    ASSERT_TRUE(queued.ok()) << queued.status().ToString();
    EXPECT_EQ(queued->state, v1::JOB_STATE_QUEUED);
    ASSERT_EQ(cache.rows(), 1u);

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/gantry.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    // A length-delimited field cut short: the points no longer parse.
    const int rc = sqlite3_exec(db, "UPDATE jobs SET points = X'0A7F' WHERE id = 'u'", nullptr,
                                nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);

    auto claimed = cache.ClaimNext("me", -1, kLeaseNs);
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    EXPECT_FALSE(claimed->has_value());
    auto failed = cache.GetJob("u", ReadPoints::kNo);
    ASSERT_TRUE(failed.ok()) << failed.status().ToString();
    EXPECT_EQ(failed->state, v1::JOB_STATE_FAILED);
    EXPECT_NE(failed->error.find("unreadable"), std::string::npos) << failed->error;
  }
  fs::remove_all(dir);
}

// Readers on several threads while a writer appends: each reader sees
// last_seq never go back, and the writer reads its own write every time.
TEST_F(CachedStoreTest, ConcurrentReadersNeverSeeARowOlderThanTheLastWrite) {
  Insert("a");
  JobRow a = Claim();
  a.state = v1::JOB_STATE_RUNNING;
  constexpr int kEvents = 2000;
  std::atomic<bool> done{false};
  std::atomic<int> went_back{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done) {
        auto r = cache_->GetJob("a", ReadPoints::kNo);
        if (!r.ok()) continue;
        if (r->last_seq < last) ++went_back;
        last = r->last_seq;
      }
    });
  }
  int stale = 0;
  for (int64_t seq = 2; seq <= kEvents; ++seq) {
    a.epochs_done = seq;
    ASSERT_TRUE(cache_->AppendEvent(a, EpochEvent(seq, seq)).ok());
    if (Get("a").last_seq != seq) ++stale;
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(stale, 0);
  EXPECT_EQ(went_back.load(), 0);
  // How often the readers were served from memory: printed, not bounded.
  std::printf("hits %lld, misses %lld over %d writes\n", static_cast<long long>(cache_->hits()),
              static_cast<long long>(cache_->misses()), kEvents - 1);
}

TEST_F(CachedStoreTest, BlobListsAreKeptUntilABlobOfTheirsChanges) {
  Insert("a");
  Insert("b");
  JobRow a = Claim();
  auto list = [&](const std::string& id, BlobKind kind) {
    const int before = inner_->lists;
    auto epochs = cache_->ListBlobs(id, kind);
    EXPECT_TRUE(epochs.ok()) << epochs.status().ToString();
    return std::make_pair(epochs.ok() ? *epochs : std::vector<int64_t>{}, inner_->lists != before);
  };
  using Epochs = std::vector<int64_t>;
  ASSERT_TRUE(cache_->PutBlob({"a", BlobKind::kSnapshot, 1, a.lease}, "s1").ok());
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{1}, true));
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{1}, false));
  EXPECT_EQ(list("b", BlobKind::kSnapshot), std::make_pair(Epochs{}, true));

  // A checkpoint leaves the snapshots' list; a snapshot put or deleted drops it.
  ASSERT_TRUE(cache_->PutBlob({"a", BlobKind::kCheckpoint, 1, a.lease}, "c1").ok());
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{1}, false));
  EXPECT_EQ(list("a", BlobKind::kCheckpoint), std::make_pair(Epochs{1}, true));
  ASSERT_TRUE(cache_->PutBlob({"a", BlobKind::kSnapshot, 2, a.lease}, "s2").ok());
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{1, 2}, true));
  ASSERT_TRUE(cache_->DeleteBlob({"a", BlobKind::kSnapshot, 1, a.lease}).ok());
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{2}, true));
  EXPECT_EQ(list("a", BlobKind::kCheckpoint), std::make_pair(Epochs{1}, false));
  EXPECT_EQ(list("b", BlobKind::kSnapshot), std::make_pair(Epochs{}, false));
  EXPECT_EQ(cache_->blob_lists(), 3u);

  // DeleteJob drops every list of the job.
  a.state = v1::JOB_STATE_SUCCEEDED;
  ASSERT_TRUE(cache_->AppendEvent(a, StateEvent(2, v1::JOB_STATE_SUCCEEDED)).ok());
  ASSERT_TRUE(cache_->DeleteJob("a").ok());
  EXPECT_EQ(list("a", BlobKind::kSnapshot), std::make_pair(Epochs{}, true));
  EXPECT_EQ(list("a", BlobKind::kCheckpoint), std::make_pair(Epochs{}, true));
}

TEST_F(CachedStoreTest, ASharedStoreIsPassedThrough) {
  Make(CachedStore::kDefaultMaxRows, /*shared=*/true);
  EXPECT_TRUE(cache_->Shared());
  Insert("a");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(GetCounted("a").second);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache_->ListBlobs("a", BlobKind::kSnapshot).ok());
  EXPECT_EQ(inner_->lists, 3);
  EXPECT_EQ(cache_->rows(), 0u);
  EXPECT_EQ(cache_->blob_lists(), 0u);
  EXPECT_EQ(cache_->hits(), 0);
}

}  // namespace
}  // namespace gantry
