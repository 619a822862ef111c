// AlarmMonitor on hand-made epoch reports: when each alarm is raised, that
// it is raised once, the order, and its state saved and restored.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "core/alarms.h"

namespace gantry {
namespace {

EpochReport Epoch(int64_t e, double d_real, double d_fake, double loss_d = 0.7, double loss_g = 0.7) {
  EpochReport r;
  r.epoch = e;
  r.d_real = d_real;
  r.d_fake = d_fake;
  r.loss_d = r.last_loss_d = loss_d;
  r.loss_g = r.last_loss_g = loss_g;
  return r;
}

EpochReport Evaluated(int64_t e, double coverage) {
  EpochReport r = Epoch(e, 0.5, 0.5);
  r.metrics = EvalMetrics{};
  r.metrics->coverage = coverage;
  return r;
}

std::vector<std::string> Kinds(const EpochReport& r) {
  std::vector<std::string> out;
  for (const Alarm& a : r.alarms) out.push_back(a.kind + "@" + std::to_string(a.epoch));
  return out;
}

TEST(AlarmMonitor, SaturationNeedsTenPinnedEpochsInARow) {
  JobSpec spec;
  AlarmMonitor m;
  int64_t e = 0;
  // Nine pinned epochs, one that is not: the run starts again.
  for (int i = 0; i < 9; ++i) {
    EpochReport r = Epoch(++e, 1.0, 0.999);
    m.Observe(spec, &r);
    EXPECT_TRUE(r.alarms.empty()) << e;
  }
  EpochReport loose = Epoch(++e, 0.9, 0.999);
  m.Observe(spec, &loose);
  EXPECT_TRUE(loose.alarms.empty());
  // Pinned at 1 for real and at 0 for fakes counts too (D wins outright).
  for (int i = 0; i < 9; ++i) {
    EpochReport r = Epoch(++e, 0.995, 0.004);
    m.Observe(spec, &r);
    EXPECT_TRUE(r.alarms.empty()) << e;
  }
  EpochReport tenth = Epoch(++e, 0.995, 0.004);
  m.Observe(spec, &tenth);
  ASSERT_EQ(Kinds(tenth), std::vector<std::string>{"saturation@20"});
  EXPECT_NE(tenth.alarms[0].message.find("10 epochs in a row"), std::string::npos) << tenth.alarms[0].message;
  // Raised once: later pinned epochs carry the same alarm, no new one.
  EpochReport later = Epoch(++e, 1, 1);
  m.Observe(spec, &later);
  EXPECT_EQ(Kinds(later), std::vector<std::string>{"saturation@20"});
}

TEST(AlarmMonitor, SaturationOnlyForSigmoidGames) {
  JobSpec wgan;
  wgan.loss = Loss::kWganGp;  // a critic's scores are not probabilities
  JobSpec logits;
  logits.loss = Loss::kNonSaturating;  // logits: sigmoid(6) > 0.99
  AlarmMonitor w, n;
  for (int64_t e = 1; e <= 12; ++e) {
    EpochReport a = Epoch(e, 1, 1), b = Epoch(e, 6, -7);
    w.Observe(wgan, &a);
    n.Observe(logits, &b);
    EXPECT_TRUE(a.alarms.empty());
    EXPECT_EQ(b.alarms.size(), e >= 10 ? 1u : 0u) << e;
  }
}

TEST(AlarmMonitor, NonFiniteLossesNameTheEpoch) {
  JobSpec spec;
  AlarmMonitor m;
  EpochReport ok = Epoch(1, 0.5, 0.5);
  m.Observe(spec, &ok);
  EXPECT_TRUE(ok.alarms.empty());
  EpochReport bad = Epoch(2, 0.5, 0.5, std::numeric_limits<double>::quiet_NaN(), 0.7);
  m.Observe(spec, &bad);
  ASSERT_EQ(Kinds(bad), std::vector<std::string>{"non_finite@2"});
  EXPECT_NE(bad.alarms[0].message.find("at epoch 2"), std::string::npos) << bad.alarms[0].message;
  EXPECT_NE(bad.alarms[0].message.find("nan"), std::string::npos) << bad.alarms[0].message;
  EpochReport inf = Epoch(3, 0.5, 0.5, 0.7, std::numeric_limits<double>::infinity());
  m.Observe(spec, &inf);
  EXPECT_EQ(Kinds(inf), std::vector<std::string>{"non_finite@2"});
}

EpochReport WithModes(int64_t e, int64_t modes) {
  EpochReport r = Evaluated(e, 0.1);
  r.metrics->modes = modes;
  return r;
}

TEST(AlarmMonitor, CollapseOnRing8IsHalfTheModesTwiceAfterWarmUp) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kRing8;
  spec.epochs = 100;  // warm-up: max(30, 100 / 4)
  AlarmMonitor m;
  // Early evaluations do not count; one good evaluation breaks the run.
  for (auto [e, modes] : std::vector<std::pair<int64_t, int64_t>>{{10, 1}, {20, 2}, {30, 3}, {40, 6}, {50, 4}}) {
    EpochReport r = WithModes(e, modes);
    m.Observe(spec, &r);
    EXPECT_TRUE(r.alarms.empty()) << e;
  }
  EpochReport second = WithModes(60, 4);
  m.Observe(spec, &second);
  ASSERT_EQ(Kinds(second), std::vector<std::string>{"collapse@60"});
  EXPECT_NE(second.alarms[0].message.find("fill only 4 of the 8 modes"), std::string::npos)
      << second.alarms[0].message;
  // A long job warms up for a quarter of its epochs; grid25's half is 12.
  JobSpec grid;
  grid.dataset.kind = DatasetKind::kGrid25;
  grid.epochs = 400;
  AlarmMonitor g;
  for (auto [e, modes] : std::vector<std::pair<int64_t, int64_t>>{{80, 5}, {90, 5}, {100, 13}, {110, 12}}) {
    EpochReport r = WithModes(e, modes);
    g.Observe(grid, &r);
    EXPECT_TRUE(r.alarms.empty()) << e;
  }
  EpochReport r = WithModes(120, 12);
  g.Observe(grid, &r);
  EXPECT_EQ(Kinds(r), std::vector<std::string>{"collapse@120"});
}

TEST(AlarmMonitor, NoCollapseForKindsWithoutKnownModes) {
  // Coverage swings (the seed job's from 0.5 to 0.03 between two
  // evaluations): no alarm from it.
  for (DatasetKind kind : {DatasetKind::kSine, DatasetKind::kUser, DatasetKind::kTable}) {
    JobSpec spec;
    spec.dataset.kind = kind;
    AlarmMonitor m;
    int64_t e = 0;
    for (double cov : {0.9, 0.5, 0.03, 0.02, 0.01}) {
      EpochReport r = Evaluated(e += 40, cov);
      m.Observe(spec, &r);
      EXPECT_TRUE(r.alarms.empty()) << DatasetKindName(kind) << " " << e;
    }
  }
}

TEST(AlarmMonitor, OldestFirstAndSavedStateRestores) {
  JobSpec spec;
  spec.dataset.kind = DatasetKind::kRing8;
  spec.epochs = 40;
  AlarmMonitor m;
  for (int64_t e : {30, 35}) {  // collapse at 35
    EpochReport r = WithModes(e, 2);
    m.Observe(spec, &r);
  }
  EpochReport r3 = Epoch(36, 0.5, 0.5, std::numeric_limits<double>::infinity());
  m.Observe(spec, &r3);
  EXPECT_EQ(Kinds(r3), (std::vector<std::string>{"collapse@35", "non_finite@36"}));
  // Saved in the middle of a run of pinned epochs, restored: the run goes on.
  for (int64_t e = 37; e <= 40; ++e) {
    EpochReport r = Epoch(e, 1, 1);
    m.Observe(spec, &r);
  }

  std::map<std::string, at::Tensor> state = {{"alarms", torch::tensor(m.Words(), torch::kLong)}};
  AlarmMonitor restored;
  ASSERT_TRUE(restored.Restore(state, 40).ok());
  for (int64_t e = 41; e <= 46; ++e) {
    EpochReport a = Epoch(e, 1, 1), b = Epoch(e, 1, 1);
    m.Observe(spec, &a);
    restored.Observe(spec, &b);
    ASSERT_EQ(Kinds(a), Kinds(b)) << e;
    for (size_t i = 0; i < a.alarms.size(); ++i) EXPECT_EQ(a.alarms[i].message, b.alarms[i].message);
  }
  EpochReport last = Epoch(47, 1, 1);
  restored.Observe(spec, &last);
  EXPECT_EQ(Kinds(last), (std::vector<std::string>{"collapse@35", "non_finite@36", "saturation@46"}));

  // A state from before alarms: none raised. Malformed or from the future: refused.
  AlarmMonitor fresh;
  EXPECT_TRUE(fresh.Restore({}, 3).ok());
  EXPECT_EQ(restored.Restore(state, 34).code(), StatusCode::kDataLoss);  // names epoch 35 > 34
  state["alarms"] = torch::tensor({int64_t{1}, int64_t{2}}, torch::kLong);
  EXPECT_EQ(restored.Restore(state, 40).code(), StatusCode::kDataLoss);
  state["alarms"] = torch::zeros({14}, torch::kFloat);
  EXPECT_EQ(restored.Restore(state, 40).code(), StatusCode::kDataLoss);
  // A refused restore changed nothing.
  EpochReport c = Epoch(48, 0.5, 0.5);
  restored.Observe(spec, &c);
  EXPECT_EQ(Kinds(c), (std::vector<std::string>{"collapse@35", "non_finite@36", "saturation@46"}));
}

}  // namespace
}  // namespace gantry
