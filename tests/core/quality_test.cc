// The sliced Wasserstein-1 figure against a plain LibTorch formulation of
// the same definition (at::sort), and on point sets with known answers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/quality.h"
#include "core/random.h"

namespace gantry {
namespace {

// The definition, written with LibTorch ops: the same directions (the same
// draws), projections, at::sort per direction, mean |difference|.
double Reference(const at::Tensor& a, const at::Tensor& b, int64_t projections, uint64_t seed) {
  at::Generator gen = MakeCpuGenerator(seed);
  torch::Tensor dirs = torch::randn({a.size(1), projections}, gen);
  dirs = (dirs / dirs.norm(2, 0, true).clamp_min(1e-12)).to(torch::kDouble);
  torch::Tensor pa = std::get<0>(a.to(torch::kDouble).mm(dirs).sort(0));
  torch::Tensor pb = std::get<0>(b.to(torch::kDouble).mm(dirs).sort(0));
  return (pa - pb).abs().mean().item<double>();
}

double Ours(const at::Tensor& a, const at::Tensor& b, int64_t projections, uint64_t seed) {
  at::Generator gen = MakeCpuGenerator(seed);
  return SlicedWasserstein1(a, b, projections, gen);
}

TEST(QualityTest, MatchesTheSortDefinition) {
  at::Generator gen = MakeCpuGenerator(3);
  for (int64_t dim : {1, 2, 5}) {
    const torch::Tensor a = torch::randn({1000, dim}, gen) * 3;
    const torch::Tensor b = torch::rand({1000, dim}, gen) - 0.5;
    const double want = Reference(a, b, 32, 9);
    EXPECT_NEAR(Ours(a, b, 32, 9), want, 1e-6 * std::fabs(want)) << "dim " << dim;
  }
}

TEST(QualityTest, IdenticalSetsAreZeroAndAShiftIsItsLength) {
  at::Generator gen = MakeCpuGenerator(4);
  const torch::Tensor a = torch::randn({512, 2}, gen);
  EXPECT_EQ(Ours(a, a, 16, 1), 0.0);
  // Shuffling the rows changes nothing.
  EXPECT_EQ(Ours(a, a.flip(0), 16, 1), 0.0);
  // A shift by (3, 0) moves every projection by 3 * |d_x|: the figure lies in
  // (0, 3] and equals the definition's.
  const torch::Tensor shifted = a + torch::tensor({3.0f, 0.0f});
  const double w = Ours(a, shifted, 16, 1);
  EXPECT_GT(w, 0.5);
  EXPECT_LE(w, 3.0 + 1e-9);
  EXPECT_NEAR(w, Reference(a, shifted, 16, 1), 1e-6 * w);
}

TEST(QualityTest, NaNAndInfinityPropagate) {
  at::Generator gen = MakeCpuGenerator(5);
  torch::Tensor a = torch::randn({64, 2}, gen);
  torch::Tensor b = a.clone();
  b[7][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(Ours(a, b, 8, 2)));
  b[7][0] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(Ours(a, b, 8, 2)));
}

}  // namespace
}  // namespace gantry
