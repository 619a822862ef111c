// Every built-in dataset: shape, determinism, and the shape of the
// distribution it claims to draw; user data round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/datasets.h"
#include "core/random.h"

namespace gantry {
namespace {

torch::Tensor Make(DatasetKind kind, int64_t n, uint64_t seed, std::optional<double> noise = {}) {
  DatasetSpec d;
  d.kind = kind;
  d.size = n;
  d.noise = noise;
  at::Generator gen = MakeCpuGenerator(seed);
  return MakeDataset(d, gen);
}

// Distance from each point to the nearest of `centers`.
torch::Tensor NearestDistance(const torch::Tensor& pts, const torch::Tensor& centers) {
  return std::get<0>(torch::cdist(pts, centers).min(1));
}

class DatasetKindTest : public ::testing::TestWithParam<DatasetKind> {};

TEST_P(DatasetKindTest, ShapeFiniteAndDeterministic) {
  const torch::Tensor a = Make(GetParam(), 500, 42);
  const torch::Tensor b = Make(GetParam(), 500, 42);
  const torch::Tensor c = Make(GetParam(), 500, 43);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{500, 2}));
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
}

INSTANTIATE_TEST_SUITE_P(AllBuiltins, DatasetKindTest,
                         ::testing::Values(DatasetKind::kSine, DatasetKind::kCircle,
                                           DatasetKind::kRing8, DatasetKind::kGrid25,
                                           DatasetKind::kTwoMoons, DatasetKind::kSpiral,
                                           DatasetKind::kSwissRoll),
                         [](const auto& info) { return std::string(DatasetKindName(info.param)); });

TEST(DatasetsTest, SineMatchesTheSeedProgram) {
  const torch::Tensor d = Make(DatasetKind::kSine, 1024, 111);
  // Built as the seed program builds it: x = 2*pi*rand(1024) with the seed's
  // generator, y = sin(x) exactly.
  at::Generator gen = MakeCpuGenerator(111);
  const torch::Tensor x = 2 * M_PI * torch::rand({1024}, gen);
  EXPECT_TRUE(torch::equal(d.select(1, 0), x));
  EXPECT_TRUE(torch::equal(d.select(1, 1), torch::sin(d.select(1, 0))));
  EXPECT_GE(d.select(1, 0).min().item<float>(), 0.0f);
  EXPECT_LE(d.select(1, 0).max().item<float>(), 2 * M_PI);
}

TEST(DatasetsTest, SineWithNoiseStaysNearTheCurve) {
  const torch::Tensor d = Make(DatasetKind::kSine, 2000, 1, 0.1);
  const torch::Tensor err = d.select(1, 1) - torch::sin(d.select(1, 0));
  EXPECT_NEAR(err.std().item<double>(), 0.1, 0.01);
}

TEST(DatasetsTest, CircleHasUnitRadius) {
  const torch::Tensor d = Make(DatasetKind::kCircle, 2000, 1, 0.0);
  EXPECT_TRUE(torch::allclose(d.norm(2, 1), torch::ones({2000}), 1e-5, 1e-5));
}

TEST(DatasetsTest, Ring8PointsSitOnEightModes) {
  const torch::Tensor d = Make(DatasetKind::kRing8, 4000, 1);
  const torch::Tensor angles = torch::arange(8, torch::kFloat) * (2 * M_PI / 8);
  const torch::Tensor centers = torch::stack({torch::cos(angles) * 2, torch::sin(angles) * 2}, 1);
  EXPECT_LT(NearestDistance(d, centers).max().item<double>(), 0.2);  // std 0.02
  // Every mode is used, roughly equally.
  const torch::Tensor mode = std::get<1>(torch::cdist(d, centers).min(1));
  const torch::Tensor counts = torch::bincount(mode, {}, 8);
  EXPECT_GT(counts.min().item<int64_t>(), 400);
}

TEST(DatasetsTest, Grid25PointsSitOnTheGrid) {
  const torch::Tensor d = Make(DatasetKind::kGrid25, 5000, 1);
  const torch::Tensor axis = torch::arange(-4, 5, 2, torch::kFloat);
  auto g = torch::meshgrid({axis, axis}, "ij");
  const torch::Tensor centers = torch::stack({g[0].reshape(-1), g[1].reshape(-1)}, 1);
  EXPECT_LT(NearestDistance(d, centers).max().item<double>(), 0.4);  // std 0.05
  const torch::Tensor mode = std::get<1>(torch::cdist(d, centers).min(1));
  EXPECT_GT(torch::bincount(mode, {}, 25).min().item<int64_t>(), 100);
}

TEST(DatasetsTest, TwoMoonsAreTwoHalfCircles) {
  const torch::Tensor d = Make(DatasetKind::kTwoMoons, 1000, 1, 0.0);
  const torch::Tensor outer = d.slice(0, 0, 500), inner = d.slice(0, 500);
  EXPECT_TRUE(torch::allclose(outer.norm(2, 1), torch::ones({500}), 1e-5, 1e-5));
  EXPECT_GE(outer.select(1, 1).min().item<float>(), -1e-6);
  const torch::Tensor shifted = inner - torch::tensor({1.0f, 0.5f});
  EXPECT_TRUE(torch::allclose(shifted.norm(2, 1), torch::ones({500}), 1e-5, 1e-5));
  EXPECT_LE(inner.select(1, 1).max().item<float>(), 0.5 + 1e-6);
}

TEST(DatasetsTest, SpiralRadiusGrowsWithAngle) {
  const torch::Tensor d = Make(DatasetKind::kSpiral, 1000, 1, 0.0);
  EXPECT_LE(d.norm(2, 1).max().item<float>(), 1.0f + 1e-6);
}

TEST(DatasetsTest, SwissRollSpansItsRange) {
  const torch::Tensor d = Make(DatasetKind::kSwissRoll, 1000, 1, 0.0);
  const torch::Tensor r = d.norm(2, 1) * 5;  // |t (cos t, sin t)| = t
  EXPECT_GE(r.min().item<double>(), 1.5 * M_PI - 1e-4);
  EXPECT_LE(r.max().item<double>(), 4.5 * M_PI + 1e-4);
}

TEST(DatasetsTest, UserPointsAreCopiedAsGiven) {
  DatasetSpec d;
  d.kind = DatasetKind::kUser;
  d.dim = 3;
  d.points = {1, 2, 3, 4, 5, 6.5f};
  at::Generator gen = MakeCpuGenerator(1);
  const torch::Tensor t = MakeDataset(d, gen);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_FLOAT_EQ(t[1][2].item<float>(), 6.5f);
  d.points[0] = 100;  // the tensor owns its copy
  EXPECT_FLOAT_EQ(t[0][0].item<float>(), 1.0f);
}

}  // namespace
}  // namespace gantry
