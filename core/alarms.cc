#include "core/alarms.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/datasets.h"
#include "core/tensor_file.h"

namespace gantry {
namespace {

// The probability a mean output stands for: bce's outputs are
// probabilities, non_saturating's are logits.
double AsProbability(Loss loss, double v) {
  return loss == Loss::kNonSaturating ? 1 / (1 + std::exp(-v)) : v;
}

bool Pinned(double p) { return p <= kSaturationMargin || p >= 1 - kSaturationMargin; }

// %g, with NaN as "nan" whatever its sign bit.
std::string Plain(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

constexpr size_t kFixedWords = 2;  // the pinned run, the few-modes run
constexpr size_t kWordsPerKind = 4;

}  // namespace

void AlarmMonitor::Observe(const JobSpec& spec, EpochReport* r) {
  const int64_t e = r->epoch;
  const bool sigmoid_game = spec.loss == Loss::kBce || spec.loss == Loss::kNonSaturating;
  const double p_real = AsProbability(spec.loss, r->d_real);
  const double p_fake = AsProbability(spec.loss, r->d_fake);
  pinned_run_ = sigmoid_game && Pinned(p_real) && Pinned(p_fake) ? pinned_run_ + 1 : 0;
  if (pinned_run_ >= kSaturationEpochs && raised_[kSaturation].epoch == 0) {
    raised_[kSaturation] = {e, p_real, p_fake, 0};
  }
  const bool finite = std::isfinite(r->loss_d) && std::isfinite(r->loss_g) &&
                      std::isfinite(r->last_loss_d) && std::isfinite(r->last_loss_g);
  if (!finite && raised_[kNonFinite].epoch == 0) {
    raised_[kNonFinite] = {e, r->loss_d, r->loss_g, 0};
  }
  const int64_t modes = ModeCount(spec.dataset.kind);
  if (r->metrics && modes > 0) {
    const bool warm = e >= std::max(kCollapseWarmup, spec.epochs / 4);
    few_modes_run_ = warm && r->metrics->modes * 2 <= modes ? few_modes_run_ + 1 : 0;
    if (few_modes_run_ >= 2 && raised_[kCollapse].epoch == 0) {
      raised_[kCollapse] = {e, static_cast<double>(r->metrics->modes), static_cast<double>(modes), 0};
    }
  }
  // Oldest first; two raised on the same epoch in the kinds' order.
  r->alarms.clear();
  for (int k = 0; k < kKinds; ++k) {
    if (raised_[k].epoch > 0) r->alarms.push_back(Describe(static_cast<Kind>(k)));
  }
  std::stable_sort(r->alarms.begin(), r->alarms.end(),
                   [](const Alarm& a, const Alarm& b) { return a.epoch < b.epoch; });
}

Alarm AlarmMonitor::Describe(Kind kind) const {
  const Raised& x = raised_[kind];
  char buf[320];
  switch (kind) {
    case kSaturation:
      std::snprintf(buf, sizeof buf,
                    "the discriminator's outputs stayed pinned for %lld epochs in a row (mean "
                    "D(real) %.4f, D(fake) %.4f): its gradients vanish and the generator learns "
                    "nothing; a lower learning_rate may help",
                    static_cast<long long>(kSaturationEpochs), x.a, x.b);
      return {"saturation", x.epoch, buf};
    case kNonFinite:
      std::snprintf(buf, sizeof buf, "losses became non-finite at epoch %lld (loss_d %s, loss_g %s)",
                    static_cast<long long>(x.epoch), Plain(x.a).c_str(), Plain(x.b).c_str());
      return {"non_finite", x.epoch, buf};
    default:
      std::snprintf(buf, sizeof buf,
                    "the generated points fill only %.0f of the %.0f modes at two evaluations in a "
                    "row (a mode counts with a quarter of its fair share): the generator collapsed "
                    "onto a few of them",
                    x.a, x.b);
      return {"collapse", x.epoch, buf};
  }
}

std::vector<int64_t> AlarmMonitor::Words() const {
  std::vector<int64_t> w = {pinned_run_, few_modes_run_};
  for (const Raised& x : raised_) {
    w.insert(w.end(), {x.epoch, DoubleBits(x.a), DoubleBits(x.b), DoubleBits(x.c)});
  }
  return w;
}

Status AlarmMonitor::Restore(const std::map<std::string, at::Tensor>& state, int64_t epoch) {
  auto words = Int64Words(state, "alarms");
  if (!words.ok()) {
    if (words.status().code() != StatusCode::kNotFound) return words.status();
    *this = AlarmMonitor();
    return Status::Ok();
  }
  const std::vector<int64_t>& w = *words;
  if (w.size() != kFixedWords + kWordsPerKind * kKinds) {
    return Status::DataLoss("trainer state holds a malformed alarm record");
  }
  AlarmMonitor m;
  m.pinned_run_ = w[0];
  m.few_modes_run_ = w[1];
  bool ok = m.pinned_run_ >= 0 && m.pinned_run_ <= epoch && m.few_modes_run_ >= 0 &&
            m.few_modes_run_ <= epoch;
  for (int k = 0; k < kKinds; ++k) {
    const int64_t* x = &w[kFixedWords + kWordsPerKind * k];
    m.raised_[k] = {x[0], BitsDouble(x[1]), BitsDouble(x[2]), BitsDouble(x[3])};
    ok = ok && x[0] >= 0 && x[0] <= epoch;
  }
  if (!ok) return Status::DataLoss("trainer state's alarm record names epochs past its own");
  *this = m;
  return Status::Ok();
}

}  // namespace gantry
