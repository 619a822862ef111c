// Scheduler over a MemoryStore: admission (Reserve and the queue-full
// message), the order of claims, memory admission with a blocked head, the
// concurrency limit, Poke and CapClaimable; drain in tests of its own
// (SchedulerDrainTest).
#include "server/jobs/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/store/memory_store.h"
#include "server/util/clock.h"
#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

using unit::End;
using unit::InsertQueued;
using unit::WaitUntil;

constexpr int64_t kHourNs = 3'600'000'000'000;

SchedulerOptions Options(int workers, int queued, int64_t max_memory = 0) {
  SchedulerOptions o;
  o.max_concurrent_jobs = workers;
  o.max_queued_jobs = queued;
  o.max_memory = max_memory;
  o.drain_grace_ms = 10'000;
  o.owner = "unit-test";
  o.lease_ns = kHourNs;  // a claimed job is never claimed again by expiry
  return o;
}

// The scheduler's RunFn: records each job it starts, holds it until the
// test releases it, then ends it SUCCEEDED in the store. (Two workers may
// call it in either order after claiming in order: the claims' order is
// CountingStore::claimed().)
class Runs {
 public:
  explicit Runs(Store* store) : store_(store) {}

  Scheduler::RunFn Fn() {
    return [this](const std::shared_ptr<ActiveJob>& job) { Run(job); };
  }
  void Release(const std::string& id) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_.insert(id);
    }
    cv_.notify_all();
  }
  void ReleaseAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      release_all_ = true;
    }
    cv_.notify_all();
  }
  std::vector<std::string> started() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  int running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
  }
  int peak() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }
  bool WaitStarted(size_t n) {
    return WaitUntil([&] { return started().size() >= n; });
  }

 private:
  void Run(const std::shared_ptr<ActiveJob>& job) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      started_.push_back(job->id);
      peak_ = std::max(peak_, ++running_);
      cv_.wait_for(lock, unit::kDeadline,
                   [&] { return release_all_ || released_.count(job->id) != 0; });
      --running_;
    }
    Status ended = End(store_, &job->row, v1::JOB_STATE_SUCCEEDED);
    EXPECT_TRUE(ended.ok()) << ended.ToString();
  }

  Store* const store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> started_;
  std::set<std::string> released_;
  bool release_all_ = false;
  int running_ = 0;
  int peak_ = 0;
};

v1::JobState StateOf(const Store& store, const std::string& id) {
  auto row = store.GetJob(id, ReadPoints::kNo);
  EXPECT_TRUE(row.ok()) << row.status().ToString();
  return row.ok() ? row->state : v1::JOB_STATE_UNSPECIFIED;
}

// How many more jobs Reserve admits now (reserves them all, then gives them
// back).
int Capacity(Scheduler& s) {
  int n = 0;
  while (n < 10'000 && s.Reserve().ok()) ++n;
  for (int i = 0; i < n; ++i) s.Unreserve();
  return n;
}

TEST(SchedulerTest, ReserveAdmitsTheQueuePlusIdleWorkersThenSaysHowManyWait) {
  MemoryStore store;
  Scheduler s(Options(/*workers=*/2, /*queued=*/3), &store, [](const auto&) {});
  // No job runs: both workers are idle and take two jobs at once.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.Reserve().ok()) << i;
  const Status full = s.Reserve();
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "the queue is full: 3 jobs are waiting (--max-queued-jobs 3)");

  s.Unreserve();  // the job was not stored
  EXPECT_TRUE(s.Reserve().ok());
  s.Added();  // stored: claimable now, still counted
  EXPECT_EQ(s.Reserve().code(), StatusCode::kResourceExhausted);
  s.Removed();  // a queued job was cancelled
  EXPECT_TRUE(s.Reserve().ok());
  EXPECT_EQ(s.Reserve().code(), StatusCode::kResourceExhausted);
}

TEST(SchedulerTest, SharedQueueFullMessageSaysTheLimitIsPerReplica) {
  MemoryStore store;
  SchedulerOptions o = Options(/*workers=*/1, /*queued=*/2);
  o.shared = true;
  Scheduler s(o, &store, [](const auto&) {});
  s.SetClaimable(3);  // queued jobs found at start
  const Status full = s.Reserve();
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(),
            "the queue is full: this replica counts 2 queued jobs waiting for a worker "
            "(--max-queued-jobs 2 applies per replica)");
}

TEST(SchedulerTest, CapClaimableLowersTheCountToTheStoresQueue) {
  MemoryStore store;
  Scheduler s(Options(/*workers=*/1, /*queued=*/10), &store, [](const auto&) {});
  s.SetClaimable(8);
  EXPECT_EQ(Capacity(s), 3);  // 10 + 1 idle worker - 8
  s.CapClaimable(20);         // never raises it
  EXPECT_EQ(Capacity(s), 3);
  s.CapClaimable(2);  // other replicas claimed six of them
  EXPECT_EQ(Capacity(s), 9);
  s.CapClaimable(-1);
  EXPECT_EQ(Capacity(s), 11);
}

TEST(SchedulerTest, ClaimsTheInterruptedJobFirstThenTheOldestQueued) {
  unit::CountingStore store;
  Runs runs(&store);
  InsertQueued(&store, "a");
  JobRow b = InsertQueued(&store, "b");
  InsertQueued(&store, "c");
  // b was running when the last process stopped: RUNNING, its lease expired.
  ASSERT_TRUE(
      unit::Append(&store, &b, unit::StateEvent(0, v1::JOB_STATE_RUNNING), v1::JOB_STATE_RUNNING)
          .ok());
  ASSERT_TRUE(store.ExpireAllLeases().ok());
  runs.ReleaseAll();
  Scheduler s(Options(/*workers=*/1, /*queued=*/10), &store, runs.Fn());
  s.SetClaimable(3);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(3));
  EXPECT_EQ(runs.started(), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(store.claimed(), runs.started());
  ASSERT_TRUE(WaitUntil([&] { return StateOf(store, "c") == v1::JOB_STATE_SUCCEEDED; }));
}

TEST(SchedulerTest, RunsAtMostMaxConcurrentJobsAndCountsOnlyWaitingOnesAsQueued) {
  unit::CountingStore store;
  Runs runs(&store);
  for (const char* id : {"j1", "j2", "j3", "j4", "j5"}) InsertQueued(&store, id);
  Scheduler s(Options(/*workers=*/2, /*queued=*/3), &store, runs.Fn());
  s.SetClaimable(5);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(2));
  // Give a third worker the chance to claim j3 (there must be none).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store.claimed(), (std::vector<std::string>{"j1", "j2"}));
  ASSERT_NE(s.Running("j1"), nullptr);
  EXPECT_EQ(s.Running("j1")->row.state, v1::JOB_STATE_RUNNING);
  EXPECT_EQ(s.Running("j3"), nullptr);
  EXPECT_EQ(s.AllRunning().size(), 2u);
  EXPECT_EQ(StateOf(store, "j3"), v1::JOB_STATE_QUEUED);
  // Three wait, no worker is idle: the queue is full.
  const Status full = s.Reserve();
  EXPECT_EQ(full.message(), "the queue is full: 3 jobs are waiting (--max-queued-jobs 3)");

  runs.Release("j1");
  ASSERT_TRUE(runs.WaitStarted(3));
  EXPECT_EQ(store.claimed()[2], "j3");
  ASSERT_TRUE(WaitUntil([&] { return s.Running("j1") == nullptr; }));
  runs.ReleaseAll();
  ASSERT_TRUE(runs.WaitStarted(5));
  ASSERT_TRUE(WaitUntil([&] { return StateOf(store, "j5") == v1::JOB_STATE_SUCCEEDED; }));
  EXPECT_LE(runs.peak(), 2);
  std::printf("[ figures  ] 5 jobs on 2 workers: at most %d ran at once\n", runs.peak());
}

// Waits until Reserve shows that the next job waits for memory: no worker
// counts as idle then, so the queue admits `queued` minus the claimable.
bool WaitHeadBlocked(Scheduler& s, int expected_capacity) {
  return WaitUntil([&] { return Capacity(s) == expected_capacity; });
}

TEST(SchedulerTest, AJobThatDoesNotFitWaitsAndIsNotOvertaken) {
  unit::CountingStore store;
  Runs runs(&store);
  InsertQueued(&store, "a", 60);
  InsertQueued(&store, "b", 60);  // does not fit beside a within 100
  InsertQueued(&store, "c", 10);  // would fit, but b is first
  Scheduler s(Options(/*workers=*/2, /*queued=*/3, /*max_memory=*/100), &store, runs.Fn());
  s.SetClaimable(3);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(1));
  // b and c wait; the idle worker stops counting once it found b too large.
  ASSERT_TRUE(WaitHeadBlocked(s, 1)) << "capacity " << Capacity(s);
  EXPECT_EQ(runs.started(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(StateOf(store, "b"), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(StateOf(store, "c"), v1::JOB_STATE_QUEUED);

  runs.Release("a");  // its memory goes: b starts, and c fits beside it
  ASSERT_TRUE(runs.WaitStarted(3));
  EXPECT_EQ(store.claimed(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(runs.peak(), 2);
  runs.ReleaseAll();
  ASSERT_TRUE(WaitUntil([&] { return runs.running() == 0; }));
}

TEST(SchedulerTest, AJobLargerThanTheLimitRunsAlone) {
  unit::CountingStore store;
  Runs runs(&store);
  InsertQueued(&store, "big", 150);  // stored before the limit was lowered
  InsertQueued(&store, "small", 10);
  Scheduler s(Options(/*workers=*/2, /*queued=*/3, /*max_memory=*/100), &store, runs.Fn());
  s.SetClaimable(2);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(1));
  EXPECT_EQ(runs.started()[0], "big");
  ASSERT_TRUE(WaitHeadBlocked(s, 2));  // nothing fits beside it
  EXPECT_EQ(StateOf(store, "small"), v1::JOB_STATE_QUEUED);
  runs.Release("big");
  ASSERT_TRUE(runs.WaitStarted(2));
  EXPECT_EQ(runs.peak(), 1);
  runs.ReleaseAll();
  ASSERT_TRUE(WaitUntil([&] { return runs.running() == 0; }));
}

TEST(SchedulerTest, CancellingTheBlockedHeadLetsTheNextJobStart) {
  unit::CountingStore store;
  Runs runs(&store);
  InsertQueued(&store, "a", 60);
  JobRow b = InsertQueued(&store, "b", 60);
  InsertQueued(&store, "c", 10);
  Scheduler s(Options(/*workers=*/2, /*queued=*/3, /*max_memory=*/100), &store, runs.Fn());
  s.SetClaimable(3);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(1));
  ASSERT_TRUE(WaitHeadBlocked(s, 1));
  ASSERT_TRUE(End(&store, &b, v1::JOB_STATE_CANCELLED).ok());  // what a cancel stores
  s.Removed();
  ASSERT_TRUE(runs.WaitStarted(2));
  EXPECT_EQ(store.claimed(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(runs.running(), 2);
  runs.ReleaseAll();
  ASSERT_TRUE(WaitUntil([&] { return runs.running() == 0; }));
}

TEST(SchedulerTest, PokeClaimsAJobThisProcessDidNotAdd) {
  unit::CountingStore store;
  Runs runs(&store);
  runs.ReleaseAll();
  Scheduler s(Options(/*workers=*/1, /*queued=*/2), &store, runs.Fn());
  s.Start();
  InsertQueued(&store, "other");  // stored by another replica: not counted here
  s.Poke();
  ASSERT_TRUE(runs.WaitStarted(1));
  EXPECT_EQ(runs.started()[0], "other");
  ASSERT_TRUE(WaitUntil([&] { return StateOf(store, "other") == v1::JOB_STATE_SUCCEEDED; }));
  // A poke counts one claimable job until a claim finds nothing: then the
  // queue admits its limit plus the idle worker again.
  const int claims = store.claims();
  s.Poke();
  ASSERT_TRUE(WaitUntil([&] { return store.claims() > claims && Capacity(s) == 3; }))
      << "capacity " << Capacity(s);
}

// --- drain (Scheduler::Drain, its one stop token) ---

// Preemption: a job admitted when no worker is free asks the running job
// of the lowest claimed priority below its own to make room, once; jobs of
// its priority or above, and one already asked, are left alone.
TEST(SchedulerTest, AJobAdmittedWithNoFreeWorkerPreemptsTheLowestBelowIt) {
  MemoryStore store;
  Runs runs(&store);
  for (const auto& [id, priority] : {std::pair<const char*, int>{"low", v1::PRIORITY_LOW}, {"normal", v1::PRIORITY_NORMAL}}) {
    JobRow row;
    row.id = id;
    row.state = v1::JOB_STATE_QUEUED;
    row.priority = priority;
    row.create_ns = row.queued_ns = NowNs();
    ASSERT_TRUE(store.InsertJob(row, unit::StateEvent(1, v1::JOB_STATE_QUEUED)).ok());
  }
  SchedulerOptions options = Options(/*workers=*/2, /*queued=*/10);
  options.priority_aging_ns = 0;
  Scheduler s(options, &store, runs.Fn());
  s.SetClaimable(2);
  s.Start();
  ASSERT_TRUE(runs.WaitStarted(2));
  auto admit = [&](const std::string& id, int priority) {
    ASSERT_TRUE(s.Reserve().ok());
    s.Added(id, priority);
  };
  // A LOW arrival asks nobody; a NORMAL one asks the LOW job only.
  admit("l2", v1::PRIORITY_LOW);
  EXPECT_FALSE(s.Running("low")->preempt.load());
  admit("n2", v1::PRIORITY_NORMAL);
  EXPECT_TRUE(s.Running("low")->preempt.load());
  EXPECT_EQ(s.Running("low")->preempt_reason(), "preempted for job n2 (priority normal)");
  EXPECT_FALSE(s.Running("normal")->preempt.load());
  // A HIGH one asks the NORMAL job (LOW was asked already, and once only).
  admit("h1", v1::PRIORITY_HIGH);
  EXPECT_TRUE(s.Running("normal")->preempt.load());
  EXPECT_EQ(s.Running("normal")->preempt_reason(), "preempted for job h1 (priority high)");
  EXPECT_EQ(s.Running("low")->preempt_reason(), "preempted for job n2 (priority normal)");
  admit("h2", v1::PRIORITY_HIGH);  // none left to ask: nothing changes
  EXPECT_EQ(s.Running("normal")->preempt_reason(), "preempted for job h1 (priority high)");
  runs.ReleaseAll();
}

TEST(SchedulerDrainTest, RefusesNewJobsOnceDraining) {
  MemoryStore store;
  Scheduler s(Options(/*workers=*/1, /*queued=*/2), &store, [](const auto&) {});
  s.Start();
  const StopToken token = s.drain_token();  // a runner's, taken before
  EXPECT_FALSE(token.stop_requested());
  s.Drain();
  EXPECT_TRUE(s.draining());
  EXPECT_TRUE(token.stop_requested());
  const Status refused = s.Reserve();
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "the server is shutting down; no new jobs");
  s.Drain();  // idempotent
}

TEST(SchedulerDrainTest, WaitsForRunningJobsToEndTheirEpochAndClaimsNoMore) {
  MemoryStore store;
  InsertQueued(&store, "a");
  InsertQueued(&store, "b");
  unit::Gate started;
  std::atomic<bool> stopped_by_drain{false};
  StopToken drain;
  Scheduler s(Options(/*workers=*/1, /*queued=*/2), &store,
              [&](const std::shared_ptr<ActiveJob>& job) {
                started.Open();
                // The runner ends its epoch once it sees the drain (a checkpoint here).
                EXPECT_TRUE(WaitUntil([&] { return drain.stop_requested(); }));
                stopped_by_drain = job->stop.load();
              });
  drain = s.drain_token();
  s.SetClaimable(2);
  s.Start();
  ASSERT_TRUE(started.Wait());
  s.Drain();  // returns once the workers are joined
  EXPECT_FALSE(stopped_by_drain) << "the job ended within the grace: never stopped mid-epoch";
  EXPECT_EQ(s.AllRunning().size(), 0u);
  EXPECT_EQ(StateOf(store, "b"), v1::JOB_STATE_QUEUED) << "nothing is claimed while draining";
}

TEST(SchedulerDrainTest, StopsJobsThatOutlastTheGrace) {
  MemoryStore store;
  InsertQueued(&store, "slow");
  unit::Gate started;
  std::atomic<bool> stopped{false};
  SchedulerOptions o = Options(/*workers=*/1, /*queued=*/2);
  o.drain_grace_ms = 20;
  Scheduler s(o, &store, [&](const std::shared_ptr<ActiveJob>& job) {
    started.Open();
    stopped = WaitUntil([&] { return job->stop.load(); });  // an epoch that never ends
  });
  s.SetClaimable(1);
  s.Start();
  ASSERT_TRUE(started.Wait());
  s.Drain();
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace gantry
