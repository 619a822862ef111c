// Issue 12's trainer features: held-out evaluation, the best epoch, early
// stopping, the losses and spectral norm, and that each resumes exactly.
#include <gtest/gtest.h>

#include <cmath>

#include "core/metrics.h"
#include "core/trainer.h"

namespace gantry {
namespace {

std::unique_ptr<Trainer> MakeTrainer(const JobSpec& spec) {
  auto t = Trainer::Create(spec);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<EpochReport> Train(Trainer& t, int64_t epochs) {
  std::vector<EpochReport> out;
  for (int64_t i = 0; i < epochs && !t.finished(); ++i) {
    auto r = t.RunEpoch();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) break;
    out.push_back(*r);
  }
  return out;
}

JobSpec Ring8Spec(Loss loss, int64_t epochs) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kRing8;
  spec.dataset.size = 1024;
  spec.discriminator_hidden = {64, 64};
  spec.generator_hidden = {64, 64};
  spec.batch_size = 64;
  spec.epochs = epochs;
  spec.loss = loss;
  spec.eval_every = 5;
  spec.eval_points = 256;
  spec.preview_points = 0;
  spec.seed = 3;
  return spec;
}

void ExpectSameMetrics(const std::optional<EvalMetrics>& a, const std::optional<EvalMetrics>& b,
                       int64_t epoch) {
  ASSERT_EQ(a.has_value(), b.has_value()) << "epoch " << epoch;
  if (!a) return;
  EXPECT_EQ(a->sliced_w1, b->sliced_w1) << "epoch " << epoch;
  EXPECT_EQ(a->mmd, b->mmd) << "epoch " << epoch;
  EXPECT_EQ(a->precision, b->precision) << "epoch " << epoch;
  EXPECT_EQ(a->recall, b->recall) << "epoch " << epoch;
  EXPECT_EQ(a->density, b->density) << "epoch " << epoch;
  EXPECT_EQ(a->coverage, b->coverage) << "epoch " << epoch;
}

void ExpectSame(const EpochReport& a, const EpochReport& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.loss_d, b.loss_d) << "epoch " << a.epoch;
  EXPECT_EQ(a.loss_g, b.loss_g) << "epoch " << a.epoch;
  EXPECT_EQ(a.d_real, b.d_real) << "epoch " << a.epoch;
  EXPECT_EQ(a.quality, b.quality) << "epoch " << a.epoch;
  EXPECT_EQ(a.best_epoch, b.best_epoch) << "epoch " << a.epoch;
  EXPECT_EQ(a.stop_reason, b.stop_reason) << "epoch " << a.epoch;
  ExpectSameMetrics(a.metrics, b.metrics, a.epoch);
  ExpectSameMetrics(a.best_metrics, b.best_metrics, a.epoch);
  EXPECT_EQ(a.preview, b.preview) << "epoch " << a.epoch;
}

TEST(GameTest, EvaluatesTheFirstEveryNthAndTheLastEpoch) {
  JobSpec spec;
  spec.epochs = 12;
  spec.eval_every = 5;
  auto t = MakeTrainer(spec);
  const auto reports = Train(*t, spec.epochs);
  ASSERT_EQ(reports.size(), 12u);
  for (const EpochReport& r : reports) {
    const bool evaluated = r.epoch == 1 || r.epoch == 5 || r.epoch == 10 || r.epoch == 12;
    EXPECT_EQ(r.metrics.has_value(), evaluated) << "epoch " << r.epoch;
    EXPECT_EQ(r.sine_error.has_value(), evaluated) << "epoch " << r.epoch;
    // quality carries the latest evaluation's sliced W1 forward.
    if (evaluated) EXPECT_EQ(r.quality, r.metrics->sliced_w1);
    if (!evaluated) EXPECT_EQ(r.quality, reports[static_cast<size_t>(r.epoch - 2)].quality);
    EXPECT_GT(r.best_epoch, 0);
    ASSERT_TRUE(r.best_metrics.has_value());
  }
  // The best epoch is the evaluated one with the lowest sliced W1.
  int64_t best = 0;
  double lowest = 1e300;
  for (const EpochReport& r : reports) {
    if (r.metrics && r.metrics->sliced_w1 < lowest) {
      lowest = r.metrics->sliced_w1;
      best = r.epoch;
    }
  }
  EXPECT_EQ(reports.back().best_epoch, best);
  EXPECT_EQ(reports.back().best_metrics->sliced_w1, lowest);
  EXPECT_EQ(t->best_epoch(), best);
}

TEST(GameTest, SelectByAHigherIsBetterMetric) {
  JobSpec spec;
  spec.epochs = 8;
  spec.eval_every = 1;
  spec.select_by = Metric::kCoverage;
  auto t = MakeTrainer(spec);
  const auto reports = Train(*t, spec.epochs);
  double highest = -1;
  int64_t best = 0;
  for (const EpochReport& r : reports) {
    if (r.metrics->coverage > highest) {
      highest = r.metrics->coverage;
      best = r.epoch;
    }
  }
  EXPECT_EQ(reports.back().best_epoch, best);
}

TEST(GameTest, EarlyStoppingEndsAPlateau) {
  JobSpec spec;
  spec.epochs = 100;
  spec.eval_every = 2;
  spec.patience = 4;
  spec.min_delta = 1000;  // nothing improves by that much: a plateau from epoch 1
  auto t = MakeTrainer(spec);
  const auto reports = Train(*t, spec.epochs);
  // Evaluated at 1, 2, 4, 6: epoch 6 is 5 epochs after the last improvement.
  ASSERT_EQ(reports.size(), 6u);
  EXPECT_TRUE(t->finished());
  EXPECT_EQ(t->epochs_done(), 6);
  const EpochReport& last = reports.back();
  EXPECT_NE(last.stop_reason.find("early stopping: sliced_w1 did not improve by 1000 for 5 epochs"),
            std::string::npos)
      << last.stop_reason;
  for (size_t i = 0; i + 1 < reports.size(); ++i) EXPECT_TRUE(reports[i].stop_reason.empty());
  auto more = t->RunEpoch();
  EXPECT_EQ(more.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(more.status().message().find("stopped early"), std::string::npos);
}

TEST(GameTest, NoEarlyStoppingByDefault) {
  JobSpec spec;
  spec.epochs = 25;
  spec.eval_every = 1;
  spec.min_delta = 1000;  // patience 0: off however flat the metric is
  auto t = MakeTrainer(spec);
  EXPECT_EQ(Train(*t, spec.epochs).size(), 25u);
}

// Resuming from a checkpoint reproduces every report field, the best epoch
// and the early-stopping clock included.
void ExpectExactResume(const JobSpec& spec, int64_t at) {
  auto whole = MakeTrainer(spec);
  const auto all = Train(*whole, spec.epochs);
  auto first = MakeTrainer(spec);
  (void)Train(*first, at);
  auto state = first->SaveState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  auto resumed = MakeTrainer(spec);
  ASSERT_TRUE(resumed->RestoreState(*state).ok());
  const auto rest = Train(*resumed, spec.epochs - at);
  ASSERT_EQ(static_cast<int64_t>(rest.size()) + at, static_cast<int64_t>(all.size()));
  for (size_t i = 0; i < rest.size(); ++i) ExpectSame(rest[i], all[static_cast<size_t>(at) + i]);
  EXPECT_EQ(resumed->finished(), whole->finished());
}

TEST(GameTest, ResumeKeepsTheBestEpochAndThePatience) {
  JobSpec spec;
  spec.epochs = 30;
  spec.eval_every = 3;
  spec.patience = 9;
  spec.min_delta = 0.01;
  ExpectExactResume(spec, 7);
}

TEST(GameTest, EachLossResumesExactly) {
  for (Loss loss : {Loss::kNonSaturating, Loss::kHinge, Loss::kWganGp}) {
    SCOPED_TRACE(LossName(loss));
    JobSpec spec = Ring8Spec(loss, 6);
    ExpectExactResume(spec, 3);
  }
  for (Loss loss : {Loss::kBce, Loss::kWganGp}) {
    JobSpec sn = Ring8Spec(loss, 6);
    sn.spectral_norm = true;
    SCOPED_TRACE(std::string(LossName(loss)) + " + spectral_norm");
    ExpectExactResume(sn, 2);
  }
}

// Each loss learns ring8: the best held-out sliced W1 and MMD after 60 epochs
// (960 discriminator steps) are well below the first evaluation's.
TEST(GameTest, EachLossImprovesTheMetricOnRing8) {
  for (Loss loss : {Loss::kBce, Loss::kNonSaturating, Loss::kHinge, Loss::kWganGp}) {
    SCOPED_TRACE(LossName(loss));
    JobSpec spec = Ring8Spec(loss, 60);
    auto t = MakeTrainer(spec);
    const auto reports = Train(*t, spec.epochs);
    ASSERT_EQ(reports.size(), 60u);
    const EvalMetrics& first = *reports.front().metrics;
    const EvalMetrics& best = *reports.back().best_metrics;
    EXPECT_LT(best.sliced_w1, 0.7 * first.sliced_w1)
        << "first " << first.sliced_w1 << " best " << best.sliced_w1;
    EXPECT_LT(best.mmd, first.mmd);
    for (const EpochReport& r : reports) {
      ASSERT_TRUE(std::isfinite(r.loss_d) && std::isfinite(r.loss_g)) << "epoch " << r.epoch;
    }
    if (loss != Loss::kBce) EXPECT_EQ(reports.back().trainer_path, "aten");
  }
}

TEST(GameTest, SpectralNormKeepsTheSeedGameOffTheFastPath) {
  JobSpec spec = Ring8Spec(Loss::kBce, 2);
  spec.spectral_norm = true;
  auto t = MakeTrainer(spec);
  EXPECT_EQ(t->path(), TrainerPath::kAten);
  EXPECT_NE(t->path_note().find("spectral"), std::string::npos) << t->path_note();
  spec.trainer_path = TrainerPath::kFast;
  auto refused = Trainer::Create(spec);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

TEST(GameTest, NCriticStepsTheGeneratorLessOften) {
  // With n_critic = batches per epoch, the generator steps once an epoch: its
  // snapshot after one epoch differs from the initial one, but with n_critic
  // larger than the epoch's batches it does not change at all.
  JobSpec spec = Ring8Spec(Loss::kWganGp, 1);
  spec.n_critic = 100;  // 8 batches an epoch
  auto t = MakeTrainer(spec);
  const at::Tensor before = t->Snapshot()->Sample(1, 0, 16);
  (void)Train(*t, 1);
  EXPECT_TRUE(t->Snapshot()->Sample(1, 0, 16).equal(before));
  spec.n_critic = 8;
  auto u = MakeTrainer(spec);
  (void)Train(*u, 1);
  EXPECT_FALSE(u->Snapshot()->Sample(1, 0, 16).equal(before));
}

TEST(GameTest, HeldOutUserRowsAreNotTrainedOn) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kUser;
  spec.dataset.dim = 2;
  for (int i = 0; i < 200; ++i) {
    spec.dataset.points.push_back(static_cast<float>(i));
    spec.dataset.points.push_back(static_cast<float>(-i));
  }
  spec.eval_fraction = 0.25;
  spec.batch_size = 150;  // exactly the 150 training rows
  spec.epochs = 1;
  EXPECT_EQ(HeldOutRows(spec), 50);
  EXPECT_EQ(TrainingRows(spec), 150);
  auto t = MakeTrainer(spec);
  EXPECT_EQ(Train(*t, 1).size(), 1u);
  spec.batch_size = 151;
  EXPECT_EQ(Validate(spec).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Validate(spec).message().find("training rows"), std::string::npos);
}

}  // namespace
}  // namespace gantry
