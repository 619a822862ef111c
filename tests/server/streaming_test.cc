// WatchJob replay and follow, many watchers and a stalled one, cancellation,
// the concurrency limit, the queue bound and draining.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/jobs/convert.h"
#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

class StreamingTest : public ServerHarness {};

void ExpectUnbrokenSequence(const std::vector<v1::JobEvent>& events, int64_t first_seq) {
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), first_seq + static_cast<int64_t>(i));
  }
}

TEST_F(StreamingTest, ReplayThenFollowToTheEnd) {
  StartServer();
  const std::string id = MustCreate(SmallSpec(20));
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(id, 0, &events).ok());
  ASSERT_EQ(events.size(), 23u);  // QUEUED, RUNNING, 20 epochs, SUCCEEDED
  ExpectUnbrokenSequence(events, 1);
  EXPECT_EQ(events[0].state().state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(events[1].state().state(), v1::JOB_STATE_RUNNING);
  for (int e = 1; e <= 20; ++e) {
    const v1::EpochReport& r = events[1 + e].epoch();
    EXPECT_EQ(r.epoch(), e);
    EXPECT_EQ(r.epochs(), 20);
    // Evaluated epochs (the first, every 10th, the last) carry the metrics.
    const bool evaluated = e == 1 || e % 10 == 0 || e == 20;
    EXPECT_EQ(r.has_sine_error(), evaluated) << "epoch " << e;
    EXPECT_EQ(r.has_metrics(), evaluated) << "epoch " << e;
    EXPECT_GT(r.best_epoch(), 0);
    EXPECT_EQ(r.preview().dim(), 2);
    EXPECT_EQ(r.preview().values_size(), 128);
    EXPECT_EQ(events[1 + e].job_id(), id);
  }
  EXPECT_EQ(events.back().state().state(), v1::JOB_STATE_SUCCEEDED);

  // Watching the ended job from seq 10 replays 10..23 and ends.
  std::vector<v1::JobEvent> tail;
  ASSERT_TRUE(Watch(id, 10, &tail).ok());
  ASSERT_EQ(tail.size(), 14u);
  ExpectUnbrokenSequence(tail, 10);
  for (size_t i = 0; i < tail.size(); ++i) {
    EXPECT_EQ(tail[i].SerializeAsString(), events[9 + i].SerializeAsString());
  }
  // Past the end: nothing, OK.
  std::vector<v1::JobEvent> none;
  ASSERT_TRUE(Watch(id, 100, &none).ok());
  EXPECT_TRUE(none.empty());
  std::vector<v1::JobEvent> bad;
  const grpc::Status s = Watch(id, -1, &bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "from_seq: -1 is out of range 0..");
}

TEST_F(StreamingTest, AHundredWatchersAndAStalledOneDoNotHoldTrainingBack) {
  StartServer();
  v1::JobSpec spec = SmallSpec(60);
  spec.set_preview_points(1024);  // 8 KiB per event: far more than a stream's flow-control window
  const std::string id = MustCreate(spec);

  // One watcher that never reads.
  grpc::ClientContext stalled_ctx;
  v1::WatchJobRequest stalled_req;
  stalled_req.set_job_id(id);
  auto stalled = stub_->WatchJob(&stalled_ctx, stalled_req);

  constexpr int kWatchers = 100;
  std::vector<std::vector<v1::JobEvent>> seen(kWatchers);
  std::vector<grpc::Status> statuses(kWatchers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWatchers; ++i) {
    threads.emplace_back([&, i] { statuses[i] = Watch(id, 0, &seen[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWatchers; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    ASSERT_EQ(seen[i].size(), 63u) << i;
    ExpectUnbrokenSequence(seen[i], 1);
    EXPECT_EQ(seen[i].back().state().state(), v1::JOB_STATE_SUCCEEDED);
  }
  v1::Job job;
  ASSERT_TRUE(Get(id, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);

  // The stalled watcher still gets everything once it reads.
  std::vector<v1::JobEvent> late;
  v1::JobEvent ev;
  while (stalled->Read(&ev)) late.push_back(ev);
  EXPECT_TRUE(stalled->Finish().ok());
  EXPECT_EQ(late.size(), 63u);

  // A watcher that goes away is released by the server. (The server ends
  // a finished stream just after its client saw the end: wait for the
  // streams above to close first.)
  for (int i = 0; i < 500 && OpenWatchStreams() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(OpenWatchStreams(), 0);
  {
    grpc::ClientContext ctx;
    const std::string running = MustCreate(SmallSpec(100000));
    v1::WatchJobRequest req;
    req.set_job_id(running);
    auto reader = stub_->WatchJob(&ctx, req);
    ASSERT_TRUE(reader->Read(&ev));
    EXPECT_EQ(OpenWatchStreams(), 1);
    ctx.TryCancel();
    while (reader->Read(&ev)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  for (int i = 0; i < 500 && OpenWatchStreams() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(OpenWatchStreams(), 0);
}

TEST_F(StreamingTest, CancelMidTraining) {
  StartServer();
  const std::string id = MustCreate(SmallSpec(100000));
  grpc::ClientContext ctx;
  v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = stub_->WatchJob(&ctx, req);
  v1::JobEvent ev;
  std::vector<v1::JobEvent> events;
  bool cancelled = false;
  while (reader->Read(&ev)) {
    events.push_back(ev);
    if (!cancelled && ev.has_epoch() && ev.epoch().epoch() == 3) {
      // A running job samples from its latest finished epoch.
      grpc::ClientContext sctx;
      v1::SampleRequest sreq;
      sreq.set_job_id(id);
      sreq.set_count(10);
      sreq.set_seed(1);
      v1::SampleResponse sresp;
      ASSERT_TRUE(stub_->Sample(&sctx, sreq, &sresp).ok());
      EXPECT_GE(sresp.epoch(), 3);
      EXPECT_EQ(sresp.points().values_size(), 20);
      grpc::ClientContext cctx;
      v1::CancelJobRequest creq;
      creq.set_job_id(id);
      v1::Job job;
      ASSERT_TRUE(stub_->CancelJob(&cctx, creq, &job).ok());
      cancelled = true;
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(events.back().state().state(), v1::JOB_STATE_CANCELLED);
  ExpectUnbrokenSequence(events, 1);
  v1::Job job;
  ASSERT_TRUE(Get(id, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_GE(job.epochs_done(), 3);
  EXPECT_LT(job.epochs_done(), 100);
}

TEST_F(StreamingTest, ConcurrencyLimitIsRespected) {
  ManagerOptions m;
  m.max_concurrent_jobs = 2;
  StartServer(m);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MustCreate(SmallSpec(8, 200 + i)));
  // Running intervals from the server's own event times.
  std::vector<std::pair<int64_t, int>> edges;  // (time ns, +1 start / -1 end)
  for (const auto& id : ids) {
    std::vector<v1::JobEvent> events;
    ASSERT_TRUE(Watch(id, 0, &events).ok());
    for (const auto& ev : events) {
      if (!ev.has_state()) continue;
      const int64_t t = ev.time().seconds() * 1'000'000'000LL + ev.time().nanos();
      if (ev.state().state() == v1::JOB_STATE_RUNNING) edges.push_back({t, +1});
      if (IsTerminalState(ev.state().state())) edges.push_back({t, -1});
    }
  }
  ASSERT_EQ(edges.size(), 10u);
  std::sort(edges.begin(), edges.end());
  int running = 0, peak = 0;
  for (const auto& [t, d] : edges) peak = std::max(peak, running += d);
  EXPECT_EQ(peak, 2);
}

TEST_F(StreamingTest, FullQueueIsResourceExhausted) {
  ManagerOptions m;
  m.max_concurrent_jobs = 1;
  m.max_queued_jobs = 2;
  StartServer(m);
  const std::string running = MustCreate(SmallSpec(100000));
  // Wait until the worker took it, so the queue holds exactly what follows.
  WaitForState(running, v1::JOB_STATE_RUNNING);
  const std::string queued = MustCreate(SmallSpec(1));
  MustCreate(SmallSpec(1));
  v1::Job job;
  const grpc::Status s = Create(SmallSpec(1), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "the queue is full: 2 jobs are waiting (--max-queued-jobs 2)");
  // A queued job has nothing to sample yet.
  grpc::ClientContext ctx;
  v1::SampleRequest req;
  req.set_job_id(queued);
  req.set_count(5);
  v1::SampleResponse resp;
  const grpc::Status early = stub_->Sample(&ctx, req, &resp);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(early.error_message(), "job " + queued + " has no trained epoch yet (QUEUED)");
}

TEST_F(StreamingTest, DrainEndsStreamsAndStopsServing) {
  StartServer();
  const std::string id = MustCreate(SmallSpec(100000));
  grpc::ClientContext ctx;
  v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = stub_->WatchJob(&ctx, req);
  v1::JobEvent ev;
  int64_t last = 0;
  while (reader->Read(&ev)) {
    last = ev.seq();
    if (ev.has_epoch() && ev.epoch().epoch() == 2) break;
  }
  std::thread drain([&] { server_->Shutdown(std::chrono::seconds(2)); });
  while (reader->Read(&ev)) last = ev.seq();
  const grpc::Status s = reader->Finish();
  drain.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(),
            "the server is shutting down; watch again with from_seq=" + std::to_string(last + 1));
  // The server no longer answers.
  grpc::ClientContext hctx;
  hctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  v1::Job job;
  grpc::ClientContext gctx;
  gctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  EXPECT_FALSE(stub_->GetJob(&gctx, v1::GetJobRequest(), &job).ok());
}

}  // namespace
}  // namespace gantry::testing

namespace gantry::testing {
namespace {

TEST_F(StreamingTest, DrainStopsAnEpochThatOutlastsTheGrace) {
  ManagerOptions m;
  m.drain_grace_ms = 100;
  StartServer(m);
  v1::JobSpec spec;
  spec.mutable_dataset()->set_size(2'000'000);
  spec.set_batch_size(1);  // one epoch would take hours
  const std::string id = MustCreate(spec);
  WaitForState(id, v1::JOB_STATE_RUNNING);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // well inside its first epoch
  grpc::ClientContext ctx;
  v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = stub_->WatchJob(&ctx, req);
  server_->Shutdown(std::chrono::seconds(2));  // returns: the epoch was interrupted
  v1::JobEvent ev;
  std::vector<v1::JobEvent> events;
  while (reader->Read(&ev)) events.push_back(ev);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(events.size(), 2u);  // QUEUED, RUNNING; no terminal event
  EXPECT_EQ(events[1].state().state(), v1::JOB_STATE_RUNNING);
}

TEST_F(StreamingTest, DrainingManagerRefusesNewJobs) {
  StartServer();
  server_->manager().Drain();
  v1::Job job;
  const grpc::Status s = Create(SmallSpec(1), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "the server is shutting down; no new jobs");
}

}  // namespace
}  // namespace gantry::testing

namespace gantry::testing {
namespace {

// Followers come and go while the trainer publishes (each new follower
// subscribes while others are being notified): the job runs to its end and
// every follower's stream ends.
TEST_F(StreamingTest, FollowersJoiningWhileEventsArePublishedNeverDeadlock) {
  StartServer();
  const std::string id = MustCreate(SmallSpec(400));
  std::atomic<bool> done{false};
  std::atomic<int> streams{0};
  std::vector<std::thread> followers;
  for (int t = 0; t < 8; ++t) {
    followers.emplace_back([&] {
      while (!done) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        v1::WatchJobRequest req;
        req.set_job_id(id);
        auto reader = stub_->WatchJob(&ctx, req);
        v1::JobEvent ev;
        for (int i = 0; i < 3 && reader->Read(&ev); ++i) {
        }
        ctx.TryCancel();
        (void)reader->Finish();  // CANCELLED by the test itself
        ++streams;
      }
    });
  }
  const v1::Job job = WaitForEnd(id);
  done = true;
  for (auto& f : followers) f.join();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_GT(streams.load(), 8);
}

// Many clients create short jobs at once: every job is claimed and ends
// (none is left QUEUED by a count that raced the store).
TEST_F(StreamingTest, ConcurrentCreatesAllRun) {
  ManagerOptions options;
  options.max_concurrent_jobs = 2;
  options.max_queued_jobs = 1000;
  StartServer(options);
  std::mutex mu;
  std::vector<std::string> ids;
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        v1::JobSpec spec = SmallSpec(1);
        spec.mutable_dataset()->set_size(16);
        spec.set_batch_size(16);
        const std::string id = MustCreate(spec);
        std::lock_guard<std::mutex> lock(mu);
        ids.push_back(id);
      }
    });
  }
  for (auto& c : clients) c.join();
  ASSERT_EQ(ids.size(), 120u);
  for (const std::string& id : ids) {
    v1::Job job;
    bool ended = false;
    for (int i = 0; i < 3000 && !ended; ++i) {  // 30 s at most for all of them
      ASSERT_TRUE(Get(id, &job).ok());
      ended = job.state() == v1::JOB_STATE_SUCCEEDED;
      if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(ended) << "job " << id << " is still " << v1::JobState_Name(job.state());
  }
}

}  // namespace
}  // namespace gantry::testing
