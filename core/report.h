// EpochReport: what a trainer says about each epoch. Plain values, no
// LibTorch types, so that the server can convert it without torch headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gantry {

// Held-out quality of a generator (core/metrics.h).
struct EvalMetrics {
  double sliced_w1 = 0;  // lower is better
  double mmd = 0;        // lower is better
  double precision = 0;  // 0..1
  double recall = 0;     // 0..1
  double density = 0;    // about 1 when the distributions match
  double coverage = 0;   // 0..1
  // Tables (core/table_quality.h): mean per-column KS / TV distance to the
  // held-out rows, 0..1, lower is better. The point metrics above are 0.
  double column_distance = 0;
  // ring8 and grid25 (metrics.h's PopulatedModes): the modes holding at
  // least a quarter of their fair share of the generated points; 0 for the
  // other kinds.
  int64_t modes = 0;
  // Tables (core/table_eval.h, SDMetrics' definitions), 0..1, higher is
  // better: the overall quality (the mean of column_shapes and
  // column_pairs), the mean KS/TV complement, the mean pair trend score, the
  // mean missing-value similarity, range/category coverage (column_coverage) and
  // boundary/category adherence.
  double quality = 0;
  double column_shapes = 0;
  double column_pairs = 0;
  double missing_similarity = 0;
  double column_coverage = 0;  // not `coverage`, the point clouds' figure
  double adherence = 0;
  // Privacy, with held-out rows: the share of generated rows closer to a
  // training row than to every held-out row (about 0.5 without memorising),
  // the share equal to a training row, and the 5th percentiles of the
  // generated and of the held-out rows' distances to the training rows.
  std::optional<double> dcr_share;
  std::optional<double> exact_copies;
  std::optional<double> dcr_p5;
  std::optional<double> holdout_dcr_p5;
  // Utility, with spec.target: macro F1 or R^2 on held-out rows of a model
  // trained on generated rows, and of one trained on as many real rows.
  std::optional<double> utility;
  std::optional<double> utility_real;
};

// Something about the training a person should look at (core/alarms.h).
struct Alarm {
  std::string kind;     // "saturation", "non_finite" or "collapse"
  int64_t epoch = 0;    // the epoch it was first seen on
  std::string message;  // what was seen, with the figures
};

struct EpochReport {
  int64_t epoch = 0;         // 1-based: the number of epochs completed
  double loss_d = 0;         // mean discriminator loss over the epoch's batches
  double loss_g = 0;         // mean generator loss
  double last_loss_d = 0;    // the last batch's (what the seed program prints)
  double last_loss_g = 0;
  double d_real = 0;         // mean D(x) over the epoch's real samples
  double d_fake = 0;         // mean D(G(z)) over the discriminator step's fakes
  // metrics->sliced_w1 of this epoch's or the latest evaluation.
  double quality = 0;
  // Set on evaluated epochs: the first, every spec.eval_every-th, the last.
  std::optional<EvalMetrics> metrics;
  int64_t best_epoch = 0;    // the best evaluated epoch so far by spec.select_by (0: none)
  std::optional<EvalMetrics> best_metrics;
  std::string stop_reason;   // set when early stopping ended training after this epoch
  std::vector<Alarm> alarms; // every alarm raised up to this epoch, oldest first
  std::optional<double> sine_error;  // sine only: mean |y - sin x| of generated points
  double seconds = 0;        // wall time of the epoch's training (not reporting)
  std::string trainer_path;  // "fast" or "aten": the loop that trained this epoch
  int64_t dim = 0;           // dimension of the preview points
  std::vector<float> preview;  // preview_points generated points, row-major
};

}  // namespace gantry
