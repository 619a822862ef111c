// Issue 12 through a real gantryd: the best epoch's snapshot served by
// Sample and ExportGenerator after training went on, early stopping, and the
// new spec fields' validation.
#include <gtest/gtest.h>

#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

class QualityTest : public ServerHarness {
 protected:
  void SetUp() override { StartServer(); }

  grpc::Status Sample(const std::string& id, std::optional<int64_t> epoch, bool best,
                      v1::SampleResponse* resp) {
    grpc::ClientContext ctx;
    v1::SampleRequest req;
    req.set_job_id(id);
    req.set_count(40);
    req.set_seed(7);
    if (epoch) req.set_epoch(*epoch);
    req.set_best(best);
    return stub_->Sample(&ctx, req, resp);
  }

  std::string CreateStatus(const v1::JobSpec& spec, grpc::StatusCode* code) {
    v1::Job job;
    const grpc::Status s = Create(spec, &job);
    *code = s.error_code();
    return s.error_message();
  }
};

std::vector<float> Values(const v1::SampleResponse& r) {
  return {r.points().values().begin(), r.points().values().end()};
}

TEST_F(QualityTest, BestEpochIsSampledAfterTrainingWentOn) {
  // Snapshots only every 100 epochs: the best epoch's is kept because it is
  // the best. A seed whose best epoch is not its last (almost any).
  std::string id;
  v1::Job job;
  for (uint64_t seed = 1; seed <= 4 && id.empty(); ++seed) {
    v1::JobSpec spec = SmallSpec(30, seed);
    spec.set_eval_every(1);
    spec.set_checkpoint_every(100);
    const std::string candidate = MustCreate(spec);
    job = WaitForEnd(candidate);
    ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
    if (job.best_epoch() < 30) id = candidate;
  }
  ASSERT_FALSE(id.empty()) << "every seed's best epoch was its last";
  const int64_t best = job.best_epoch();
  ASSERT_GT(best, 0);
  // GetJob's best is the latest event's, and its metrics the best epoch's event's.
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(id, 0, &events).ok());
  const v1::EpochReport* at_best = nullptr;
  for (const auto& ev : events) {
    if (ev.has_epoch() && ev.epoch().epoch() == best) at_best = &ev.epoch();
  }
  ASSERT_NE(at_best, nullptr);
  EXPECT_EQ(job.best_metrics().sliced_w1(), at_best->metrics().sliced_w1());
  EXPECT_EQ(job.best_metrics().coverage(), at_best->metrics().coverage());
  EXPECT_EQ(job.latest().best_epoch(), best);
  for (const auto& ev : events) {
    if (ev.has_epoch() && ev.epoch().epoch() > best) {
      EXPECT_GE(ev.epoch().metrics().sliced_w1(), job.best_metrics().sliced_w1());
    }
  }

  v1::SampleResponse by_best, by_epoch, latest;
  ASSERT_TRUE(Sample(id, {}, true, &by_best).ok());
  ASSERT_TRUE(Sample(id, best, false, &by_epoch).ok());
  ASSERT_TRUE(Sample(id, {}, false, &latest).ok());
  EXPECT_EQ(by_best.epoch(), best);
  EXPECT_EQ(latest.epoch(), 30);
  EXPECT_EQ(Values(by_best), Values(by_epoch));
  EXPECT_NE(Values(by_best), Values(latest));

  // ExportGenerator(best) exports that snapshot.
  grpc::ClientContext ctx;
  v1::ExportGeneratorRequest req;
  req.set_job_id(id);
  req.set_best(true);
  auto reader = stub_->ExportGenerator(&ctx, req);
  v1::ExportChunk chunk;
  int chunks = 0;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.epoch(), best);
    ++chunks;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_GT(chunks, 0);

  // best together with an epoch is a contradiction.
  v1::SampleResponse r;
  const grpc::Status both = Sample(id, 3, true, &r);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(both.error_message().find("best:"), std::string::npos) << both.error_message();
}

TEST_F(QualityTest, EarlyStoppingEndsAPlateauedJobSucceeded) {
  v1::JobSpec spec = SmallSpec(200);
  spec.set_eval_every(2);
  spec.set_patience(4);
  spec.set_min_delta(1000);  // no improvement is ever that large
  const std::string id = MustCreate(spec);
  const v1::Job job = WaitForEnd(id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.epochs_done(), 6);
  EXPECT_NE(job.stop_reason().find("early stopping: sliced_w1 did not improve by 1000 for 5 epochs"),
            std::string::npos)
      << job.stop_reason();
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(id, 0, &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(events.back().state().reason(), job.stop_reason());
  // The last epoch's snapshot is kept though 6 is no checkpoint epoch.
  v1::SampleResponse r;
  ASSERT_TRUE(Sample(id, {}, false, &r).ok());
  EXPECT_EQ(r.epoch(), 6);
  ASSERT_TRUE(Sample(id, {}, true, &r).ok());
  EXPECT_EQ(r.epoch(), job.best_epoch());
}

TEST_F(QualityTest, NewFieldsAreValidated) {
  struct Case {
    std::function<void(v1::JobSpec*)> set;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](v1::JobSpec* s) { s->set_loss("lsgan"); },
       "loss: 'lsgan' is not one of bce, non_saturating, hinge, wgan_gp"},
      {[](v1::JobSpec* s) { s->set_select_by("fid"); }, "select_by: 'fid' is not one of"},
      {[](v1::JobSpec* s) { s->set_gp_weight(-1); }, "gp_weight: -1 is out of range [0, 1000]"},
      {[](v1::JobSpec* s) { s->set_n_critic(0); }, "n_critic: 0 is out of range 1..100"},
      {[](v1::JobSpec* s) { s->set_eval_every(0); }, "eval_every: 0 is out of range 1..100000"},
      {[](v1::JobSpec* s) { s->set_eval_points(8); }, "eval_points: 8 is out of range 16..10000"},
      {[](v1::JobSpec* s) { s->set_patience(-3); }, "patience: -3 is out of range 0..100000"},
      {[](v1::JobSpec* s) { s->set_min_delta(-0.5); }, "min_delta: -0.5 is out of range [0, 1e+06]"},
      {[](v1::JobSpec* s) { s->set_eval_fraction(0.2); },
       "eval_fraction: 0.2 applies to user data only"},
      {[](v1::JobSpec* s) {
         s->set_loss("hinge");
         s->set_trainer_path("fast");
       },
       "trainer_path: fast covers the bce loss"},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = SmallSpec(2);
    c.set(&spec);
    grpc::StatusCode code;
    const std::string message = CreateStatus(spec, &code);
    EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // A user dataset holds out its evaluation rows; batch_size is bounded by
  // the rest.
  v1::JobSpec user = SmallSpec(1);
  user.mutable_dataset()->clear_size();
  user.mutable_dataset()->set_kind(v1::DATASET_KIND_USER);
  user.mutable_dataset()->mutable_points()->set_dim(1);
  for (int i = 0; i < 10; ++i) user.mutable_dataset()->mutable_points()->add_values(static_cast<float>(i));
  user.set_eval_fraction(0.1);
  grpc::StatusCode code;
  std::string message = CreateStatus(user, &code);
  EXPECT_NE(message.find("eval_fraction: 0.1 of 10 rows holds out 1; at least 2 rows are needed"),
            std::string::npos)
      << message;
  user.set_eval_fraction(0.5);
  user.set_batch_size(6);
  message = CreateStatus(user, &code);
  EXPECT_NE(message.find("batch_size: 6 is out of range 1..5 (training rows)"), std::string::npos)
      << message;
  user.set_batch_size(5);
  v1::Job job;
  ASSERT_TRUE(Create(user, &job).ok());
  EXPECT_EQ(job.dataset_rows(), 5);
  EXPECT_EQ(WaitForEnd(job.id()).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(QualityTest, EffectiveSpecShowsTheDefaults) {
  v1::Job job;
  ASSERT_TRUE(Create(SmallSpec(1), &job).ok());
  EXPECT_EQ(job.spec().loss(), "bce");
  EXPECT_EQ(job.spec().n_critic(), 1);
  EXPECT_EQ(job.spec().eval_every(), 10);
  EXPECT_EQ(job.spec().eval_points(), 512);
  EXPECT_EQ(job.spec().select_by(), "sliced_w1");
  EXPECT_EQ(job.spec().patience(), 0);
  v1::JobSpec w = SmallSpec(1);
  w.set_loss("wgan_gp");
  ASSERT_TRUE(Create(w, &job).ok());
  EXPECT_EQ(job.spec().n_critic(), 5);
  EXPECT_EQ(job.spec().gp_weight(), 10);
}

}  // namespace
}  // namespace gantry::testing
