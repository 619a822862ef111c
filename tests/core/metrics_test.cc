// The held-out metrics (core/metrics.h) on point sets whose answers are
// known: identical sets, shifted sets, a generator that drops a mode.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/datasets.h"
#include "core/metrics.h"
#include "core/random.h"

namespace gantry {
namespace {

torch::Tensor Ring8(int64_t n, uint64_t seed) {
  DatasetSpec d;
  d.kind = DatasetKind::kRing8;
  d.size = n;
  at::Generator gen = MakeCpuGenerator(seed);
  return MakeDataset(d, gen);
}

EvalSet MakeSet(const torch::Tensor& real) {
  at::Generator gen = MakeCpuGenerator(7);
  return EvalSet(real, gen);
}

TEST(MetricsTest, IdenticalSetsScorePerfectly) {
  at::Generator gen = MakeCpuGenerator(1);
  const torch::Tensor real = torch::randn({600, 2}, gen);
  const EvalSet set = MakeSet(real);
  const EvalMetrics m = set.Evaluate(real.flip(0));  // the order does not matter
  EXPECT_NEAR(m.sliced_w1, 0, 1e-7);
  EXPECT_NEAR(m.mmd, 0, 1e-9);
  EXPECT_EQ(m.precision, 1.0);
  EXPECT_EQ(m.recall, 1.0);
  EXPECT_EQ(m.coverage, 1.0);
  // Each real ball holds its centre and the k - 1 nearer neighbours.
  EXPECT_NEAR(m.density, 1.0, 1e-12);
}

TEST(MetricsTest, ASampleOfTheSameDistributionScoresWell) {
  const EvalSet set = MakeSet(Ring8(1024, 2));
  const EvalMetrics m = set.Evaluate(Ring8(1024, 3));
  EXPECT_LT(m.sliced_w1, 0.1);
  EXPECT_LT(m.mmd, 0.01);
  EXPECT_GT(m.precision, 0.85);
  EXPECT_GT(m.recall, 0.85);
  EXPECT_GT(m.coverage, 0.85);
  EXPECT_GT(m.density, 0.7);
  EXPECT_LT(m.density, 1.3);
}

TEST(MetricsTest, AShiftIsMeasuredInTheDataUnits) {
  at::Generator gen = MakeCpuGenerator(4);
  const torch::Tensor real = torch::randn({800, 2}, gen) * 0.1;
  const EvalSet set = MakeSet(real);
  // Every projection moves by 3 |cos t|; over random directions its mean is
  // 3 * 2 / pi.
  const EvalMetrics far = set.Evaluate(real + torch::tensor({3.0f, 0.0f}));
  EXPECT_NEAR(far.sliced_w1, 3 * 2 / M_PI, 0.3);
  EXPECT_EQ(far.precision, 0.0);
  EXPECT_EQ(far.recall, 0.0);
  EXPECT_EQ(far.coverage, 0.0);
  EXPECT_EQ(far.density, 0.0);
  const EvalMetrics near = set.Evaluate(real + torch::tensor({0.1f, 0.0f}));
  EXPECT_LT(near.sliced_w1, far.sliced_w1);
  EXPECT_GT(near.mmd, 0);
  EXPECT_LT(near.mmd, far.mmd);
  EXPECT_GT(near.coverage, far.coverage);
}

TEST(MetricsTest, ADroppedModeLowersRecallAndCoverageNotPrecision) {
  const torch::Tensor real = Ring8(2048, 5);
  const EvalSet set = MakeSet(real);
  // Generated points from 7 of the 8 modes: those nearest the mode at angle 0
  // (x > 1.5, |y| < 1) are replaced by points of the other modes.
  torch::Tensor fake = Ring8(4096, 6);
  const torch::Tensor keep = ~((fake.select(1, 0) > 1.5) & (fake.select(1, 1).abs() < 1));
  fake = fake.index({keep}).slice(0, 0, 1024);
  const EvalMetrics full = set.Evaluate(Ring8(1024, 8));
  const EvalMetrics dropped = set.Evaluate(fake);
  EXPECT_GT(dropped.precision, 0.85);
  // Of the real points the full generator covers, the eighth of the dropped
  // mode is lost.
  EXPECT_NEAR(dropped.coverage / full.coverage, 7.0 / 8, 0.05);
  EXPECT_NEAR(dropped.recall / full.recall, 7.0 / 8, 0.05);
  EXPECT_LT(dropped.coverage, full.coverage - 0.05);
  EXPECT_LT(dropped.recall, full.recall - 0.05);
  EXPECT_GT(dropped.mmd, full.mmd);
  EXPECT_GT(dropped.sliced_w1, full.sliced_w1);
}

TEST(MetricsTest, SetsOfDifferentSizes) {
  at::Generator gen = MakeCpuGenerator(9);
  const torch::Tensor real = torch::randn({300, 3}, gen);
  const EvalSet set = MakeSet(real);
  // Every point twice: the same distribution, so the same quantiles.
  const EvalMetrics m = set.Evaluate(torch::cat({real, real}));
  EXPECT_NEAR(m.sliced_w1, 0, 1e-7);
  EXPECT_NEAR(m.mmd, 0, 1e-9);
  EXPECT_EQ(m.coverage, 1.0);
  // Deterministic: the same points give the same figures.
  const EvalMetrics again = set.Evaluate(torch::cat({real, real}));
  EXPECT_EQ(m.sliced_w1, again.sliced_w1);
  EXPECT_EQ(m.density, again.density);
}

TEST(MetricsTest, TinySetsUseFewerNeighbours) {
  const torch::Tensor real = torch::tensor({0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}).reshape({3, 2});
  const EvalSet set = MakeSet(real);
  const EvalMetrics m = set.Evaluate(real);
  EXPECT_EQ(m.coverage, 1.0);
  EXPECT_TRUE(std::isfinite(m.mmd) && std::isfinite(m.density));
}

}  // namespace
}  // namespace gantry
