// Held-out quality metrics: how close a generator's points are to an
// evaluation set of real points that training never saw.
//
// - sliced_w1: the mean over 64 random unit directions (drawn once per
//   evaluation set, so that epochs compare) of the 1-D
//   Wasserstein-1 distance between the projected sets (any sizes; 0 for
//   equal sets, in the data's units).
// - mmd: the biased estimate of the squared maximum mean discrepancy with
//   an RBF kernel exp(-|x-y|^2 / (2 s^2)), s the median pairwise distance of
//   the evaluation set (fixed per job, so epochs compare); 0 for equal sets.
// - precision, recall, density, coverage: Naeem et al. 2020 ("Reliable
//   fidelity and diversity metrics for generative models", the prdc
//   package's definitions) with k = 5 nearest neighbours: precision is the
//   share of generated points inside some real point's k-NN ball, recall
//   the share of real points inside some generated point's ball, density
//   counts ball memberships / k (about 1 when the distributions match),
//   coverage the share of real points whose ball holds a generated point.
//
// Cost: O(m * n * dim) for m generated and n real points, plus O(n^2 * dim)
// once in the constructor.
//
// Thread-safety: an EvalSet is immutable after construction; Evaluate may be
// called from any thread with its own generator.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "core/report.h"
#include "core/spec.h"

namespace gantry {

inline constexpr int kNearestK = 5;
inline constexpr int64_t kSlicedW1Projections = 64;

// The value of `metric` in `m`.
double MetricValue(const EvalMetrics& m, Metric metric);

// How many of the K modes centred at `centers` ([K, 2], datasets.h's
// ModeCenters) hold at least a quarter of their fair share (m / K / 4) of
// the m points of `fake` ([m, 2]), each point counted for its nearest
// centre. A generator that collapsed onto a few modes fills only those; one
// that is merely blurred still reaches them all.
int64_t PopulatedModes(const at::Tensor& fake, const at::Tensor& centers);

class EvalSet {
 public:
  // `real`: [n, dim] float32, n >= 2 (with n <= kNearestK the balls use the
  // (n-1)-th neighbour). `gen` draws the sliced-W1 directions.
  EvalSet(const at::Tensor& real, at::Generator& gen);

  // `fake`: [m, dim] float32, m >= 2, the same dim. Deterministic.
  EvalMetrics Evaluate(const at::Tensor& fake) const;

  int64_t rows() const { return n_; }
  int64_t dim() const { return dim_; }

 private:
  int64_t n_ = 0, dim_ = 0;
  int k_ = kNearestK;
  std::vector<float> real_;      // [n, dim]
  std::vector<float> real_t_;    // [dim, n]
  std::vector<float> radius2_;   // each real point's squared k-NN distance
  std::vector<double> dirs_;     // [dim, kSlicedW1Projections] unit directions
  std::vector<float> sorted_;    // [kSlicedW1Projections, n] the real set's sorted projections
  double two_s2_ = 1;            // 2 s^2, s the median pairwise distance
  double kxx_mean_ = 0;          // mean kernel value over real x real
};

}  // namespace gantry
