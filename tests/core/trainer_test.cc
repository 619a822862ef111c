// The trainer against the tutorial's PyTorch program, and its own promises:
// exact resume, determinism under concurrency, cancellation.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/alarms.h"
#include "core/trainer.h"
#include "tests/common/reference.h"

namespace gantry {
namespace {

using testing::ReferenceRun;
using testing::RunReference;

std::unique_ptr<Trainer> MakeTrainer(const JobSpec& spec) {
  auto t = Trainer::Create(spec);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

std::vector<EpochReport> Train(Trainer& t, int64_t epochs) {
  std::vector<EpochReport> out;
  for (int64_t i = 0; i < epochs; ++i) {
    auto r = t.RunEpoch();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) break;
    out.push_back(*r);
  }
  return out;
}

void ExpectParity(const JobSpec& spec) {
  // The reference runs as a separate process while the trainer runs here.
  auto reference = std::async(std::launch::async, [&] {
    return RunReference(spec.seed, static_cast<int>(spec.epochs));
  });
  auto trainer = MakeTrainer(spec);
  const std::vector<EpochReport> ours = Train(*trainer, spec.epochs);
  const ReferenceRun ref = reference.get();
  ASSERT_EQ(ours.size(), ref.epochs.size());
  for (size_t e = 0; e < ours.size(); ++e) {
    EXPECT_EQ(ours[e].epoch, static_cast<int64_t>(e + 1));
    EXPECT_NEAR(ours[e].last_loss_d, ref.epochs[e].loss_d, 1e-6) << "epoch " << e;
    EXPECT_NEAR(ours[e].last_loss_g, ref.epochs[e].loss_g, 1e-6) << "epoch " << e;
  }
}

void ExpectSameReports(const EpochReport& a, const EpochReport& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.loss_d, b.loss_d) << "epoch " << a.epoch;
  EXPECT_EQ(a.loss_g, b.loss_g) << "epoch " << a.epoch;
  EXPECT_EQ(a.last_loss_d, b.last_loss_d) << "epoch " << a.epoch;
  EXPECT_EQ(a.last_loss_g, b.last_loss_g) << "epoch " << a.epoch;
  EXPECT_EQ(a.d_real, b.d_real);
  EXPECT_EQ(a.d_fake, b.d_fake);
  EXPECT_EQ(a.quality, b.quality);
  EXPECT_EQ(a.sine_error, b.sine_error);
  EXPECT_EQ(a.preview, b.preview);
  ASSERT_EQ(a.alarms.size(), b.alarms.size()) << "epoch " << a.epoch;
  for (size_t i = 0; i < a.alarms.size(); ++i) {
    EXPECT_EQ(a.alarms[i].kind, b.alarms[i].kind);
    EXPECT_EQ(a.alarms[i].epoch, b.alarms[i].epoch);
    EXPECT_EQ(a.alarms[i].message, b.alarms[i].message);
  }
}

// The ATen path (autograd) against the tutorial; fast_path_test.cc holds the
// same test for the fast path, and the other tests here use the default.
TEST(TrainerParityTest, SeedJobMatchesTheTutorialForAll300Epochs) {
  JobSpec spec;
  spec.trainer_path = TrainerPath::kAten;
  ExpectParity(spec);
}

TEST(TrainerParityTest, AnotherSeedAndEpochCount) {
  JobSpec spec;
  spec.seed = 2024;
  spec.epochs = 40;
  ExpectParity(spec);
}

TEST(TrainerTest, ResumeContinuesBitForBit) {
  JobSpec spec;
  auto whole = MakeTrainer(spec);
  const std::vector<EpochReport> expected = Train(*whole, 300);

  auto first = MakeTrainer(spec);
  std::vector<EpochReport> got = Train(*first, 120);
  auto state = first->SaveState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  first.reset();

  auto second = MakeTrainer(spec);
  ASSERT_TRUE(second->RestoreState(*state).ok());
  EXPECT_EQ(second->epochs_done(), 120);
  for (auto& r : Train(*second, 180)) got.push_back(r);
  EXPECT_TRUE(second->finished());

  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ExpectSameReports(got[i], expected[i]);
  // And the generators end with identical weights.
  auto a = whole->Snapshot(), b = second->Snapshot();
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    EXPECT_TRUE(a->tensors()[i].equal(b->tensors()[i]));
  }
}

// Issue 25's case: with learning rate 10 the discriminator's outputs pin at
// 0 or 1 and stay there. The alarm is raised once, on the tenth pinned
// epoch, and a trainer restored from a state saved before it (mid-run)
// raises it on the same epoch with the same words.
TEST(TrainerTest, SaturationAlarmIsRaisedAndSurvivesARestore) {
  JobSpec spec;
  spec.learning_rate = 10;
  spec.dropout = 0;
  spec.epochs = 25;
  auto whole = MakeTrainer(spec);
  const std::vector<EpochReport> expected = Train(*whole, spec.epochs);
  ASSERT_EQ(expected.size(), 25u);
  const std::vector<Alarm>& raised = expected.back().alarms;
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_EQ(raised[0].kind, "saturation");
  const int64_t at = raised[0].epoch;
  ASSERT_GE(at, kSaturationEpochs);
  // The ten epochs before it were pinned, none before them raised it.
  for (int64_t e = at - kSaturationEpochs + 1; e <= at; ++e) {
    const EpochReport& r = expected[e - 1];
    for (double p : {r.d_real, r.d_fake}) {
      EXPECT_TRUE(p <= kSaturationMargin || p >= 1 - kSaturationMargin) << "epoch " << e << ": " << p;
    }
  }
  EXPECT_TRUE(expected[at - 2].alarms.empty());
  EXPECT_NE(raised[0].message.find("pinned"), std::string::npos) << raised[0].message;

  auto first = MakeTrainer(spec);
  std::vector<EpochReport> got = Train(*first, at - 3);
  auto state = first->SaveState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  auto second = MakeTrainer(spec);
  ASSERT_TRUE(second->RestoreState(*state).ok());
  for (auto& r : Train(*second, spec.epochs - (at - 3))) got.push_back(r);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ExpectSameReports(got[i], expected[i]);
}

TEST(TrainerTest, ConcurrentTrainersAreDeterministic) {
  JobSpec spec;
  spec.epochs = 30;
  std::vector<EpochReport> a, b, c;
  std::thread ta([&] { auto t = MakeTrainer(spec); a = Train(*t, spec.epochs); });
  std::thread tb([&] { auto t = MakeTrainer(spec); b = Train(*t, spec.epochs); });
  JobSpec other = spec;
  other.seed = 112;
  std::thread tc([&] { auto t = MakeTrainer(other); c = Train(*t, other.epochs); });
  ta.join();
  tb.join();
  tc.join();
  ASSERT_EQ(a.size(), 30u);
  ASSERT_EQ(b.size(), 30u);
  ASSERT_EQ(c.size(), 30u);
  for (size_t i = 0; i < a.size(); ++i) ExpectSameReports(a[i], b[i]);
  int differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i].last_loss_d != c[i].last_loss_d;
  EXPECT_GT(differing, 25);
}

TEST(TrainerTest, UnevenLastBatchAndOtherShapes) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kRing8;
  spec.dataset.size = 1000;  // 1000 = 31 * 32 + 8
  spec.epochs = 3;
  spec.latent_dim = 5;
  spec.generator_hidden = {64, 64, 64};
  spec.discriminator_hidden = {32};
  spec.preview_points = 10;
  auto t = MakeTrainer(spec);
  auto reports = Train(*t, 3);
  ASSERT_EQ(reports.size(), 3u);
  for (const auto& r : reports) {
    EXPECT_TRUE(std::isfinite(r.loss_d) && std::isfinite(r.loss_g));
    EXPECT_GT(r.d_real, 0);
    EXPECT_LT(r.d_real, 1);
    EXPECT_GT(r.quality, 0);
    EXPECT_FALSE(r.sine_error.has_value());
    EXPECT_EQ(r.dim, 2);
    EXPECT_EQ(r.preview.size(), 20u);
    EXPECT_GE(r.seconds, 0);
  }
  auto done = t->RunEpoch();
  EXPECT_EQ(done.status().code(), StatusCode::kFailedPrecondition);
}

TEST(TrainerTest, UserDataOfHigherDimension) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kUser;
  spec.dataset.dim = 5;
  for (int i = 0; i < 100 * 5; ++i) spec.dataset.points.push_back(static_cast<float>(i % 7));
  spec.batch_size = 16;
  spec.epochs = 2;
  auto t = MakeTrainer(spec);
  auto reports = Train(*t, 2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].dim, 5);
  EXPECT_EQ(reports[1].preview.size(), 64u * 5);
  EXPECT_EQ(t->Snapshot()->data_dim(), 5);
}

TEST(TrainerTest, SineQualityImprovesWithTraining) {
  JobSpec spec;
  spec.epochs = 60;
  auto t = MakeTrainer(spec);
  auto reports = Train(*t, spec.epochs);
  ASSERT_EQ(reports.size(), 60u);
  EXPECT_LT(*reports.back().sine_error, *reports.front().sine_error);
  EXPECT_LT(reports.back().quality, reports.front().quality);
}

TEST(TrainerTest, CancelStopsBetweenBatches) {
  JobSpec spec;
  auto t = MakeTrainer(spec);
  std::atomic<bool> cancel{true};
  auto r = t->RunEpoch(&cancel);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(t->SaveState().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(t->RunEpoch().status().code(), StatusCode::kFailedPrecondition);
}

TEST(TrainerTest, CreateRejectsABadSpec) {
  JobSpec spec;
  spec.epochs = 0;
  auto t = Trainer::Create(spec);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "epochs: 0 is out of range 1..100000");
}

TEST(TrainerTest, RestoreRejectsGarbageAndForeignState) {
  JobSpec spec;
  spec.epochs = 2;
  auto t = MakeTrainer(spec);
  Train(*t, 1);
  const std::string good = *t->SaveState();

  auto fresh = MakeTrainer(spec);
  EXPECT_EQ(fresh->RestoreState("not a checkpoint").code(), StatusCode::kDataLoss);
  EXPECT_EQ(fresh->RestoreState(good.substr(0, good.size() / 2)).code(), StatusCode::kDataLoss);
  EXPECT_EQ(fresh->epochs_done(), 0);

  JobSpec wider = spec;
  wider.generator_hidden = {16, 33};
  auto other = MakeTrainer(wider);
  const Status s = other->RestoreState(good);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(other->epochs_done(), 0);
}

}  // namespace
}  // namespace gantry
