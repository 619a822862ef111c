// The fast trainer (core/fast_loop.h) against the ATen path, bit for bit,
// on specs that take every branch of its kernels; resume across the two
// paths; the start-up self-test; and the seed job against the tutorial's
// program on the fast path.
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <array>
#include <random>

#include "core/exact_kernels.h"
#include "core/fast_loop.h"
#include "core/self_test.h"
#include "core/trainer.h"
#include "tests/common/reference.h"

namespace gantry {
namespace {

std::unique_ptr<Trainer> Make(JobSpec spec, TrainerPath path) {
  spec.trainer_path = path;
  auto t = Trainer::Create(spec);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void ExpectSameEpoch(const EpochReport& a, const EpochReport& f) {
  EXPECT_TRUE(SameBits(a.loss_d, f.loss_d)) << "epoch " << a.epoch << " " << a.loss_d << " vs " << f.loss_d;
  EXPECT_TRUE(SameBits(a.loss_g, f.loss_g)) << "epoch " << a.epoch << " " << a.loss_g << " vs " << f.loss_g;
  EXPECT_TRUE(SameBits(a.last_loss_d, f.last_loss_d)) << "epoch " << a.epoch;
  EXPECT_TRUE(SameBits(a.last_loss_g, f.last_loss_g)) << "epoch " << a.epoch;
  EXPECT_TRUE(SameBits(a.d_real, f.d_real)) << "epoch " << a.epoch;
  EXPECT_TRUE(SameBits(a.d_fake, f.d_fake)) << "epoch " << a.epoch;
  EXPECT_TRUE(SameBits(a.quality, f.quality)) << "epoch " << a.epoch;
  EXPECT_EQ(a.preview, f.preview) << "epoch " << a.epoch;
}

void ExpectPathsAgree(const JobSpec& spec) {
  auto aten = Make(spec, TrainerPath::kAten);
  auto fast = Make(spec, TrainerPath::kFast);
  ASSERT_TRUE(aten && fast);
  ASSERT_EQ(aten->path(), TrainerPath::kAten);
  ASSERT_EQ(fast->path(), TrainerPath::kFast);
  for (int64_t e = 0; e < spec.epochs; ++e) {
    auto a = aten->RunEpoch();
    auto f = fast->RunEpoch();
    ASSERT_TRUE(a.ok() && f.ok());
    EXPECT_EQ(a->trainer_path, "aten");
    EXPECT_EQ(f->trainer_path, "fast");
    ExpectSameEpoch(*a, *f);
    if (::testing::Test::HasFailure()) return;
  }
  auto sa = aten->SaveState();
  auto sf = fast->SaveState();
  ASSERT_TRUE(sa.ok() && sf.ok());
  EXPECT_TRUE(*sa == *sf) << "the saved states differ";
}

class FastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!exact::CpuSupported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
    if (FastLoop::AtenCapability() != "AVX2") {
      GTEST_SKIP() << "ATen runs its " << FastLoop::AtenCapability() << " kernels here";
    }
  }
};

// The plain formula, on the FPU (slow on subnormals, but exact IEEE).
void PlainAdam(float* p, const float* g, float* m, float* v, int64_t n, const exact::AdamScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = std::fma(g[i], s.one_minus_beta1, m[i] * s.beta1);
    v[i] = std::fma(s.one_minus_beta2 * g[i], g[i], v[i] * s.beta2);
    float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt;
    denom = denom + s.eps;
    p[i] = p[i] + s.neg_step_size * m[i] / denom;
  }
}

float RandomFloat(std::mt19937& rng) {
  // Every class: zeros of both signs, subnormals, tiny and ordinary normals.
  std::uniform_int_distribution<int> kind(0, 5);
  std::uniform_int_distribution<uint32_t> mant(0, 0x7fffff);
  std::uniform_int_distribution<uint32_t> exp(1, 30);
  std::uniform_int_distribution<uint32_t> exp_normal(100, 130);
  uint32_t u = 0;
  switch (kind(rng)) {
    case 0: u = 0; break;
    case 1: u = mant(rng); break;                       // subnormal
    case 2: u = (exp(rng) << 23) | mant(rng); break;     // tiny normal
    case 3: u = (1u << 23) | mant(rng); break;           // the smallest normals
    default: u = (exp_normal(rng) << 23) | mant(rng); break;
  }
  if (rng() & 1) u |= 0x80000000u;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

TEST_F(FastPathTest, AdamEqualsThePlainFormulaOnSubnormals) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  const int64_t n = 20000;
  for (int round = 0; round < 20; ++round) {
    std::vector<float> p(n), g(n), m(n), v(n);
    for (int64_t i = 0; i < n; ++i) {
      p[i] = RandomFloat(rng);
      g[i] = (rng() % 3 == 0) ? RandomFloat(rng) : ((rng() & 1) ? 0.f : -0.f);
      m[i] = RandomFloat(rng);
      v[i] = std::fabs(RandomFloat(rng));
    }
    // Whole blocks of dead units, as training makes them: zero gradients,
    // subnormal or zero exp_avg, ordinary exp_avg_sq and weights; now and
    // then one lane that breaks the pattern.
    std::uniform_int_distribution<uint32_t> sub(0, 0x7fffff);
    for (int64_t b = 0; b + 8 <= n; b += 8) {
      if (rng() % 2) continue;
      for (int64_t i = b; i < b + 8; ++i) {
        g[i] = (rng() & 1) ? 0.f : -0.f;
        uint32_t u = (rng() % 5 == 0) ? 0 : sub(rng);
        if (rng() % 3 == 0) u = ((1 + rng() % 26) << 23) | sub(rng);  // a tiny normal
        if (rng() & 1) u |= 0x80000000u;
        std::memcpy(&m[i], &u, 4);
        v[i] = std::ldexp(unit(rng) + 0.5f, -static_cast<int>(rng() % 90));
        p[i] = (unit(rng) - 0.5f) * std::ldexp(1.f, -static_cast<int>(rng() % 40));
      }
      if (rng() % 8 == 0) p[b + rng() % 8] = 1e-35f;  // the parameter moves: not provable
    }
    exact::AdamScalars s{unit(rng), unit(rng), unit(rng), unit(rng),
                         unit(rng) + 0.01f, 1e-8f, -unit(rng) * 0.1f};
    // Short significands make exact ties on the subnormal grid (round half to even).
    if (round < 3) s.beta1 = std::array<float, 3>{0.5f, 0.75f, 0.625f}[round];
    std::vector<float> p2 = p, m2 = m, v2 = v;
    exact::AdamUpdate(p.data(), g.data(), m.data(), v.data(), n, s);
    PlainAdam(p2.data(), g.data(), m2.data(), v2.data(), n, s);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::memcmp(&p[i], &p2[i], 4), 0) << "param " << i << ": " << p[i] << " vs " << p2[i];
      ASSERT_EQ(std::memcmp(&m[i], &m2[i], 4), 0) << "exp_avg " << i << ": " << m[i] << " vs " << m2[i];
      ASSERT_EQ(std::memcmp(&v[i], &v2[i], 4), 0) << "exp_avg_sq " << i;
    }
  }
}

TEST_F(FastPathTest, SelfTestPasses) {
  const SelfTestResult& r = FastPathSelfTest();
  EXPECT_TRUE(r.passed) << r.detail;
}

TEST_F(FastPathTest, SeedSpecAgrees) {
  JobSpec spec;
  spec.epochs = 4;
  ExpectPathsAgree(spec);
}

TEST_F(FastPathTest, OddBatchWithShortLastBatchAgrees) {
  JobSpec spec;
  spec.dataset.size = 203;  // 203 = 6 * 33 + 5
  spec.batch_size = 33;
  spec.epochs = 3;
  spec.seed = 5;
  ExpectPathsAgree(spec);
}

TEST_F(FastPathTest, NoDropoutOtherWidthsAgree) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kRing8;
  spec.dataset.size = 300;
  spec.dropout = 0;
  spec.batch_size = 50;
  spec.epochs = 3;
  spec.generator_hidden = {7, 64, 3};
  spec.discriminator_hidden = {100, 17, 8, 31};
  spec.latent_dim = 5;
  spec.learning_rate = 0.01;
  spec.beta1 = 0.5;
  ExpectPathsAgree(spec);
}

TEST_F(FastPathTest, ThreeDimensionalUserDataAgrees) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kUser;
  spec.dataset.dim = 3;
  for (int i = 0; i < 150; ++i) {
    spec.dataset.points.push_back(static_cast<float>(i % 7) * 0.25f);
    spec.dataset.points.push_back(std::sin(static_cast<float>(i)));
    spec.dataset.points.push_back(static_cast<float>(i) / 150.f);
  }
  spec.batch_size = 16;
  spec.epochs = 3;
  spec.dropout = 0.5;
  spec.generator_hidden = {24};
  spec.discriminator_hidden = {48, 12};
  ExpectPathsAgree(spec);
}

TEST_F(FastPathTest, BatchOfOneAgrees) {
  JobSpec spec;
  spec.dataset.size = 9;
  spec.batch_size = 4;  // the last batch has one row
  spec.epochs = 3;
  ExpectPathsAgree(spec);
}

TEST_F(FastPathTest, OverflowingDataFailsAsOnTheAtenPath) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kUser;
  spec.dataset.dim = 2;
  spec.dataset.points = {3e38f, 3e38f, -3e38f, 3e38f, 1, 2};
  spec.batch_size = 2;
  spec.epochs = 3;
  auto aten = Make(spec, TrainerPath::kAten);
  auto fast = Make(spec, TrainerPath::kFast);
  auto a = aten->RunEpoch();
  auto f = fast->RunEpoch();
  ASSERT_FALSE(a.ok());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(a.status().ToString(), f.status().ToString());
  // bce has no loss for the NaN outputs: the job's error says so, naming the epoch.
  EXPECT_NE(f.status().message().find("losses became non-finite at epoch 1: the discriminator's outputs are NaN"),
            std::string::npos) << f.status().ToString();
}

TEST_F(FastPathTest, ResumesAcrossPaths) {
  JobSpec spec;
  spec.epochs = 6;
  spec.dataset.size = 256;
  auto straight = Make(spec, TrainerPath::kFast);
  std::vector<EpochReport> want;
  for (int e = 0; e < 6; ++e) want.push_back(*straight->RunEpoch());
  for (TrainerPath first : {TrainerPath::kFast, TrainerPath::kAten}) {
    const TrainerPath second = first == TrainerPath::kFast ? TrainerPath::kAten : TrainerPath::kFast;
    auto a = Make(spec, first);
    for (int e = 0; e < 3; ++e) ExpectSameEpoch(want[e], *a->RunEpoch());
    auto state = a->SaveState();
    ASSERT_TRUE(state.ok());
    auto b = Make(spec, second);
    ASSERT_TRUE(b->RestoreState(*state).ok());
    for (int e = 3; e < 6; ++e) ExpectSameEpoch(want[e], *b->RunEpoch());
  }
}

TEST_F(FastPathTest, CancelStopsBetweenBatches) {
  JobSpec spec;
  spec.dataset.size = 4096;
  spec.batch_size = 8;
  auto t = Make(spec, TrainerPath::kFast);
  std::atomic<bool> cancel{true};
  auto r = t->RunEpoch(&cancel);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(t->epochs_done(), 0);
}

TEST_F(FastPathTest, SeedJobMatchesTheSeedProgram) {
  JobSpec spec;  // the tutorial's job: 300 epochs, seed 111
  spec.trainer_path = TrainerPath::kFast;
  auto reference = std::async(std::launch::async, [&] {
    return testing::RunReference(spec.seed, static_cast<int>(spec.epochs));
  });
  auto t = Make(spec, TrainerPath::kFast);
  std::vector<EpochReport> ours;
  for (int64_t e = 0; e < spec.epochs; ++e) ours.push_back(*t->RunEpoch());
  const testing::ReferenceRun ref = reference.get();
  ASSERT_EQ(ours.size(), ref.epochs.size());
  for (size_t e = 0; e < ours.size(); ++e) {
    EXPECT_NEAR(ours[e].last_loss_d, ref.epochs[e].loss_d, 1e-6) << "epoch " << e;
    EXPECT_NEAR(ours[e].last_loss_g, ref.epochs[e].loss_g, 1e-6) << "epoch " << e;
  }
}

}  // namespace
}  // namespace gantry
