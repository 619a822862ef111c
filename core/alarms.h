// Alarms: what a person should look at in a job's training, seen from its
// epoch reports. Each kind is raised at most once per job, on the first
// epoch it is seen:
// - "saturation": the discriminator's mean outputs on real and on generated
//   points both stayed within 0.01 of 0 or 1 for kSaturationEpochs epochs in
//   a row (bce; non_saturating through the sigmoid of its logits). Its
//   gradients then vanish and the generator learns nothing.
// - "non_finite": a loss of the epoch is NaN or infinite.
// - "collapse" (ring8 and grid25, whose modes are known): at two
//   evaluations in a row, both at or after epoch max(kCollapseWarmup,
//   epochs / 4), the generated points fill at most half of the modes
//   (EvalMetrics::modes): the generator dropped modes. Other kinds have no
//   such alarm: a fall in coverage alone is noise as often as collapse (the
//   seed job's swings between 0.03 and 0.5).
//
// The monitor's state is a few words saved with the trainer's state, so a
// resumed job raises the same alarms on the same epochs as one never
// stopped.
//
// Thread-safety: plain values; one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/report.h"
#include "core/spec.h"
#include "core/status.h"

namespace at {
class Tensor;
}

namespace gantry {

inline constexpr int64_t kSaturationEpochs = 10;
inline constexpr double kSaturationMargin = 0.01;
inline constexpr int64_t kCollapseWarmup = 30;

class AlarmMonitor {
 public:
  // Looks at the epoch's report (losses, D outputs and any metrics) and sets
  // r->alarms to every alarm raised so far, this epoch's included.
  void Observe(const JobSpec& spec, EpochReport* r);

  // The state as int64 words (doubles bit-cast), saved by the trainers as
  // the tensor "alarms".
  std::vector<int64_t> Words() const;
  // The state from a trainer state's tensors (tensor_file.h) saved after
  // `epoch` epochs: none raised when it holds no "alarms" (saved before
  // alarms existed); DATA_LOSS for a malformed record or one naming epochs
  // past `epoch`. On error the monitor is unchanged.
  Status Restore(const std::map<std::string, at::Tensor>& state, int64_t epoch);

 private:
  enum Kind { kSaturation, kNonFinite, kCollapse, kKinds };
  // A raised alarm: its epoch (0: not raised) and the figures its message
  // quotes, so that the message can be rebuilt from the saved state.
  struct Raised {
    int64_t epoch = 0;
    double a = 0, b = 0, c = 0;
  };
  Alarm Describe(Kind kind) const;

  int64_t pinned_run_ = 0;      // epochs in a row with saturated outputs
  int64_t few_modes_run_ = 0;   // evaluations in a row filling at most half of the modes
  Raised raised_[kKinds];
};

}  // namespace gantry
