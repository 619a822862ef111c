// The Store conformance suite: every Store implementation runs the same
// cases (SQLite in a fresh directory, memory, and PostgreSQL: a real server
// this process starts with tests/common/pg_server.sh, a fresh database per
// test).
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "server/util/clock.h"
#include "server/util/sha256.h"
#include "tests/server/store_fixture.h"
#include "server/store/cached_store.h"
#include "server/store/memory_store.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"
#include "tests/common/job_events.h"
#include "tests/common/paths.h"

namespace gantry {
namespace {

namespace fs = std::filesystem;

std::string Run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  EXPECT_EQ(rc, 0) << command << ": " << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// One PostgreSQL server for this process (started on first use, removed at
// exit); its DSN.
const std::string& PgServer() {
  static const std::string dir =
      (fs::temp_directory_path() / ("gantry-pg-conformance-" + std::to_string(::getpid())))
          .string();
  static const std::string dsn = [] {
    const std::string script = std::string(testing::kSourceDir) + "/tests/common/pg_server.sh";
    std::string d = Run(script + " start " + dir);
    std::atexit([] {
      (void)std::system((std::string(testing::kSourceDir) + "/tests/common/pg_server.sh destroy " +
                         dir + " >/dev/null 2>&1")
                            .c_str());
    });
    return d;
  }();
  return dsn;
}

// A fresh database on the server; its DSN.
std::string NewPgDatabase() {
  static int n = 0;
  const std::string db = "c" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  const std::string dsn = PgServer();
  Run("psql -X -q -d '" + dsn + "' -c 'CREATE DATABASE " + db + "'");
  return dsn.substr(0, dsn.rfind('/') + 1) + db;
}

std::unique_ptr<Store> OpenPgStore(const std::string& dsn) {
  auto s = PgStore::Open(dsn);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::unique_ptr<Store> NewPgStore(const std::string& dir) {
  (void)dir;
  return OpenPgStore(NewPgDatabase());
}

class StoreConformanceTest : public StoreTest {
 protected:
  StoreConformanceTest() : StoreTest("gantry-store") {}

  static JobRow Row(const std::string& id, const std::string& request_id = "",
                    int64_t memory = 100) {
    JobRow r;
    r.id = id;
    r.name = "job " + id;
    r.request_id = request_id;
    r.request_fingerprint = "fp-" + id;
    r.spec.set_epochs(7);
    r.dataset_rows = 3;
    r.memory_bytes = memory;
    r.state = v1::JOB_STATE_QUEUED;
    r.create_ns = 1000;
    return r;
  }
  static JobRow UserRow(const std::string& id) {
    JobRow r = Row(id);
    auto* d = r.spec.mutable_dataset();
    d->set_kind(v1::DATASET_KIND_USER);
    d->mutable_points()->set_dim(2);
    for (int i = 0; i < 6; ++i) d->mutable_points()->add_values(static_cast<float>(i) + 0.5f);
    return r;
  }
  static v1::JobEvent Event(int64_t seq, v1::JobState state = v1::JOB_STATE_QUEUED) {
    return test::StateEvent(seq, state);
  }
  static v1::JobEvent EpochEvent(int64_t seq, int64_t epoch) { return test::EpochEvent(seq, epoch); }
  JobRow MustInsert(const JobRow& row) {
    auto r = store_->InsertJob(row, Event(1));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r->inserted);
    return r.ok() ? r->row : JobRow{};
  }
  // Claims the next job, which must exist.
  JobRow MustClaim(int64_t max_memory = -1, int64_t lease_ns = int64_t{60} * 1'000'000'000) {
    auto c = store_->ClaimNext("test-owner", max_memory, lease_ns);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(c.ok() && c->has_value());
    return c.ok() && c->has_value() ? **c : JobRow{};
  }

  // A table row for `bytes` (id and size from them).
  static TableRow TableOf(const std::string& bytes, const std::string& name) {
    TableRow t;
    t.id = Sha256Hex(bytes);
    t.name = name;
    t.size_bytes = static_cast<int64_t>(bytes.size());
    t.create_ns = 2000;
    v1::ColumnSchema* c = t.schema.add_columns();
    c->set_name("x");
    c->set_type(v1::COLUMN_TYPE_CATEGORICAL);
    c->add_levels("a");
    t.schema.set_rows(2);
    return t;
  }
  TableRow MustPutTable(const std::string& bytes, const std::string& name) {
    auto r = store_->PutTable(TableOf(bytes, name), bytes);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r->inserted);
    return r.ok() ? r->row : TableRow{};
  }
  static JobRow TableJob(const std::string& id, const std::string& table_id) {
    JobRow r = Row(id);
    r.spec.mutable_dataset()->set_kind(v1::DATASET_KIND_TABLE);
    r.spec.mutable_dataset()->mutable_table()->set_table_id(table_id);
    return r;
  }

};

TEST_P(StoreConformanceTest, InsertNumbersJobsAndGetReturnsThem) {
  const JobRow a = MustInsert(Row("a"));
  const JobRow b = MustInsert(UserRow("b"));
  EXPECT_EQ(a.index, 1);
  EXPECT_EQ(b.index, 2);
  EXPECT_EQ(a.last_seq, 1);
  EXPECT_EQ(a.lease, 0);

  auto got = store_->GetJob("a", ReadPoints::kNo);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "job a");
  EXPECT_EQ(got->spec.epochs(), 7);
  EXPECT_EQ(got->state, v1::JOB_STATE_QUEUED);
  EXPECT_EQ(got->memory_bytes, 100);
  EXPECT_EQ(got->dataset_rows, 3);
  EXPECT_EQ(got->request_fingerprint, "fp-a");
  EXPECT_EQ(got->last_seq, 1);
  EXPECT_FALSE(got->latest.has_value());

  // User points come only when asked for; the dim always.
  auto basic = store_->GetJob("b", ReadPoints::kNo);
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic->spec.dataset().points().values_size(), 0);
  EXPECT_EQ(basic->spec.dataset().points().dim(), 2);
  auto full = store_->GetJob("b", ReadPoints::kYes);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->spec.dataset().points().values_size(), 6);
  EXPECT_EQ(full->spec.dataset().points().values(5), 5.5f);

  EXPECT_EQ(store_->GetJob("nope", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  auto none = store_->ReadEvents("nope", 1, 10);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  auto events = store_->ReadEvents("a", 1, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].state().state(), v1::JOB_STATE_QUEUED);
}

TEST_P(StoreConformanceTest, InsertIsIdempotentOnRequestId) {
  const JobRow first = MustInsert(Row("a", "req-1"));
  JobRow again = Row("b", "req-1");
  again.name = "a different name";
  auto r = store_->InsertJob(again, Event(1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->inserted);
  EXPECT_EQ(r->row.id, "a");
  EXPECT_EQ(r->row.name, "job a");
  EXPECT_EQ(store_->GetJob("b", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  auto found = store_->FindRequest("req-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, "a");
  auto none = store_->FindRequest("req-2");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // Empty request ids never collide.
  MustInsert(Row("c"));
  MustInsert(Row("d"));
  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  (void)first;
}

TEST_P(StoreConformanceTest, EventsNeedTheNextSeqAndNeverOverwrite) {
  MustInsert(Row("a"));
  JobRow claimed = MustClaim();
  claimed.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(store_->AppendEvent(claimed, Event(2, v1::JOB_STATE_RUNNING)).ok());
  claimed.epochs_done = 1;
  claimed.latest.emplace();
  claimed.latest->set_epoch(1);
  claimed.latest->set_loss_d(0.25);
  ASSERT_TRUE(store_->AppendEvent(claimed, EpochEvent(3, 1)).ok());

  // A duplicate seq is an error, and the stored event stays.
  const Status dup = store_->AppendEvent(claimed, EpochEvent(3, 99));
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  // A gap is refused too.
  const Status gap = store_->AppendEvent(claimed, EpochEvent(5, 2));
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition) << gap.ToString();

  auto events = store_->ReadEvents("a", 1, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq(), int64_t(i) + 1);
  EXPECT_EQ((*events)[2].epoch().epoch(), 1);

  auto row = store_->GetJob("a", ReadPoints::kNo);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->last_seq, 3);
  EXPECT_EQ(row->epochs_done, 1);
  ASSERT_TRUE(row->latest.has_value());
  EXPECT_EQ(row->latest->loss_d(), 0.25);
  EXPECT_EQ(row->state, v1::JOB_STATE_RUNNING);

  // Pages: from a seq, at most `limit`.
  for (int64_t e = 2; e <= 10; ++e) {
    ASSERT_TRUE(store_->AppendEvent(claimed, EpochEvent(e + 2, e)).ok());
  }
  auto page = store_->ReadEvents("a", 5, 3);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].seq(), 5);
  EXPECT_EQ((*page)[2].seq(), 7);
  auto tail = store_->ReadEvents("a", 12, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_TRUE(store_->ReadEvents("a", 13, 100)->empty());
}

TEST_P(StoreConformanceTest, AStaleLeaseIsFencedOut) {
  MustInsert(Row("a"));
  const JobRow first = MustClaim(-1, /*lease_ns=*/1);  // expires at once
  EXPECT_EQ(first.lease, 1);
  EXPECT_EQ(first.owner, "test-owner");
  EXPECT_EQ(first.state, v1::JOB_STATE_RUNNING);
  EXPECT_GT(first.start_ns, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // Its lease expired: a second claim takes the job over.
  const JobRow second = MustClaim();
  EXPECT_EQ(second.id, "a");
  EXPECT_EQ(second.lease, 2);
  EXPECT_EQ(second.start_ns, first.start_ns);  // a takeover keeps the start time

  JobRow stale = first;
  const Status s = store_->AppendEvent(stale, Event(2, v1::JOB_STATE_RUNNING));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store_->ReadEvents("a", 1, 10)->size(), 1u);  // nothing written
  EXPECT_EQ(store_->RenewLease("a", 1, 1'000'000'000).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->RenewLease("a", 2, 1'000'000'000).ok());
  EXPECT_TRUE(store_->AppendEvent(second, Event(2, v1::JOB_STATE_RUNNING)).ok());
}

TEST_P(StoreConformanceTest, ClaimTakesTheOldestAndNeverOvertakesAJobThatDoesNotFit) {
  MustInsert(Row("a", "", 500));
  MustInsert(Row("b", "", 10));
  auto none = store_->ClaimNext("o", /*max_memory_bytes=*/100, 1'000'000'000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // "a" does not fit; "b" must not overtake it
  EXPECT_EQ(MustClaim(500).id, "a");
  EXPECT_EQ(MustClaim(100).id, "b");
  auto empty = store_->ClaimNext("o", -1, 1'000'000'000);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());  // both run, leases alive

  MustInsert(Row("c"));
  if (store_->Shared()) {
    // Other replicas' jobs are not known to be dead: nothing comes back
    // before its lease expires.
    ASSERT_TRUE(store_->ExpireAllLeases().ok());
    EXPECT_EQ(MustClaim().id, "c");
    EXPECT_FALSE(store_->ClaimNext("o", -1, 1'000'000'000)->has_value());
    return;
  }
  // A dead holder's jobs (ExpireAllLeases) come back, before queued ones.
  ASSERT_TRUE(store_->ExpireAllLeases().ok());
  EXPECT_EQ(MustClaim().id, "a");
  const JobRow b = MustClaim();
  EXPECT_EQ(b.id, "b");
  EXPECT_EQ(b.lease, 2);
  EXPECT_EQ(MustClaim().id, "c");
}

TEST_P(StoreConformanceTest, ListPagesNewestFirstAndFiltersByState) {
  for (int i = 0; i < 5; ++i) MustInsert(Row("j" + std::to_string(i)));
  JobRow running = MustClaim();  // j0
  ASSERT_EQ(running.id, "j0");
  auto page = store_->ListJobs({0, 2, v1::JOB_STATE_UNSPECIFIED, {}});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, "j4");
  EXPECT_EQ((*page)[1].id, "j3");
  auto next = store_->ListJobs({(*page)[1].index, 10, v1::JOB_STATE_UNSPECIFIED, {}});
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0].id, "j2");
  EXPECT_EQ((*next)[2].id, "j0");
  auto queued = store_->ListJobs({0, 10, v1::JOB_STATE_QUEUED, {}});
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->size(), 4u);
  auto active = store_->ActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 5u);
  EXPECT_EQ((*active)[0].id, "j0");  // oldest first
  auto counts = store_->CountJobs();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::JOB_STATE_QUEUED], 4);
  EXPECT_EQ((*counts)[v1::JOB_STATE_RUNNING], 1);
}

TEST_P(StoreConformanceTest, LabelsRoundTripAndSelectJobsInPages) {
  // j0..j9; the even ones in sweep "a", the odd ones in "b"; every third
  // has seed=1.
  std::vector<JobRow> rows;
  for (int i = 0; i < 10; ++i) {
    JobRow r = Row("j" + std::to_string(i), "req-" + std::to_string(i));
    r.labels = {{"sweep", i % 2 == 0 ? "a" : "b"}, {"index", std::to_string(i)}};
    if (i % 3 == 0) r.labels["seed"] = "1";
    if (i == 9) {  // the largest: 16 labels, 15 of them of 63 + 63 characters
      r.labels = {{"sweep", "b"}};
      for (int k = 10; k < 25; ++k) {
        r.labels[std::string(61, 'k') + std::to_string(k)] =
            std::string(63, static_cast<char>('a' + k - 10));
      }
    }
    rows.push_back(MustInsert(r));
    EXPECT_EQ(rows.back().labels, r.labels);
  }
  // Every read carries them: Get, List, FindRequest, ActiveJobs, a claim,
  // an idempotent insert.
  auto got = store_->GetJob("j4", ReadPoints::kNo);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->labels, (std::map<std::string, std::string>{{"sweep", "a"}, {"index", "4"}}));
  auto full = store_->GetJob("j9", ReadPoints::kYes);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->labels.size(), 16u);
  EXPECT_EQ(full->labels, rows[9].labels);
  auto found = store_->FindRequest("req-3");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->labels.at("seed"), "1");
  auto again = store_->InsertJob(Row("other", "req-6"), Event(1));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->row.labels.at("index"), "6");
  auto active = store_->ActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 10u);
  EXPECT_EQ((*active)[2].labels.at("index"), "2");
  const JobRow claimed = MustClaim();
  EXPECT_EQ(claimed.id, "j0");
  EXPECT_EQ(claimed.labels.at("seed"), "1");
  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 10u);
  for (const JobRow& r : *all) {
    EXPECT_EQ(r.labels, rows[static_cast<size_t>(std::stoi(r.id.substr(1)))].labels) << r.id;
  }

  // One pair: the matching jobs only, newest first, in pages.
  ListQuery q;
  q.labels = {{"sweep", "a"}};
  q.limit = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto got_page = store_->ListJobs(q);
    ASSERT_TRUE(got_page.ok()) << got_page.status().ToString();
    for (const JobRow& r : *got_page) seen.push_back(r.id);
    if (static_cast<int>(got_page->size()) < q.limit) break;
    q.before_index = got_page->back().index;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"j8", "j6", "j4", "j2", "j0"}));
  // Every pair must match.
  ListQuery both;
  both.labels = {{"sweep", "a"}, {"seed", "1"}};
  auto a1 = store_->ListJobs(both);
  ASSERT_TRUE(a1.ok());
  ASSERT_EQ(a1->size(), 2u);
  EXPECT_EQ((*a1)[0].id, "j6");
  EXPECT_EQ((*a1)[1].id, "j0");
  // With the state filter: j0 is RUNNING.
  both.state = v1::JOB_STATE_QUEUED;
  auto queued = store_->ListJobs(both);
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].id, "j6");
  // A value must match exactly; an unknown key or value selects nothing.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"sweep", "A"}, {"sweep", ""}, {"sweep", "a "}, {"nope", "a"}}) {
    ListQuery none;
    none.labels = {{key, value}};
    auto empty = store_->ListJobs(none);
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty()) << key << "=" << value;
  }
  ListQuery big;
  big.labels = {{"sweep", "b"}, *rows[9].labels.begin()};
  auto nine = store_->ListJobs(big);
  ASSERT_TRUE(nine.ok());
  ASSERT_EQ(nine->size(), 1u);
  EXPECT_EQ((*nine)[0].id, "j9");

  // The labels go with the job: a new job of the same id has none of them.
  JobRow ended = *store_->GetJob("j4", ReadPoints::kNo);
  ended.state = v1::JOB_STATE_CANCELLED;
  ended.end_ns = 5000;
  ASSERT_TRUE(store_->AppendEvent(ended, Event(2, v1::JOB_STATE_CANCELLED)).ok());
  EXPECT_EQ(store_->GetJob("j4", ReadPoints::kNo)->labels.at("index"),
            "4");  // AppendEvent keeps them
  ASSERT_TRUE(store_->DeleteJob("j4").ok());
  MustInsert(Row("j4"));
  EXPECT_TRUE(store_->GetJob("j4", ReadPoints::kNo)->labels.empty());
  ListQuery index4;
  index4.labels = {{"index", "4"}};
  EXPECT_TRUE(store_->ListJobs(index4)->empty());
}

TEST_P(StoreConformanceTest, DeleteOnlyEndedJobsWithTheirEventsAndBlobs) {
  MustInsert(Row("a"));
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kSnapshot, 3}, "snap").ok());
  EXPECT_EQ(store_->DeleteJob("a").code(), StatusCode::kFailedPrecondition);
  JobRow ended = *store_->GetJob("a", ReadPoints::kNo);
  ended.state = v1::JOB_STATE_CANCELLED;
  ended.end_ns = 5000;
  ASSERT_TRUE(store_->AppendEvent(ended, Event(2, v1::JOB_STATE_CANCELLED)).ok());
  ASSERT_TRUE(store_->DeleteJob("a").ok());
  EXPECT_EQ(store_->GetJob("a", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteJob("a").code(), StatusCode::kNotFound);
  auto blobs = store_->ListBlobs("a", BlobKind::kSnapshot);
  ASSERT_TRUE(blobs.ok());
  EXPECT_TRUE(blobs->empty());
  EXPECT_EQ(store_->GetBlob({"a", BlobKind::kSnapshot, 3}).status().code(), StatusCode::kNotFound);
  // The request id is free again, and the events went with the job.
  MustInsert(Row("a2"));
}

TEST_P(StoreConformanceTest, RetentionFindsTheOldAndTheSurplus) {
  for (int i = 0; i < 4; ++i) {
    JobRow r = MustInsert(Row("e" + std::to_string(i)));
    r.state = v1::JOB_STATE_SUCCEEDED;
    r.end_ns = 1000 * (i + 1);  // e3 ended last
    ASSERT_TRUE(store_->AppendEvent(r, Event(2, v1::JOB_STATE_SUCCEEDED)).ok());
  }
  MustInsert(Row("queued"));
  auto surplus = store_->ExpiredJobs(0, /*keep_newest=*/2, 100);
  ASSERT_TRUE(surplus.ok());
  ASSERT_EQ(surplus->size(), 2u);
  EXPECT_EQ((*surplus)[0], "e1");
  EXPECT_EQ((*surplus)[1], "e0");
  auto old = store_->ExpiredJobs(/*ended_before_ns=*/2500, 0, 100);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->size(), 2u);
  auto limited = store_->ExpiredJobs(2500, 0, 1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
  EXPECT_TRUE(store_->ExpiredJobs(0, 0, 100)->empty());
}

TEST_P(StoreConformanceTest, BlobsPutGetListDelete) {
  MustInsert(Row("a"));
  std::string big(1 << 20, 'x');
  big[12345] = 'y';
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kCheckpoint, 20}, big).ok());
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kCheckpoint, 10}, "ten").ok());
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kSnapshot, 10}, "snap").ok());
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kCheckpoint, 10}, "TEN").ok());  // replaced
  auto got = store_->GetBlob({"a", BlobKind::kCheckpoint, 20});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, big);
  EXPECT_EQ(*store_->GetBlob({"a", BlobKind::kCheckpoint, 10}), "TEN");
  EXPECT_EQ(*store_->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(*store_->ListBlobs("a", BlobKind::kSnapshot), (std::vector<int64_t>{10}));
  ASSERT_TRUE(store_->DeleteBlob({"a", BlobKind::kCheckpoint, 10}).ok());
  ASSERT_TRUE(store_->DeleteBlob({"a", BlobKind::kCheckpoint, 10}).ok());  // absent: OK
  EXPECT_EQ(*store_->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{20}));
  EXPECT_EQ(store_->GetBlob({"a", BlobKind::kSnapshot, 11}).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ConcurrentClaimsNeverTakeTheSameJob) {
  constexpr int kJobs = 24;
  for (int i = 0; i < kJobs; ++i) MustInsert(Row("j" + std::to_string(i)));
  std::mutex mu;
  std::map<std::string, int> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (true) {
        auto r = store_->ClaimNext("owner" + std::to_string(t), -1, 60'000'000'000);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (!r->has_value()) return;
        std::lock_guard<std::mutex> lock(mu);
        ++claimed[(*r)->id];
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, n] : claimed) EXPECT_EQ(n, 1) << id;
}

TEST_P(StoreConformanceTest, SharedStoresFenceBlobsAndCarryCancels) {
  if (!store_->Shared()) GTEST_SKIP() << "an exclusive store: one process, nothing to fence";
  MustInsert(Row("a"));
  EXPECT_EQ(store_->RequestCancel("a").code(), StatusCode::kFailedPrecondition);  // queued
  const JobRow first = MustClaim(-1, /*lease_ns=*/1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(store_->PutBlob({"a", BlobKind::kCheckpoint, 5, first.lease}, "mine").ok());
  const JobRow second = MustClaim();  // the lease expired on the store's clock
  EXPECT_EQ(second.lease, first.lease + 1);
  // The old holder can neither write nor delete the job's blobs.
  EXPECT_EQ(store_->PutBlob({"a", BlobKind::kCheckpoint, 6, first.lease}, "stale").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->DeleteBlob({"a", BlobKind::kCheckpoint, 5, first.lease}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store_->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{5}));
  EXPECT_TRUE(store_->PutBlob({"a", BlobKind::kCheckpoint, 6, second.lease}, "new").ok());
  // A cancel asked for elsewhere reaches the owner, and the next holder.
  EXPECT_TRUE(store_->CancelRequests("test-owner")->empty());
  ASSERT_TRUE(store_->RequestCancel("a").ok());
  EXPECT_EQ(*store_->CancelRequests("test-owner"), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(store_->GetJob("a", ReadPoints::kNo)->cancel_requested);
  EXPECT_EQ(store_->RequestCancel("nope").code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Ping().ok());
}

TEST_P(StoreConformanceTest, AnExpiredLeaseWithACancelIsClaimedToEndIt) {
  if (!store_->Shared()) {
    EXPECT_FALSE(store_->ClaimCancelled("", "other", 1'000'000'000)->has_value());
    GTEST_SKIP() << "an exclusive store: its leases expire only at start-up";
  }
  const int64_t minute = int64_t{60} * 1'000'000'000;
  MustInsert(Row("held"));
  MustInsert(Row("dead"));
  MustInsert(Row("plain"));
  const JobRow held = MustClaim(-1, minute);
  const JobRow dead = MustClaim(-1, minute);
  const JobRow plain = MustClaim(-1, minute);
  ASSERT_EQ(dead.id, "dead");
  ASSERT_EQ(plain.id, "plain");
  // Their holders stop renewing: a last renewal that expires at once.
  ASSERT_TRUE(store_->RenewLease("dead", dead.lease, 1).ok());
  ASSERT_TRUE(store_->RenewLease("plain", plain.lease, 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(store_->RequestCancel("held").ok());
  // A held lease is never taken, nor an expired one without a cancel.
  EXPECT_FALSE(store_->ClaimCancelled("held", "other", minute)->has_value());
  EXPECT_FALSE(store_->ClaimCancelled("plain", "other", minute)->has_value());
  EXPECT_FALSE(store_->ClaimCancelled("", "other", minute)->has_value());
  EXPECT_FALSE(store_->ClaimCancelled("nope", "other", minute)->has_value());
  ASSERT_TRUE(store_->PutBlob({"dead", BlobKind::kCheckpoint, 5, dead.lease}, "ckpt").ok());
  ASSERT_TRUE(store_->RequestCancel("dead").ok());
  auto claimed = store_->ClaimCancelled("", "other", minute);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_TRUE(claimed->has_value());
  const JobRow ending = **claimed;
  EXPECT_EQ(ending.id, "dead");
  EXPECT_EQ(ending.owner, "other");
  EXPECT_EQ(ending.lease, dead.lease + 1);
  EXPECT_EQ(ending.state, v1::JOB_STATE_RUNNING);
  EXPECT_TRUE(ending.cancel_requested);
  // Claimed: nobody else takes it, and its last holder is fenced out.
  EXPECT_FALSE(store_->ClaimCancelled("dead", "third", minute)->has_value());
  auto next = store_->ClaimNext("third", -1, minute);  // the expired one without a cancel
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, "plain");
  EXPECT_EQ(store_->AppendEvent(dead, Event(2, v1::JOB_STATE_RUNNING)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->PutBlob({"dead", BlobKind::kCheckpoint, 6, dead.lease}, "stale").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->DeleteBlob({"dead", BlobKind::kCheckpoint, 5, dead.lease}).code(),
            StatusCode::kFailedPrecondition);
  JobRow cancelled = ending;
  cancelled.state = v1::JOB_STATE_CANCELLED;
  ASSERT_TRUE(store_->AppendEvent(cancelled, Event(2, v1::JOB_STATE_CANCELLED)).ok());
  EXPECT_TRUE(store_->DeleteBlob({"dead", BlobKind::kCheckpoint, 5, ending.lease}).ok());
  EXPECT_EQ(store_->GetJob("dead", ReadPoints::kNo)->state, v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(store_->ClaimCancelled("dead", "other", minute)->has_value());  // ended
  EXPECT_EQ(held.lease, 1);
  EXPECT_EQ(plain.lease, 1);
}

TEST_P(StoreConformanceTest, TablesAreContentAddressedAndStoredOnce) {
  const std::string bytes = "x\na\na\n";
  const TableRow first = MustPutTable(bytes, "first.csv");
  EXPECT_EQ(first.index, 1);
  EXPECT_EQ(first.id, Sha256Hex(bytes));
  // The same bytes under another name: nothing stored, the first row back.
  auto again = store_->PutTable(TableOf(bytes, "second.csv"), bytes);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->inserted);
  EXPECT_EQ(again->row.name, "first.csv");
  EXPECT_EQ(again->row.index, 1);
  auto got = store_->GetTable(first.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "first.csv");
  EXPECT_EQ(got->size_bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(got->create_ns, 2000);
  ASSERT_EQ(got->schema.columns_size(), 1);
  EXPECT_EQ(got->schema.columns(0).levels(0), "a");
  auto read = store_->ReadTableBytes(first.id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, bytes);
  EXPECT_EQ(store_->ListTables({})->size(), 1u);
  // A 3 MiB table round-trips whole.
  std::string big(3 << 20, 'y');
  big[1234567] = 'z';
  MustPutTable(big, "big.csv");
  EXPECT_EQ(*store_->ReadTableBytes(Sha256Hex(big)), big);
  // A row that does not describe its bytes is refused, storing nothing.
  TableRow wrong = TableOf("other", "wrong.csv");
  EXPECT_EQ(store_->PutTable(wrong, "not other").status().code(), StatusCode::kInvalidArgument);
  wrong.size_bytes = 3;
  EXPECT_EQ(store_->PutTable(wrong, "other").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetTable(Sha256Hex("other")).status().code(), StatusCode::kNotFound);
  const std::string unknown(64, 'a');
  EXPECT_EQ(store_->GetTable(unknown).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadTableBytes(unknown).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteTable(unknown).code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, TablesListNewestFirstInPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MustPutTable("t" + std::to_string(i), "t").id);
  TableListQuery q;
  q.limit = 2;
  auto page = store_->ListTables(q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[4]);
  EXPECT_EQ((*page)[1].id, ids[3]);
  q.before_index = (*page)[1].index;
  page = store_->ListTables(q);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[2]);
  EXPECT_EQ((*page)[1].id, ids[1]);
  q.before_index = (*page)[1].index;
  page = store_->ListTables(q);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, ids[0]);
  // A deleted table leaves the listing; the others keep their order.
  ASSERT_TRUE(store_->DeleteTable(ids[2]).ok());
  auto all = store_->ListTables({});
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[1].id, ids[3]);
  EXPECT_EQ((*all)[2].id, ids[1]);
  // A table uploaded after a delete is the newest.
  const std::string newest = MustPutTable("t5", "t").id;
  EXPECT_EQ((*store_->ListTables({}))[0].id, newest);
}

TEST_P(StoreConformanceTest, ATableIsDeletedOnlyOnceNoQueuedOrRunningJobUsesIt) {
  const std::string table = MustPutTable("x\na\nb\n", "t.csv").id;
  const JobRow job = MustInsert(TableJob("j1", table));
  EXPECT_EQ(TableIdOf(store_->GetJob("j1", ReadPoints::kNo)->spec), table);
  Status refused = store_->DeleteTable(table);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("j1"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("QUEUED"), std::string::npos) << refused.message();
  JobRow running = MustClaim();
  refused = store_->DeleteTable(table);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("RUNNING"), std::string::npos) << refused.message();
  EXPECT_TRUE(store_->GetTable(table).ok());
  running.state = v1::JOB_STATE_SUCCEEDED;
  running.end_ns = 5000;
  ASSERT_TRUE(store_->AppendEvent(running, Event(2, v1::JOB_STATE_SUCCEEDED)).ok());
  ASSERT_TRUE(store_->DeleteTable(table).ok());
  EXPECT_EQ(store_->GetTable(table).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadTableBytes(table).status().code(), StatusCode::kNotFound);
  // The ended job stays, naming the table it used.
  EXPECT_EQ(TableIdOf(store_->GetJob(job.id, ReadPoints::kNo)->spec), table);
  // Jobs of other tables and jobs without one do not hold a table.
  const std::string other = MustPutTable("y\n1\n2\n", "u.csv").id;
  MustInsert(Row("plain"));
  EXPECT_TRUE(store_->DeleteTable(other).ok());
}

TEST_P(StoreConformanceTest, AJobOfAnUnknownTableIsNotStored) {
  const std::string missing = Sha256Hex("never uploaded");
  auto r = store_->InsertJob(TableJob("j1", missing), Event(1));
  ASSERT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().message();
  EXPECT_EQ(store_->GetJob("j1", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListJobs({})->empty());
  EXPECT_TRUE(store_->ReadEvents("j1", 0, 10)->empty());
  // Once uploaded, the same job is stored.
  const TableRow t = MustPutTable("x\na\nb\n", "t.csv");
  JobRow job = TableJob("j1", t.id);
  MustInsert(job);
  // A deleted table's id is unknown again.
  JobRow ended = MustClaim();
  ended.state = v1::JOB_STATE_FAILED;
  ASSERT_TRUE(store_->AppendEvent(ended, Event(2, v1::JOB_STATE_FAILED)).ok());
  ASSERT_TRUE(store_->DeleteTable(t.id).ok());
  EXPECT_EQ(store_->InsertJob(TableJob("j2", t.id), Event(1)).status().code(),
            StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, SessionsArePutReadDeletedAndSweptByExpiry) {
  auto session = [](const std::string& id, int64_t create_ns, int64_t expires_ns) {
    SessionRow r;
    r.id_hash = Sha256Hex(id);
    r.create_ns = create_ns;
    r.expires_ns = expires_ns;
    return r;
  };
  const SessionRow a = session("a", 100, 1000), b = session("b", 200, 2000),
                   c = session("c", 300, 3000);
  ASSERT_TRUE(store_->PutSession(a).ok());
  ASSERT_TRUE(store_->PutSession(b).ok());
  ASSERT_TRUE(store_->PutSession(c).ok());
  // A stored hash is never overwritten.
  SessionRow again = a;
  again.expires_ns = 99999;
  EXPECT_EQ(store_->PutSession(again).code(), StatusCode::kAlreadyExists);
  // Only hashes are stored.
  SessionRow bad = a;
  bad.id_hash = "a";
  EXPECT_EQ(store_->PutSession(bad).code(), StatusCode::kInvalidArgument);
  bad.id_hash = std::string(64, 'A');
  EXPECT_EQ(store_->PutSession(bad).code(), StatusCode::kInvalidArgument);

  auto got = store_->GetSession(a.id_hash);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id_hash, a.id_hash);
  EXPECT_EQ(got->create_ns, 100);
  EXPECT_EQ(got->expires_ns, 1000);  // the first put's
  EXPECT_EQ(store_->GetSession(Sha256Hex("unknown")).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->DeleteSession(b.id_hash).ok());
  EXPECT_EQ(store_->GetSession(b.id_hash).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->DeleteSession(b.id_hash).ok());  // absent: OK too

  // Expired: expires_ns <= now. An expired row is still read back until
  // it is swept (the caller compares the time).
  EXPECT_TRUE(store_->GetSession(a.id_hash).ok());
  auto swept = store_->DeleteExpiredSessions(999);
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(*swept, 0);
  swept = store_->DeleteExpiredSessions(1000);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  EXPECT_EQ(store_->GetSession(a.id_hash).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetSession(c.id_hash).ok());
  swept = store_->DeleteExpiredSessions(int64_t{1} << 62);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  EXPECT_EQ(store_->GetSession(c.id_hash).status().code(), StatusCode::kNotFound);
  // A swept hash may be stored again (a new session never reuses one, but
  // nothing depends on it).
  EXPECT_TRUE(store_->PutSession(a).ok());
}

TEST_P(StoreConformanceTest, SessionsAndJobsCarryTheirPrincipal) {
  SessionRow row;
  row.id_hash = Sha256Hex("s");
  row.expires_ns = 10;
  row.principal = "alice 0123abcd";
  ASSERT_TRUE(store_->PutSession(row).ok());
  auto got = store_->GetSession(row.id_hash);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->principal, "alice 0123abcd");

  JobRow a = Row("a"), b = Row("b"), c = Row("c");
  a.created_by = "alice";
  b.created_by = "bob";
  c.created_by = "alice";
  MustInsert(a);
  MustInsert(b);
  MustInsert(c);
  MustInsert(Row("d"));  // no owner (a server without credentials)
  EXPECT_EQ(store_->GetJob("b", ReadPoints::kNo)->created_by, "bob");
  EXPECT_EQ(store_->GetJob("d", ReadPoints::kNo)->created_by, "");
  const JobRow claimed = MustClaim();
  EXPECT_EQ(claimed.id, "a");
  EXPECT_EQ(claimed.created_by, "alice");
  ListQuery q;
  q.created_by = "alice";
  auto listed = store_->ListJobs(q);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "c");
  EXPECT_EQ((*listed)[1].id, "a");
  q.state = v1::JOB_STATE_QUEUED;  // with the other filters
  listed = store_->ListJobs(q);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, "c");
  q = ListQuery();
  q.created_by = "nobody";
  EXPECT_TRUE(store_->ListJobs(q)->empty());
  EXPECT_EQ(store_->ListJobs({})->size(), 4u);
}

// Quotas at insert: a creator's queued jobs and memory (queued and running
// jobs together) are counted in the store; a retry of a stored request is
// answered first; others' jobs and jobs of no one do not count.
TEST_P(StoreConformanceTest, InsertEnforcesTheCreatorsQuota) {
  auto owned = [](const std::string& id, const std::string& who, int64_t memory,
                  const std::string& request_id = "") {
    JobRow r = Row(id, request_id, memory);
    r.created_by = who;
    return r;
  };
  Quota quota;
  quota.queued = 2;
  quota.memory_bytes = 1000;
  ASSERT_TRUE(store_->InsertJob(owned("a", "bob", 300, "req-a"), Event(1), quota).ok());
  ASSERT_TRUE(store_->InsertJob(owned("b", "bob", 300), Event(1), quota).ok());
  ASSERT_TRUE(store_->InsertJob(owned("x", "carol", 900), Event(1), quota).ok());  // carol's own count
  ASSERT_TRUE(store_->InsertJob(Row("y", "", 900), Event(1), quota).ok());         // no one's
  auto third = store_->InsertJob(owned("c", "bob", 10), Event(1), quota);
  ASSERT_EQ(third.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(third.status().message(),
            "quota: bob has 2 queued jobs, as many as its queued=2 allows; wait for one to start, "
            "or cancel one");
  EXPECT_EQ(store_->GetJob("c", ReadPoints::kNo).status().code(), StatusCode::kNotFound);
  // A retry of a stored request is answered, not refused.
  auto retry = store_->InsertJob(owned("a2", "bob", 300, "req-a"), Event(1), quota);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_FALSE(retry->inserted);
  EXPECT_EQ(retry->row.id, "a");
  // Running jobs count toward memory, not toward queued.
  const JobRow claimed = MustClaim();
  EXPECT_EQ(claimed.id, "a");
  auto big = store_->InsertJob(owned("d", "bob", 401), Event(1), quota);
  ASSERT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(big.status().message().find("the queued and running jobs of bob hold 600 B of the 1000 B"),
            std::string::npos)
      << big.status().message();
  ASSERT_TRUE(store_->InsertJob(owned("d", "bob", 400), Event(1), quota).ok());
  // Ended jobs count for nothing.
  JobRow ended = claimed;
  ended.state = v1::JOB_STATE_SUCCEEDED;
  ended.end_ns = 2000;
  ASSERT_TRUE(store_->AppendEvent(ended, Event(claimed.last_seq + 1, v1::JOB_STATE_SUCCEEDED)).ok());
  auto fits = store_->InsertJob(owned("e", "bob", 300), Event(1), Quota{-1, -1, 1000});
  EXPECT_TRUE(fits.ok()) << fits.status().ToString();
}

// Running limits at claim: a queued job whose creator runs its limit is
// passed over, later jobs of others are claimed, and it is claimed once one
// of its creator's jobs ends.
TEST_P(StoreConformanceTest, ClaimPassesOverCreatorsAtTheirRunningLimit) {
  auto owned = [](const std::string& id, const std::string& who) {
    JobRow r = Row(id);
    r.created_by = who;
    return r;
  };
  MustInsert(owned("b1", "bob"));
  MustInsert(owned("b2", "bob"));
  MustInsert(owned("c1", "carol"));
  MustInsert(Row("n1"));
  ClaimPolicy policy;
  policy.running = {{"bob", 1}, {"carol", 0}};
  auto claim = [&]() -> std::string {
    auto c = store_->ClaimNext("o", -1, int64_t{60} * 1'000'000'000, policy);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() && c->has_value() ? (*c)->id : "";
  };
  const std::string first = claim();
  EXPECT_EQ(first, "b1");
  EXPECT_EQ(claim(), "n1");  // b2: bob runs 1 of 1; c1: carol may run none
  EXPECT_EQ(claim(), "");
  JobRow b1 = *store_->GetJob("b1", ReadPoints::kNo);
  b1.state = v1::JOB_STATE_CANCELLED;
  b1.end_ns = 2000;
  ASSERT_TRUE(store_->AppendEvent(b1, Event(b1.last_seq + 1, v1::JOB_STATE_CANCELLED)).ok());
  EXPECT_EQ(claim(), "b2");
  EXPECT_EQ(claim(), "");
  EXPECT_EQ(MustClaim().id, "c1");  // without limits
}

// Priorities: the highest first, the oldest among equals; a queued job
// rises a level per aging period since it was (re)queued, up to HIGH; the
// order holds with memory (the head is not overtaken) and keeps start_ns.
TEST_P(StoreConformanceTest, ClaimTakesTheHighestAgedPriorityFirst) {
  const int64_t now = NowNs();
  auto job = [&](const std::string& id, int priority, int64_t queued_ago_ns) {
    JobRow r = Row(id);
    r.priority = priority;
    r.queued_ns = now - queued_ago_ns;
    return r;
  };
  const int64_t minute = int64_t{60} * 1'000'000'000;
  MustInsert(job("low-old", v1::PRIORITY_LOW, 25 * minute));
  MustInsert(job("normal", v1::PRIORITY_NORMAL, 0));
  MustInsert(job("high", v1::PRIORITY_HIGH, 0));
  MustInsert(job("low-new", v1::PRIORITY_LOW, 0));
  EXPECT_EQ(store_->GetJob("high", ReadPoints::kNo)->priority, v1::PRIORITY_HIGH);
  auto claim = [&](int64_t aging_ns) -> std::string {
    ClaimPolicy policy;
    policy.priority_aging_ns = aging_ns;
    auto c = store_->ClaimNext("o", -1, 60 * minute, policy);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() && c->has_value() ? (*c)->id : "";
  };
  // Aging of 10 minutes: low-old waited 25, so it counts as HIGH and is
  // older than "high".
  EXPECT_EQ(claim(10 * minute), "low-old");
  EXPECT_EQ(claim(10 * minute), "high");
  // Without aging: normal, then low.
  EXPECT_EQ(claim(0), "normal");
  const JobRow waiting = *store_->GetJob("low-new", ReadPoints::kNo);
  EXPECT_EQ(claim(0), "low-new");
  const JobRow claimed = *store_->GetJob("low-new", ReadPoints::kNo);
  EXPECT_GT(claimed.start_ns, 0);
  // Requeued (a preemption): QUEUED again with a new queued_ns, and the
  // next claim keeps its first start.
  JobRow requeued = claimed;
  requeued.state = v1::JOB_STATE_QUEUED;
  requeued.queued_ns = now + 5;
  ASSERT_TRUE(store_->AppendEvent(requeued, Event(claimed.last_seq + 1)).ok());
  EXPECT_EQ(store_->GetJob("low-new", ReadPoints::kNo)->queued_ns, now + 5);
  EXPECT_EQ(claim(0), "low-new");
  EXPECT_EQ(store_->GetJob("low-new", ReadPoints::kNo)->start_ns, claimed.start_ns);
  // Never claimed before: no start, set by its first claim.
  EXPECT_EQ(waiting.state, v1::JOB_STATE_QUEUED);
  EXPECT_EQ(waiting.start_ns, 0);
}

TEST_P(StoreConformanceTest, TheAuditLogPagesFiltersAndKeepsItsNewest) {
  auto entry = [](const std::string& who, const std::string& action, const std::string& target,
                  bool allowed) {
    AuditRow r;
    r.time_ns = 1000;
    r.principal = who;
    r.role = "member";
    r.action = action;
    r.target = target;
    r.allowed = allowed;
    r.code = allowed ? "OK" : "PERMISSION_DENIED";
    r.message = allowed ? "" : "no";
    return r;
  };
  const std::vector<AuditRow> rows = {
      entry("alice", "CreateJob", "j1", true), entry("bob", "CancelJob", "j1", false),
      entry("bob", "CreateJob", "j2", true), entry("alice", "DeleteJob", "j1", true),
      entry("carol", "Login", "", true)};
  for (size_t i = 0; i < rows.size(); ++i) {
    auto seq = store_->AppendAudit(rows[i], 1000);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    EXPECT_EQ(*seq, static_cast<int64_t>(i) + 1);
  }
  AuditQuery q;
  auto all = store_->ListAudit(q);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].seq, 5);  // newest first
  EXPECT_EQ((*all)[0].action, "Login");
  const AuditRow& denied = (*all)[3];
  EXPECT_EQ(denied.seq, 2);
  EXPECT_EQ(denied.principal, "bob");
  EXPECT_EQ(denied.role, "member");
  EXPECT_EQ(denied.target, "j1");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.code, "PERMISSION_DENIED");
  EXPECT_EQ(denied.message, "no");
  EXPECT_EQ(denied.time_ns, 1000);
  EXPECT_TRUE((*all)[0].allowed);

  q.principal = "bob";
  auto bob = store_->ListAudit(q);
  ASSERT_TRUE(bob.ok());
  ASSERT_EQ(bob->size(), 2u);
  EXPECT_EQ((*bob)[0].seq, 3);
  EXPECT_EQ((*bob)[1].seq, 2);
  q = AuditQuery();
  q.target = "j1";
  q.limit = 2;
  auto page = store_->ListAudit(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 4);
  EXPECT_EQ((*page)[1].seq, 2);
  q.before_seq = 2;
  page = store_->ListAudit(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].seq, 1);

  // The bound: appending with keep 3 leaves the newest 3.
  auto seq = store_->AppendAudit(entry("dave", "CreateJob", "j3", true), 3);
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 6);
  all = store_->ListAudit(AuditQuery());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].seq, 6);
  EXPECT_EQ((*all)[2].seq, 4);
}

// --- webhooks: the outbox AppendEvent fills, and its claims ---

WebhookRow Hook(const std::string& id, const std::string& principal, uint32_t events) {
  WebhookRow w;
  w.id = id;
  w.principal = principal;
  w.url = "http://127.0.0.1:9/" + id;
  w.secret = "secret-of-" + id;
  w.events = events;
  w.create_ns = 5000;
  return w;
}
constexpr uint32_t kEnded = 1u << v1::WEBHOOK_EVENT_JOB_ENDED;
constexpr uint32_t kBest = 1u << v1::WEBHOOK_EVENT_NEW_BEST;
constexpr uint32_t kAlarm = 1u << v1::WEBHOOK_EVENT_ALARM;

v1::JobEvent BestEvent(int64_t seq, int64_t epoch, int64_t best) {
  v1::JobEvent e = test::EpochEvent(seq, epoch);
  e.mutable_epoch()->set_best_epoch(best);
  e.mutable_epoch()->mutable_preview()->set_dim(2);
  e.mutable_epoch()->mutable_preview()->add_values(1.5f);
  e.mutable_epoch()->mutable_preview()->add_values(2.5f);
  return e;
}

// The keys of a webhook's deliveries, oldest first.
std::vector<std::string> Keys(Store* store, const std::string& hook) {
  auto rows = store->ListDeliveries(hook, 0, 100);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::string> keys;
  if (rows.ok()) {
    for (auto it = rows->rbegin(); it != rows->rend(); ++it) keys.push_back(it->key);
  }
  return keys;
}

TEST_P(StoreConformanceTest, WebhooksAreStoredListedCountedAndDeleted) {
  ASSERT_TRUE(store_->PutWebhook(Hook("wh-a", "alice", kEnded)).ok());
  WebhookRow b = Hook("wh-b", "bob", kEnded | kBest);
  b.job_id = "j-1";
  b.label_selector = "team=x";
  b.owner = "carol";
  ASSERT_TRUE(store_->PutWebhook(b).ok());
  EXPECT_EQ(store_->PutWebhook(Hook("wh-a", "alice", kEnded)).code(), StatusCode::kAlreadyExists);

  auto got = store_->GetWebhook("wh-b");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->principal, "bob");
  EXPECT_EQ(got->url, "http://127.0.0.1:9/wh-b");
  EXPECT_EQ(got->secret, "secret-of-wh-b");
  EXPECT_EQ(got->events, kEnded | kBest);
  EXPECT_EQ(got->job_id, "j-1");
  EXPECT_EQ(got->label_selector, "team=x");
  EXPECT_EQ(got->owner, "carol");
  EXPECT_EQ(got->create_ns, 5000);
  EXPECT_EQ(store_->GetWebhook("wh-zzz").status().code(), StatusCode::kNotFound);

  auto all = store_->ListWebhooks("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "wh-a");  // oldest first
  EXPECT_LT((*all)[0].index, (*all)[1].index);
  auto bobs = store_->ListWebhooks("bob");
  ASSERT_TRUE(bobs.ok());
  ASSERT_EQ(bobs->size(), 1u);
  EXPECT_EQ((*bobs)[0].id, "wh-b");

  // A principal has at most kMaxWebhooksPerPrincipal; the refusal is a quota's.
  for (int i = 1; i < kMaxWebhooksPerPrincipal; ++i) {
    ASSERT_TRUE(store_->PutWebhook(Hook("wh-a" + std::to_string(i), "alice", kEnded)).ok());
  }
  const Status over = store_->PutWebhook(Hook("wh-over", "alice", kEnded));
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted) << over.ToString();
  EXPECT_TRUE(IsQuotaRefusal(over)) << over.ToString();
  EXPECT_NE(over.message().find("alice"), std::string::npos) << over.ToString();
  EXPECT_TRUE(store_->PutWebhook(Hook("wh-b2", "bob", kEnded)).ok());  // others are not bound by it

  EXPECT_TRUE(store_->DeleteWebhook("wh-a").ok());
  EXPECT_EQ(store_->DeleteWebhook("wh-a").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetWebhook("wh-a").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->PutWebhook(Hook("wh-over", "alice", kEnded)).ok());  // room again
}

TEST_P(StoreConformanceTest, AppendEventStoresTheDeliveriesOfMatchingWebhooks) {
  ASSERT_TRUE(store_->PutWebhook(Hook("wh-all", "alice", kEnded | kBest | kAlarm)).ok());
  WebhookRow labelled = Hook("wh-label", "alice", kEnded);
  labelled.label_selector = "team=x";
  ASSERT_TRUE(store_->PutWebhook(labelled).ok());
  WebhookRow one_job = Hook("wh-job", "bob", kBest);
  one_job.job_id = "b";
  ASSERT_TRUE(store_->PutWebhook(one_job).ok());
  WebhookRow carols = Hook("wh-owner", "bob", kAlarm | kEnded);
  carols.owner = "carol";
  ASSERT_TRUE(store_->PutWebhook(carols).ok());

  JobRow a = Row("a");
  a.labels = {{"team", "x"}};
  a.created_by = "carol";
  MustInsert(a);
  MustInsert(Row("b"));
  JobRow ra = MustClaim();
  ASSERT_EQ(ra.id, "a");
  ra.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(store_->AppendEvent(ra, Event(2, v1::JOB_STATE_RUNNING)).ok());  // nothing
  ra.epochs_done = 1;
  ASSERT_TRUE(store_->AppendEvent(ra, BestEvent(3, 1, 1)).ok());  // a new best
  // An epoch that raised an alarm (its alarms of that epoch; stored with
  // the epoch, so a crash cannot separate them), not a new best.
  v1::Alarm saturation;
  saturation.set_kind("saturation");
  saturation.set_epoch(2);
  v1::JobEvent raised = BestEvent(4, 2, 1);
  *raised.mutable_epoch()->add_alarms() = saturation;
  ra.epochs_done = 2;
  ASSERT_TRUE(store_->AppendEvent(ra, raised).ok());
  // The alarm event that follows it, and a later epoch still listing the
  // alarm, send nothing more.
  v1::JobEvent alarm;
  alarm.set_seq(5);
  *alarm.mutable_alarm() = saturation;
  ASSERT_TRUE(store_->AppendEvent(ra, alarm).ok());
  v1::JobEvent later = BestEvent(6, 3, 1);
  *later.mutable_epoch()->add_alarms() = saturation;
  ra.epochs_done = 3;
  ASSERT_TRUE(store_->AppendEvent(ra, later).ok());
  ra.state = v1::JOB_STATE_SUCCEEDED;
  ASSERT_TRUE(store_->AppendEvent(ra, Event(7, v1::JOB_STATE_SUCCEEDED)).ok());
  JobRow rb = MustClaim();
  ASSERT_EQ(rb.id, "b");
  rb.state = v1::JOB_STATE_RUNNING;
  ASSERT_TRUE(store_->AppendEvent(rb, BestEvent(2, 1, 1)).ok());
  rb.state = v1::JOB_STATE_FAILED;
  rb.error = "boom";
  ASSERT_TRUE(store_->AppendEvent(rb, Event(3, v1::JOB_STATE_FAILED)).ok());

  EXPECT_EQ(Keys(store_.get(), "wh-all"),
            (std::vector<std::string>{"wh-all/a/3/WEBHOOK_EVENT_NEW_BEST", "wh-all/a/4/WEBHOOK_EVENT_ALARM",
                                      "wh-all/a/7/WEBHOOK_EVENT_JOB_ENDED", "wh-all/b/2/WEBHOOK_EVENT_NEW_BEST",
                                      "wh-all/b/3/WEBHOOK_EVENT_JOB_ENDED"}));
  EXPECT_EQ(Keys(store_.get(), "wh-label"),
            (std::vector<std::string>{"wh-label/a/7/WEBHOOK_EVENT_JOB_ENDED"}));
  EXPECT_EQ(Keys(store_.get(), "wh-job"), (std::vector<std::string>{"wh-job/b/2/WEBHOOK_EVENT_NEW_BEST"}));
  EXPECT_EQ(Keys(store_.get(), "wh-owner"),
            (std::vector<std::string>{"wh-owner/a/4/WEBHOOK_EVENT_ALARM", "wh-owner/a/7/WEBHOOK_EVENT_JOB_ENDED"}));

  auto rows = store_->ListDeliveries("wh-all", 0, 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 5u);
  // Newest first, by seq; each PENDING, never tried, with its payload.
  for (size_t i = 1; i < rows->size(); ++i) EXPECT_GT((*rows)[i - 1].seq, (*rows)[i].seq);
  const DeliveryRow& best = rows->back();
  EXPECT_EQ(best.type, v1::WEBHOOK_EVENT_NEW_BEST);
  EXPECT_EQ(best.job_id, "a");
  EXPECT_EQ(best.event_seq, 3);
  EXPECT_EQ(best.state, v1::DELIVERY_STATE_PENDING);
  EXPECT_EQ(best.attempts, 0);
  v1::WebhookPayload payload;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(best.payload, &payload).ok()) << best.payload;
  EXPECT_EQ(payload.id(), best.key);
  EXPECT_EQ(payload.webhook_id(), "wh-all");
  EXPECT_EQ(payload.type(), v1::WEBHOOK_EVENT_NEW_BEST);
  EXPECT_EQ(payload.job_id(), "a");
  EXPECT_EQ(payload.job_name(), "job a");
  EXPECT_EQ(payload.owner(), "carol");
  EXPECT_EQ(payload.labels().at("team"), "x");
  EXPECT_EQ(payload.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(payload.epochs_done(), 1);
  EXPECT_EQ(payload.event().seq(), 3);
  EXPECT_EQ(payload.event().epoch().best_epoch(), 1);
  EXPECT_EQ(payload.event().epoch().preview().values_size(), 0);  // left out
  const DeliveryRow& ended = (*rows)[0];
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ended.payload, &payload).ok());
  EXPECT_EQ(payload.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(payload.event().state().state(), v1::JOB_STATE_FAILED);

  auto listed = store_->ListWebhooks("alice");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].pending, 5);
  EXPECT_EQ((*listed)[1].pending, 1);

  // Pages: before a seq.
  auto page = store_->ListDeliveries("wh-all", (*rows)[1].seq, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, (*rows)[2].seq);

  // Deleting a webhook deletes its deliveries.
  ASSERT_TRUE(store_->DeleteWebhook("wh-all").ok());
  EXPECT_TRUE(store_->ListDeliveries("wh-all", 0, 100)->empty());
  EXPECT_EQ(Keys(store_.get(), "wh-label").size(), 1u);
}

TEST_P(StoreConformanceTest, DeliveriesAreClaimedOnceRetriedFencedAndEnded) {
  constexpr int64_t kMinute = int64_t{60} * 1'000'000'000;
  ASSERT_TRUE(store_->PutWebhook(Hook("wh-1", "alice", kEnded)).ok());
  for (const char* id : {"a", "b", "c"}) MustInsert(Row(id));
  for (int i = 0; i < 3; ++i) {
    JobRow r = MustClaim();
    r.state = v1::JOB_STATE_CANCELLED;
    ASSERT_TRUE(store_->AppendEvent(r, Event(2, v1::JOB_STATE_CANCELLED)).ok());
  }
  // Oldest first; url and secret come with them.
  auto first = store_->ClaimDeliveries(kMinute, 1, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  DeliveryRow a = (*first)[0];
  EXPECT_EQ(a.job_id, "a");
  EXPECT_EQ(a.attempts, 1);
  EXPECT_EQ(a.url, "http://127.0.0.1:9/wh-1");
  EXPECT_EQ(a.secret, "secret-of-wh-1");
  EXPECT_EQ(a.principal, "alice");
  // The caller's busy webhooks are passed over.
  auto skipped = store_->ClaimDeliveries(kMinute, 10, {"wh-1"});
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_TRUE(skipped->empty());
  EXPECT_GT(a.last_attempt_ns, 0);
  auto rest = store_->ClaimDeliveries(kMinute, 10, {});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);  // not "a" again: its lease holds
  DeliveryRow b = (*rest)[0], c = (*rest)[1];
  EXPECT_EQ(b.job_id, "b");
  EXPECT_TRUE(store_->ClaimDeliveries(kMinute, 10, {})->empty());

  // A failure is retried after retry_after_ns; an outcome of an older
  // claim is ignored.
  DeliveryOutcome failed;
  failed.seq = a.seq;
  failed.attempts = 1;
  failed.status = 503;
  failed.error = "HTTP 503: busy";
  failed.retry_after_ns = 0;
  failed.give_up_after_ns = 3600 * int64_t{1'000'000'000};
  auto state = store_->FinishDelivery(failed);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, v1::DELIVERY_STATE_PENDING);
  auto again = store_->ClaimDeliveries(kMinute, 10, {});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].seq, a.seq);
  EXPECT_EQ((*again)[0].attempts, 2);
  EXPECT_EQ((*again)[0].last_status, 503);
  EXPECT_EQ((*again)[0].last_error, "HTTP 503: busy");
  DeliveryOutcome stale = failed;  // attempt 1's answer, late
  stale.delivered = true;
  stale.status = 200;
  state = store_->FinishDelivery(stale);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::DELIVERY_STATE_UNSPECIFIED);  // fenced: nothing written
  auto rows = store_->ListDeliveries("wh-1", 0, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(rows->back().state, v1::DELIVERY_STATE_PENDING);  // unchanged
  EXPECT_EQ(rows->back().attempts, 2);

  // Later: not due yet.
  failed.attempts = 2;
  failed.retry_after_ns = kMinute;
  ASSERT_TRUE(store_->FinishDelivery(failed).ok());
  // Delivered; given up.
  DeliveryOutcome ok;
  ok.seq = b.seq;
  ok.attempts = b.attempts;
  ok.delivered = true;
  ok.status = 204;
  state = store_->FinishDelivery(ok);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::DELIVERY_STATE_DELIVERED);
  DeliveryOutcome give_up;
  give_up.seq = c.seq;
  give_up.attempts = c.attempts;
  give_up.error = "Connection refused";
  give_up.retry_after_ns = 0;
  give_up.give_up_after_ns = 0;
  state = store_->FinishDelivery(give_up);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::DELIVERY_STATE_FAILED);
  EXPECT_TRUE(store_->ClaimDeliveries(kMinute, 10, {})->empty());
  rows = store_->ListDeliveries("wh-1", 0, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2].state, v1::DELIVERY_STATE_PENDING);
  EXPECT_GT((*rows)[2].next_attempt_ns, (*rows)[2].last_attempt_ns);
  EXPECT_EQ((*rows)[1].state, v1::DELIVERY_STATE_DELIVERED);
  EXPECT_EQ((*rows)[1].last_status, 204);
  EXPECT_EQ((*rows)[0].state, v1::DELIVERY_STATE_FAILED);
  EXPECT_NE((*rows)[0].last_error.find("gave up after 1 attempts: Connection refused"), std::string::npos)
      << (*rows)[0].last_error;
  EXPECT_EQ((*store_->ListWebhooks("alice"))[0].pending, 1);

  // A claim whose lease expired is claimed again, as a new attempt.
  MustInsert(Row("d"));
  JobRow d = MustClaim();
  d.state = v1::JOB_STATE_CANCELLED;
  ASSERT_TRUE(store_->AppendEvent(d, Event(2, v1::JOB_STATE_CANCELLED)).ok());
  auto short_lease = store_->ClaimDeliveries(/*lease_ns=*/1, 10, {});
  ASSERT_TRUE(short_lease.ok());
  ASSERT_EQ(short_lease->size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto retaken = store_->ClaimDeliveries(kMinute, 10, {});
  ASSERT_TRUE(retaken.ok());
  ASSERT_EQ(retaken->size(), 1u);
  EXPECT_EQ((*retaken)[0].seq, (*short_lease)[0].seq);
  EXPECT_EQ((*retaken)[0].attempts, 2);

  // An exclusive store's restart frees every claim made before it.
  ASSERT_TRUE(store_->ExpireAllLeases().ok());
  auto after_restart = store_->ClaimDeliveries(kMinute, 10, {});
  ASSERT_TRUE(after_restart.ok());
  EXPECT_EQ(after_restart->size(), store_->Shared() ? 0u : 1u);

  // A deleted webhook's outcome is dropped.
  ASSERT_TRUE(store_->DeleteWebhook("wh-1").ok());
  ok.seq = (*retaken)[0].seq;
  ok.attempts = 2;
  state = store_->FinishDelivery(ok);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::DELIVERY_STATE_UNSPECIFIED);
}

// --- studies ---

constexpr int64_t kStudyMinute = int64_t{60} * 1'000'000'000;

// A study as CreateStudy would insert it (with a trial, which the store
// never keeps).
StudyRow NewStudy(const std::string& id, const std::string& owner = "alice") {
  StudyRow row;
  v1::Study& s = row.study;
  s.set_id(id);
  s.set_name("study " + id);
  s.mutable_spec()->mutable_base()->set_epochs(9);
  s.mutable_spec()->set_algorithm("asha");
  s.set_state(v1::JOB_STATE_RUNNING);
  (*s.mutable_labels())["team"] = "x";
  s.set_owner(owner);
  s.mutable_create_time()->set_seconds(1700);
  s.add_trials()->set_number(1);
  return row;
}

std::vector<std::string> StudyIds(const StatusOr<std::vector<StudyRow>>& rows) {
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<std::string> ids;
  if (rows.ok()) {
    for (const StudyRow& r : *rows) ids.push_back(r.study.id());
  }
  return ids;
}

// Claims the next study, which must be `id`.
StudyRow MustClaimStudy(Store* store, const std::string& id, const std::string& holder = "r1",
                        int64_t lease_ns = kStudyMinute,
                        const std::vector<std::string>& skip = {}) {
  auto c = store->ClaimStudy(holder, lease_ns, skip);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c.ok() && c->has_value()) << "no study to claim, expected " << id;
  if (!c.ok() || !c->has_value()) return StudyRow{};
  EXPECT_EQ((*c)->study.id(), id);
  return **c;
}

// Whether there is a study to claim (nothing is claimed when there is not).
bool NothingToClaim(Store* store) {
  auto c = store->ClaimStudy("r-probe", kStudyMinute, {});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (c.ok() && c->has_value()) ADD_FAILURE() << "claimed " << (*c)->study.id();
  return c.ok() && !c->has_value();
}

TEST_P(StoreConformanceTest, StudiesAreInsertedReadAndListedNewestFirst) {
  auto a = store_->InsertStudy(NewStudy("st-a", "alice"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->study.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(a->study.trials_size(), 0);  // never kept
  EXPECT_EQ(a->lease, 0);
  EXPECT_EQ(a->holder, "");
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-b", "bob")).ok());
  auto c = store_->InsertStudy(NewStudy("st-c", "alice"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_GT(c->index, a->index);
  EXPECT_EQ(store_->InsertStudy(NewStudy("st-a", "carol")).status().code(),
            StatusCode::kAlreadyExists);

  auto got = store_->GetStudy("st-a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->index, a->index);
  EXPECT_EQ(got->study.name(), "study st-a");
  EXPECT_EQ(got->study.owner(), "alice");  // not the refused duplicate's
  EXPECT_EQ(got->study.spec().base().epochs(), 9);
  EXPECT_EQ(got->study.spec().algorithm(), "asha");
  EXPECT_EQ(got->study.labels().at("team"), "x");
  EXPECT_EQ(got->study.create_time().seconds(), 1700);
  EXPECT_EQ(got->study.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(got->study.trials_size(), 0);
  EXPECT_EQ(got->lease, 0);
  const Status unknown = store_->GetStudy("st-zzz").status();
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("st-zzz"), std::string::npos) << unknown.ToString();

  EXPECT_EQ(StudyIds(store_->ListStudies({})), (std::vector<std::string>{"st-c", "st-b", "st-a"}));
  StudyQuery page;
  page.limit = 2;
  EXPECT_EQ(StudyIds(store_->ListStudies(page)), (std::vector<std::string>{"st-c", "st-b"}));
  page.before_index = (*store_->GetStudy("st-b")).index;
  EXPECT_EQ(StudyIds(store_->ListStudies(page)), (std::vector<std::string>{"st-a"}));
  StudyQuery alices;
  alices.owner = "alice";
  EXPECT_EQ(StudyIds(store_->ListStudies(alices)), (std::vector<std::string>{"st-c", "st-a"}));
  alices.before_index = c->index;
  EXPECT_EQ(StudyIds(store_->ListStudies(alices)), (std::vector<std::string>{"st-a"}));
  alices.owner = "nobody";
  EXPECT_TRUE(StudyIds(store_->ListStudies(alices)).empty());
  auto listed = store_->ListStudies({});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[2].study.labels().at("team"), "x");
  EXPECT_EQ((*listed)[2].study.trials_size(), 0);
}

TEST_P(StoreConformanceTest, InsertStudyBoundsTheRunningStudies) {
  for (int i = 0; i < kMaxRunningStudies; ++i) {
    ASSERT_TRUE(store_->InsertStudy(NewStudy("st-" + std::to_string(i))).ok()) << i;
  }
  const Status over = store_->InsertStudy(NewStudy("st-over")).status();
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted) << over.ToString();
  EXPECT_TRUE(IsQuotaRefusal(over)) << over.ToString();  // an answer, not trouble
  EXPECT_NE(over.message().find(std::to_string(kMaxRunningStudies)), std::string::npos)
      << over.ToString();
  EXPECT_EQ(store_->GetStudy("st-over").status().code(), StatusCode::kNotFound);
  // An ended study does not count.
  ASSERT_TRUE(store_->EndStudy("st-7", v1::JOB_STATE_CANCELLED, "", 5).ok());
  EXPECT_TRUE(store_->InsertStudy(NewStudy("st-over")).ok());
  EXPECT_EQ(store_->InsertStudy(NewStudy("st-over2")).status().code(),
            StatusCode::kResourceExhausted);
}

TEST_P(StoreConformanceTest, ClaimStudyTakesTheOldestExpiredAndPassesOverTheSkipped) {
  for (const char* id : {"st-a", "st-b", "st-c"}) ASSERT_TRUE(store_->InsertStudy(NewStudy(id)).ok());
  const int64_t before = NowNs();
  StudyRow a = MustClaimStudy(store_.get(), "st-a", "r1");
  EXPECT_EQ(a.lease, 1);
  EXPECT_EQ(a.holder, "r1");
  EXPECT_EQ(a.study.name(), "study st-a");
  // The store's clock: PostgreSQL's may differ from this process's a little.
  EXPECT_GT(a.lease_expires_ns, before + kStudyMinute / 2);
  auto stored = store_->GetStudy("st-a");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->lease, 1);
  EXPECT_EQ(stored->holder, "r1");
  EXPECT_EQ(stored->lease_expires_ns, a.lease_expires_ns);
  // The caller's own studies are passed over.
  MustClaimStudy(store_.get(), "st-c", "r1", kStudyMinute, {"st-b"});
  MustClaimStudy(store_.get(), "st-b", "r2");
  EXPECT_TRUE(NothingToClaim(store_.get()));  // every lease holds

  // An expired lease is claimed again, by whoever asks.
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-d")).ok());
  StudyRow d = MustClaimStudy(store_.get(), "st-d", "r1", /*lease_ns=*/1);
  EXPECT_EQ(d.lease, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  StudyRow d2 = MustClaimStudy(store_.get(), "st-d", "r2");
  EXPECT_EQ(d2.lease, 2);
  EXPECT_EQ(d2.holder, "r2");
  EXPECT_TRUE(NothingToClaim(store_.get()));

  // An ended study is never claimed, expired or not.
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-e")).ok());
  ASSERT_TRUE(store_->EndStudy("st-e", v1::JOB_STATE_CANCELLED, "", 5).ok());
  EXPECT_TRUE(NothingToClaim(store_.get()));

  // An exclusive store's restart frees every claim made before it.
  ASSERT_TRUE(store_->ExpireAllLeases().ok());
  auto after_restart = store_->ClaimStudy("r3", kStudyMinute, {});
  ASSERT_TRUE(after_restart.ok()) << after_restart.status().ToString();
  if (store_->Shared()) {
    EXPECT_FALSE(after_restart->has_value());
  } else {
    ASSERT_TRUE(after_restart->has_value());
    EXPECT_EQ((*after_restart)->study.id(), "st-a");  // the oldest first
    EXPECT_EQ((*after_restart)->lease, 2);
  }
}

TEST_P(StoreConformanceTest, StudyWritesAreFencedByTheLease) {
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-a")).ok());
  StudyRow first = MustClaimStudy(store_.get(), "st-a", "r1", /*lease_ns=*/1);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  StudyRow second = MustClaimStudy(store_.get(), "st-a", "r2", /*lease_ns=*/1);
  ASSERT_EQ(second.lease, first.lease + 1);

  // The first holder is fenced out: nothing it writes lands.
  const Status renew = store_->RenewStudy("st-a", first.lease, kStudyMinute);
  EXPECT_EQ(renew.code(), StatusCode::kFailedPrecondition) << renew.ToString();
  EXPECT_NE(renew.message().find("st-a"), std::string::npos) << renew.ToString();
  StudyRow stale = first;
  stale.study.set_error("stale");
  stale.study.mutable_summary()->set_trials(99);
  const Status update = store_->UpdateStudy(stale);
  EXPECT_EQ(update.code(), StatusCode::kFailedPrecondition) << update.ToString();
  auto got = store_->GetStudy("st-a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->study.error(), "");
  EXPECT_EQ(got->study.summary().trials(), 0);
  EXPECT_EQ(got->lease, second.lease);
  EXPECT_EQ(got->holder, "r2");

  // The holder renews its (expired, untaken) lease: no one else claims it.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(store_->RenewStudy("st-a", second.lease, kStudyMinute).ok());
  EXPECT_TRUE(NothingToClaim(store_.get()));
  EXPECT_GT(store_->GetStudy("st-a")->lease_expires_ns, second.lease_expires_ns);

  // UpdateStudy stores state, error, end_time and summary; nothing else.
  StudyRow progress = second;
  progress.study.mutable_summary()->set_trials(3);
  progress.study.mutable_summary()->set_best_trial(2);
  progress.study.mutable_summary()->set_best_objective(0.25);
  progress.study.set_name("renamed");  // not the update's to change
  progress.study.add_trials()->set_number(7);
  ASSERT_TRUE(store_->UpdateStudy(progress).ok());
  got = store_->GetStudy("st-a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->study.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(got->study.summary().trials(), 3);
  EXPECT_EQ(got->study.summary().best_objective(), 0.25);
  EXPECT_EQ(got->study.name(), "study st-a");
  EXPECT_EQ(got->study.trials_size(), 0);
  EXPECT_EQ(got->lease, second.lease);  // an update takes nothing over

  StudyRow done = progress;
  done.study.set_state(v1::JOB_STATE_SUCCEEDED);
  done.study.set_error("");
  done.study.mutable_end_time()->set_seconds(4242);
  done.study.mutable_summary()->set_best_job_id("j-best");
  ASSERT_TRUE(store_->UpdateStudy(done).ok());
  got = store_->GetStudy("st-a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->study.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(got->study.end_time().seconds(), 4242);
  EXPECT_EQ(got->study.summary().best_job_id(), "j-best");
  EXPECT_EQ(StudyIds(store_->ListStudies({})), (std::vector<std::string>{"st-a"}));
  EXPECT_EQ((*store_->ListStudies({}))[0].study.state(), v1::JOB_STATE_SUCCEEDED);

  // An ended study takes no more writes, even from its holder.
  done.study.set_state(v1::JOB_STATE_FAILED);
  const Status after_end = store_->UpdateStudy(done);
  EXPECT_EQ(after_end.code(), StatusCode::kFailedPrecondition) << after_end.ToString();
  EXPECT_EQ(store_->RenewStudy("st-a", second.lease, kStudyMinute).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetStudy("st-a")->study.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(NothingToClaim(store_.get()));

  // Unknown studies.
  StudyRow ghost = NewStudy("st-ghost");
  EXPECT_EQ(store_->UpdateStudy(ghost).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RenewStudy("st-ghost", 1, kStudyMinute).code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, EndStudyFencesTheHolderAndRefusesAnEndedStudy) {
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-a")).ok());
  StudyRow held = MustClaimStudy(store_.get(), "st-a", "r1");
  auto ended = store_->EndStudy("st-a", v1::JOB_STATE_CANCELLED, "cancelled by alice",
                                int64_t{123} * 1'000'000'000 + 5);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->study.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(ended->study.error(), "cancelled by alice");
  EXPECT_EQ(ended->study.end_time().seconds(), 123);
  EXPECT_EQ(ended->study.end_time().nanos(), 5);
  EXPECT_EQ(ended->study.name(), "study st-a");
  EXPECT_EQ(ended->lease, held.lease + 1);
  auto got = store_->GetStudy("st-a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->study.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(got->study.error(), "cancelled by alice");
  EXPECT_EQ(got->lease, held.lease + 1);

  // The holder is fenced out.
  EXPECT_EQ(store_->RenewStudy("st-a", held.lease, kStudyMinute).code(),
            StatusCode::kFailedPrecondition);
  StudyRow late = held;
  late.study.set_state(v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(store_->UpdateStudy(late).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetStudy("st-a")->study.state(), v1::JOB_STATE_CANCELLED);

  // An ended study is not ended again; the refusal names its end.
  const Status again = store_->EndStudy("st-a", v1::JOB_STATE_FAILED, "x", 7).status();
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  EXPECT_NE(again.message().find("CANCELLED"), std::string::npos) << again.ToString();
  EXPECT_EQ(store_->GetStudy("st-a")->study.error(), "cancelled by alice");
  EXPECT_EQ(store_->EndStudy("st-ghost", v1::JOB_STATE_FAILED, "", 7).status().code(),
            StatusCode::kNotFound);

  // A study never claimed is ended too.
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-b")).ok());
  auto b = store_->EndStudy("st-b", v1::JOB_STATE_FAILED, "its spec was refused", 9);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->lease, 1);
  EXPECT_TRUE(NothingToClaim(store_.get()));
}

TEST_P(StoreConformanceTest, DeleteStudyRemovesOnlyEndedStudies) {
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-a")).ok());
  ASSERT_TRUE(store_->InsertStudy(NewStudy("st-b")).ok());
  const Status running = store_->DeleteStudy("st-a");
  EXPECT_EQ(running.code(), StatusCode::kFailedPrecondition) << running.ToString();
  EXPECT_NE(running.message().find("RUNNING"), std::string::npos) << running.ToString();
  EXPECT_TRUE(store_->GetStudy("st-a").ok());
  ASSERT_TRUE(store_->EndStudy("st-a", v1::JOB_STATE_CANCELLED, "", 5).ok());
  ASSERT_TRUE(store_->DeleteStudy("st-a").ok());
  EXPECT_EQ(store_->GetStudy("st-a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteStudy("st-a").code(), StatusCode::kNotFound);
  EXPECT_EQ(StudyIds(store_->ListStudies({})), (std::vector<std::string>{"st-b"}));
  // Its id may be used again.
  EXPECT_TRUE(store_->InsertStudy(NewStudy("st-a")).ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, StoreConformanceTest,
    ::testing::Values(StoreFactory{"sqlite",
                                   [](const std::string& dir) -> std::unique_ptr<Store> {
                                     auto s = SqliteStore::Open(dir);
                                     EXPECT_TRUE(s.ok()) << s.status().ToString();
                                     return s.ok() ? std::move(s).value() : nullptr;
                                   }},
                      StoreFactory{"memory",
                                   [](const std::string&) -> std::unique_ptr<Store> {
                                     return std::make_unique<MemoryStore>();
                                   }},
                      StoreFactory{"postgresql", NewPgStore},
                      // The row cache keeps every contract of the store it wraps.
                      StoreFactory{"cached_sqlite",
                                   [](const std::string& dir) -> std::unique_ptr<Store> {
                                     auto s = SqliteStore::Open(dir);
                                     EXPECT_TRUE(s.ok()) << s.status().ToString();
                                     if (!s.ok()) return nullptr;
                                     return std::make_unique<CachedStore>(std::move(s).value());
                                   }},
                      StoreFactory{"cached_memory",
                                   [](const std::string&) -> std::unique_ptr<Store> {
                                     return std::make_unique<CachedStore>(
                                         std::make_unique<MemoryStore>());
                                   }},
                      // Shared: passed through uncached.
                      StoreFactory{"cached_postgresql",
                                   [](const std::string& dir) -> std::unique_ptr<Store> {
                                     auto pg = NewPgStore(dir);
                                     if (pg == nullptr) return nullptr;
                                     return std::make_unique<CachedStore>(std::move(pg));
                                   }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// A connection of the test's own to a PostgreSQL database, standing in for
// another replica in the middle of a transaction.
class RawPg {
 public:
  explicit RawPg(const std::string& dsn) : pg_(PQconnectdb(dsn.c_str())) {
    EXPECT_EQ(PQstatus(pg_), CONNECTION_OK) << PQerrorMessage(pg_);
  }
  ~RawPg() { PQfinish(pg_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;
  // Runs `sql`; the first column of the first row ("" if none).
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(pg_);
    std::string out = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return out;
  }

 private:
  PGconn* pg_;
};

// The blob-fencing race in the PostgreSQL store: a stale holder's blob write
// or delete that runs while another replica's claim of the job is in flight
// (the claim holds the job's row, not yet committed) must wait for the claim
// and then be refused; neither may land after the takeover. Deterministic:
// the claim commits only once the write waits for its lock (or has ended
// without waiting, which is the bug).
TEST(PgStoreTest, ABlobWriteOrDeleteRacingATakeoverIsFencedOut) {
  const std::string dsn = NewPgDatabase();
  auto store = OpenPgStore(dsn);
  ASSERT_NE(store, nullptr);
  JobRow row;
  row.id = "a";
  row.request_fingerprint = "fp";
  row.spec.set_epochs(7);
  v1::JobEvent first;
  first.set_seq(1);
  ASSERT_TRUE(store->InsertJob(row, first).ok());
  auto claimed = store->ClaimNext("zombie", -1, int64_t{60} * 1'000'000'000);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  int64_t lease = (*claimed)->lease;
  ASSERT_TRUE(store->PutBlob({"a", BlobKind::kCheckpoint, 5, lease}, "mine").ok());

  RawPg claim(dsn), watch(dsn);
  // Runs `op` (the stale holder's write) while a claim holds the job's row;
  // the claim commits once `op` waits for the row (or `op` ended: it did
  // not wait). `op`'s status.
  auto race = [&](const std::function<Status()>& op) {
    claim.Exec("BEGIN");
    claim.Exec("SELECT lease FROM jobs WHERE id = 'a' FOR UPDATE");
    std::promise<Status> done;
    auto result = done.get_future();
    std::thread writer([&] { done.set_value(op()); });
    bool waited = false;
    for (int i = 0; i < 1000 && !waited; ++i) {
      if (result.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready) break;
      waited = watch.Exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                          " AND datname = current_database()") != "0";
    }
    claim.Exec("UPDATE jobs SET lease = lease + 1, owner = 'other' WHERE id = 'a'");
    claim.Exec("COMMIT");
    writer.join();
    ++lease;
    return result.get();
  };
  const Status put = race([&] {
    return store->PutBlob({"a", BlobKind::kCheckpoint, 6, lease}, "stale");
  });
  EXPECT_EQ(put.code(), StatusCode::kFailedPrecondition) << put.ToString();
  EXPECT_EQ(*store->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{5}));
  const Status del = race([&] {
    return store->DeleteBlob({"a", BlobKind::kCheckpoint, 5, lease});
  });
  EXPECT_EQ(del.code(), StatusCode::kFailedPrecondition) << del.ToString();
  EXPECT_EQ(*store->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{5}));
  // The holder of the new lease writes and deletes as before.
  EXPECT_TRUE(store->PutBlob({"a", BlobKind::kCheckpoint, 6, lease}, "new").ok());
  EXPECT_TRUE(store->DeleteBlob({"a", BlobKind::kCheckpoint, 5, lease}).ok());
  EXPECT_EQ(*store->ListBlobs("a", BlobKind::kCheckpoint), (std::vector<int64_t>{6}));
}

// What migration 6 -> 7 added (the principals): dropping it turns a new
// database back into version 6 (less the sessions' principal column, which
// the tests below drop with the sessions, or drop themselves).
// Runs `sql` on the database of the SQLite store in `dir` (to turn a new
// database back into an older schema).
::testing::AssertionResult RunSql(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open((dir + "/gantry.db").c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return ::testing::AssertionFailure() << "cannot open " << dir << "/gantry.db";
  }
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return ::testing::AssertionFailure() << why;
  return ::testing::AssertionSuccess();
}

// What migration 9 -> 10 added (studies): dropping it turns a new database
// back into version 9.
const std::string kUndoSchema10 = "DROP TABLE studies; ";
// What migration 8 -> 9 added (webhooks): dropping it turns a new database
// back into version 8.
const std::string kUndoSchema9 = kUndoSchema10 + "DROP TABLE deliveries; DROP TABLE webhooks; ";
// What migration 7 -> 8 added (priorities): dropping it turns a new
// database back into version 7.
const std::string kUndoSchema8 = kUndoSchema9 +
    "ALTER TABLE jobs DROP COLUMN priority; ALTER TABLE jobs DROP COLUMN queued_ns; ";
const std::string kUndoSchema7 = kUndoSchema8 +
    "DROP TABLE audit; DROP INDEX jobs_created_by; ALTER TABLE jobs DROP COLUMN created_by; ";

// A database of schema version 9 (before studies) is migrated: its jobs
// and webhooks stay, and studies are stored, claimed and survive reopening.
TEST(SqliteStoreTest, MigratesSchema9ToStudies) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v9-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.name = "from v9";
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
    WebhookRow hook;
    hook.id = "wh-old";
    hook.principal = "alice";
    hook.url = "https://hooks.example.test/";
    hook.events = 1u << v1::WEBHOOK_EVENT_JOB_ENDED;
    ASSERT_TRUE((*s)->PutWebhook(hook).ok());
  }
  ASSERT_TRUE(RunSql(dir, kUndoSchema10 + "PRAGMA user_version = 9;"));
  StudyRow study;
  study.study.set_id("st-new");
  study.study.set_owner("alice");
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->GetJob("old", ReadPoints::kNo)->name, "from v9");
    EXPECT_TRUE((*s)->GetWebhook("wh-old").ok());
    EXPECT_EQ((*s)->GetStudy("st-new").status().code(), StatusCode::kNotFound);
    auto inserted = (*s)->InsertStudy(study);
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
    EXPECT_EQ(inserted->index, 1);
    auto claimed = (*s)->ClaimStudy("r1", int64_t{60} * 1'000'000'000, {});
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto got = (*s)->GetStudy("st-new");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->study.owner(), "alice");
  EXPECT_EQ(got->lease, 1);
  EXPECT_EQ(got->holder, "r1");
  s->reset();
  fs::remove_all(dir);
}

// A database of schema version 8 (before webhooks) is migrated: its jobs
// stay, and a webhook stored then gets the deliveries of their events.
TEST(SqliteStoreTest, MigratesSchema8ToWebhooks) {
  const std::string dir = (fs::temp_directory_path() / ("gantry-mig8-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.name = "from v8";
    r.create_ns = 1234;
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  }
  ASSERT_TRUE(RunSql(dir, kUndoSchema9 + "PRAGMA user_version = 8;"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  WebhookRow hook;
  hook.id = "wh-after";
  hook.principal = "alice";
  hook.url = "https://hooks.example.test/";
  hook.secret = "a-secret-of-16-chars";
  hook.events = 1u << v1::WEBHOOK_EVENT_JOB_ENDED;
  ASSERT_TRUE((*s)->PutWebhook(hook).ok());
  auto claimed = (*s)->ClaimNext("o", -1, int64_t{60} * 1'000'000'000);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  JobRow row = **claimed;
  row.state = v1::JOB_STATE_CANCELLED;
  ASSERT_TRUE((*s)->AppendEvent(row, test::StateEvent(2, v1::JOB_STATE_CANCELLED)).ok());
  auto log = (*s)->ListDeliveries("wh-after", 0, 10);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].key, "wh-after/old/2/WEBHOOK_EVENT_JOB_ENDED");
  EXPECT_NE((*log)[0].payload.find("\"jobName\":\"from v8\""), std::string::npos) << (*log)[0].payload;
  s->reset();
  fs::remove_all(dir);
}

// A database of schema version 7 (before priorities) is migrated: its jobs
// are NORMAL, queued since they were created.
TEST(SqliteStoreTest, MigratesSchema7ToPriorities) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v7-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.create_ns = 1234;
    r.priority = v1::PRIORITY_HIGH;  // dropped with the column below
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  }
  ASSERT_TRUE(RunSql(dir, kUndoSchema8 + "PRAGMA user_version = 7;"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto old = (*s)->GetJob("old", ReadPoints::kNo);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->priority, v1::PRIORITY_NORMAL);
  EXPECT_EQ(old->queued_ns, 1234);
  s->reset();
  fs::remove_all(dir);
}

// A database of schema version 6 (before principals) is migrated: its jobs
// have no owner, its sessions stay with no principal, and new jobs,
// sessions and audit entries carry theirs.
TEST(SqliteStoreTest, MigratesSchema6ToPrincipals) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v6-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  SessionRow old_session;
  old_session.id_hash = Sha256Hex("old session");
  old_session.expires_ns = 70;
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.spec.set_epochs(3);
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
    ASSERT_TRUE((*s)->PutSession(old_session).ok());
  }
  ASSERT_TRUE(RunSql(dir, kUndoSchema7 + "ALTER TABLE sessions DROP COLUMN principal;"
                     " PRAGMA user_version = 6;"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto old = (*s)->GetJob("old", ReadPoints::kNo);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->spec.epochs(), 3);
  EXPECT_EQ(old->created_by, "");
  auto session = (*s)->GetSession(old_session.id_hash);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(session->expires_ns, 70);
  EXPECT_EQ(session->principal, "");
  JobRow r;
  r.id = "new";
  r.created_by = "alice";
  v1::JobEvent ev;
  ev.set_seq(1);
  ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  ListQuery q;
  q.created_by = "alice";
  auto listed = (*s)->ListJobs(q);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, "new");
  AuditRow a;
  a.principal = "alice";
  a.action = "CreateJob";
  auto seq = (*s)->AppendAudit(a, 10);
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 1);
  s->reset();
  fs::remove_all(dir);
}

// A database of schema version 3 (before labels) is migrated: its jobs
// stay, without labels, and new jobs carry theirs.
TEST(SqliteStoreTest, MigratesSchema3ToLabels) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v3-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.name = "from v3";
    r.request_id = "req-old";
    r.spec.set_epochs(3);
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  }
  // Version 3 is version 8 without the priorities (7 -> 8), the principals
  // (6 -> 7), the labels table (migration 3 -> 4 only adds it and its
  // index), the tables (4 -> 5) and the sessions (5 -> 6).
  ASSERT_TRUE(RunSql(dir, kUndoSchema7 + "DROP TABLE job_labels; DROP INDEX jobs_table_id;"
                     " ALTER TABLE jobs DROP COLUMN table_id; DROP TABLE tables;"
                     " DROP TABLE sessions; PRAGMA user_version = 3;"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto old = (*s)->GetJob("old", ReadPoints::kNo);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->name, "from v3");
  EXPECT_TRUE(old->labels.empty());
  EXPECT_TRUE((*s)->FindRequest("req-old")->has_value());
  JobRow r;
  r.id = "new";
  r.labels = {{"sweep", "s1"}};
  v1::JobEvent ev;
  ev.set_seq(1);
  ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  ListQuery q;
  q.labels = {{"sweep", "s1"}};
  auto listed = (*s)->ListJobs(q);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, "new");
  EXPECT_EQ((*listed)[0].labels.at("sweep"), "s1");
  EXPECT_EQ((*s)->ListJobs({})->size(), 2u);
  s->reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/gantry.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), kSchemaVersion);
  EXPECT_EQ(kSchemaVersion, 10);
  sqlite3_finalize(st);
  sqlite3_close(db);
  fs::remove_all(dir);
}

// A database of schema version 4 (before tables) is migrated: its jobs
// stay and use no table, and tables can be stored and used.
TEST(SqliteStoreTest, MigratesSchema4ToTables) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v4-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.spec.set_epochs(3);
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  }
  // Version 4 is version 8 without the priorities, the principals, the
  // tables and the jobs' table_id, and without the sessions.
  ASSERT_TRUE(RunSql(dir, kUndoSchema7 + "DROP INDEX jobs_table_id;"
                     " ALTER TABLE jobs DROP COLUMN table_id; DROP TABLE tables; DROP TABLE sessions;"
                     " PRAGMA user_version = 4;"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto old = (*s)->GetJob("old", ReadPoints::kNo);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->spec.epochs(), 3);
  const std::string bytes = "x\n1\n2\n";
  TableRow t;
  t.id = Sha256Hex(bytes);
  t.name = "t.csv";
  t.size_bytes = static_cast<int64_t>(bytes.size());
  ASSERT_TRUE((*s)->PutTable(t, bytes).ok());
  JobRow r;
  r.id = "new";
  r.spec.mutable_dataset()->mutable_table()->set_table_id(t.id);
  v1::JobEvent ev;
  ev.set_seq(1);
  ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  EXPECT_EQ((*s)->DeleteTable(t.id).code(), StatusCode::kFailedPrecondition);
  s->reset();
  fs::remove_all(dir);
}

// A database of schema version 5 (before sessions) is migrated: its jobs
// and tables stay, and sessions can be stored, and survive reopening.
TEST(SqliteStoreTest, MigratesSchema5ToSessions) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-v5-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "old";
    r.spec.set_epochs(3);
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
  }
  // Version 5 is version 8 without the priorities, the principals and the sessions.
  ASSERT_TRUE(RunSql(dir, kUndoSchema7 + "DROP TABLE sessions; PRAGMA user_version = 5;"));
  SessionRow row;
  row.id_hash = Sha256Hex("session");
  row.create_ns = 5;
  row.expires_ns = 50;
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->GetJob("old", ReadPoints::kNo)->spec.epochs(), 3);
    EXPECT_EQ((*s)->GetSession(row.id_hash).status().code(), StatusCode::kNotFound);
    ASSERT_TRUE((*s)->PutSession(row).ok());
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto got = (*s)->GetSession(row.id_hash);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->expires_ns, 50);
  s->reset();
  fs::remove_all(dir);
}

// Stored table bytes that no longer hash to their id are DATA_LOSS, not
// someone else's table.
TEST(SqliteStoreTest, ACorruptedTableIsDataLoss) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-table-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  const std::string bytes = "x,y\n1,2\n3,4\n";
  const std::string id = Sha256Hex(bytes);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    TableRow t;
    t.id = id;
    t.name = "t.csv";
    t.size_bytes = static_cast<int64_t>(bytes.size());
    ASSERT_TRUE((*s)->PutTable(t, bytes).ok());
  }
  ASSERT_TRUE(RunSql(dir, "UPDATE tables SET bytes = CAST('x,y\n1,2\n3,5\n' AS BLOB)"));
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE((*s)->GetTable(id).ok());  // the row is readable; its bytes are not
  auto read = (*s)->ReadTableBytes(id);
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status().ToString();
  EXPECT_NE(read.status().message().find(id), std::string::npos) << read.status().message();
  s->reset();
  fs::remove_all(dir);
}

// The restart path: a study claimed by a gantryd that died (its lease
// unexpired) is claimed at once by the next one on the directory, after
// ExpireAllLeases, and what that one claims afterwards is held.
TEST(SqliteStoreTest, AReopenedStoreClaimsADeadHoldersStudiesAtOnce) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-studies-" + std::to_string(::getpid())))
          .string();
  fs::remove_all(dir);
  constexpr int64_t kHour = int64_t{3600} * 1'000'000'000;
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    for (const char* id : {"st-a", "st-b"}) {
      StudyRow row;
      row.study.set_id(id);
      ASSERT_TRUE((*s)->InsertStudy(row).ok());
    }
    auto claimed = (*s)->ClaimStudy("dead", kHour, {});
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    EXPECT_EQ((*claimed)->study.id(), "st-a");
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->ExpireAllLeases().ok());
  auto first = (*s)->ClaimStudy("alive", kHour, {});
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status().ToString();
  EXPECT_EQ((*first)->study.id(), "st-a");  // the dead one's, oldest first
  EXPECT_EQ((*first)->lease, 2);
  EXPECT_EQ((*first)->holder, "alive");
  auto second = (*s)->ClaimStudy("alive", kHour, {});
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->study.id(), "st-b");
  // This process's own claims hold.
  auto none = (*s)->ClaimStudy("alive", kHour, {});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // The dead holder is fenced out by the new claim.
  EXPECT_EQ((*s)->RenewStudy("st-a", 1, kHour).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*s)->RenewStudy("st-a", 2, kHour).ok());
  s->reset();
  fs::remove_all(dir);
}

// What only the SQLite store promises: it survives the process, and its
// directory is one gantryd's.
TEST(SqliteStoreTest, EverythingSurvivesReopening) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sqlite-reopen-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobRow r;
    r.id = "a";
    r.request_id = "req";
    r.spec.mutable_dataset()->set_kind(v1::DATASET_KIND_USER);
    r.spec.mutable_dataset()->mutable_points()->set_dim(1);
    r.spec.mutable_dataset()->mutable_points()->add_values(4.5f);
    v1::JobEvent ev;
    ev.set_seq(1);
    ASSERT_TRUE((*s)->InsertJob(r, ev).ok());
    ASSERT_TRUE((*s)->PutBlob({"a", BlobKind::kSnapshot, 2}, "weights").ok());
    // A second gantryd on the same directory is refused, naming the holder.
    auto second = SqliteStore::Open(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find("in use by another gantryd (pid " +
                                             std::to_string(::getpid())),
              std::string::npos)
        << second.status().message();
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto row = (*s)->GetJob("a", ReadPoints::kYes);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->spec.dataset().points().values(0), 4.5f);
  EXPECT_EQ(*(*s)->GetBlob({"a", BlobKind::kSnapshot, 2}), "weights");
  EXPECT_TRUE((*s)->FindRequest("req")->has_value());
  // The files are the server user's only.
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(dir + "/gantry.db").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // A corrupted blob is DATA_LOSS, not garbage.
  const std::string blob = (*s)->BlobPath({"a", BlobKind::kSnapshot, 2});
  {
    std::FILE* f = std::fopen(blob.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, -1, SEEK_END);
    std::fputc('!', f);
    std::fclose(f);
  }
  EXPECT_EQ((*s)->GetBlob({"a", BlobKind::kSnapshot, 2}).status().code(), StatusCode::kDataLoss);
  s->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gantry
