#include "core/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <limits>

#include "core/quality.h"

namespace gantry {
namespace {

// Rows of [rows, dim] as columns: [dim, rows], so that distances from one
// point to all rows vectorise.
std::vector<float> Transpose(const float* x, int64_t rows, int64_t dim) {
  std::vector<float> t(static_cast<size_t>(rows * dim));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = 0; k < dim; ++k) t[static_cast<size_t>(k * rows + i)] = x[i * dim + k];
  }
  return t;
}

// out[j] = |x - y_j|^2 for the `m` columns of `yt` ([dim, m]).
void RowDist2(const float* x, const float* yt, int64_t m, int64_t dim, float* out) {
  std::fill(out, out + m, 0.0f);
  for (int64_t k = 0; k < dim; ++k) {
    const float xk = x[k];
    const float* yk = yt + k * m;
    for (int64_t j = 0; j < m; ++j) {
      const float d = xk - yk[j];
      out[j] += d * d;
    }
  }
}

// The k smallest values seen, ascending (k <= kNearestK).
struct Smallest {
  explicit Smallest(int k) : k(k) { std::fill(v, v + kNearestK, std::numeric_limits<float>::infinity()); }
  void Add(float x) {
    if (!(x < v[k - 1])) return;
    int i = k - 1;
    while (i > 0 && v[i - 1] > x) {
      v[i] = v[i - 1];
      --i;
    }
    v[i] = x;
  }
  int k;
  float v[kNearestK];
};

// Rows of distances computed per block: about this many floats.
constexpr int64_t kBlockFloats = 1 << 16;

// The sum of exp(-d2 / two_s2) over `count` squared distances, vectorised
// by ATen (Sleef), summed in double. Overwrites d2.
double KernelSum(float* d2, int64_t count, double two_s2) {
  if (count == 0) return 0;
  at::Tensor t = torch::from_blob(d2, {count}, torch::kFloat);
  t.mul_(static_cast<float>(-1.0 / two_s2)).exp_();
  return t.sum(torch::kDouble).item<double>();
}

// Over the rows of x [n, dim] against the columns of yt ([dim, m]), a block
// of rows at a time: calls row(i, d2) with the squared distances from row i
// to every column, then returns the mean kernel value over all pairs.
template <typename Row>
double ForEachRow(const float* x, int64_t n, const float* yt, int64_t m, int64_t dim, double two_s2,
                  Row row) {
  const int64_t rows = std::max<int64_t>(1, kBlockFloats / std::max<int64_t>(m, 1));
  std::vector<float> block(static_cast<size_t>(rows * m));
  double total = 0;
  for (int64_t i0 = 0; i0 < n; i0 += rows) {
    const int64_t i1 = std::min(n, i0 + rows);
    for (int64_t i = i0; i < i1; ++i) {
      float* d2 = &block[static_cast<size_t>((i - i0) * m)];
      RowDist2(x + i * dim, yt, m, dim, d2);
      row(i, d2);
    }
    total += KernelSum(block.data(), (i1 - i0) * m, two_s2);
  }
  return total / (static_cast<double>(n) * static_cast<double>(m));
}

// Each row's squared distance to its k-th nearest other row of the same set
// ([n, dim], xt its transpose), and the set's mean kernel value.
double NearestRadii2(const float* x, const float* xt, int64_t n, int64_t dim, int k, double two_s2,
                     std::vector<float>* radius2) {
  radius2->assign(static_cast<size_t>(n), 0.0f);
  return ForEachRow(x, n, xt, n, dim, two_s2, [&](int64_t i, const float* d2) {
    Smallest s(k);
    for (int64_t j = 0; j < n; ++j) {
      if (j != i) s.Add(d2[j]);
    }
    (*radius2)[static_cast<size_t>(i)] = s.v[k - 1];
  });
}

// 1-D Wasserstein-1 between two sorted samples of any sizes: the integral of
// |F^-1(t) - G^-1(t)| over the breakpoints i/m and j/n (exact in integers).
double W1Sorted(const float* a, int64_t m, const float* b, int64_t n) {
  int64_t i = 0, j = 0, t = 0;  // t in units of 1 / (m * n)
  double total = 0;
  while (i < m && j < n) {
    const int64_t next_a = (i + 1) * n, next_b = (j + 1) * m;
    const int64_t next = std::min(next_a, next_b);
    total += static_cast<double>(next - t) *
             std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[j]));
    t = next;
    if (next_a == next) ++i;
    if (next_b == next) ++j;
  }
  return total / (static_cast<double>(m) * static_cast<double>(n));
}

// Sorted projections of x [rows, dim] onto direction `p` of dirs.
void Project(const float* x, int64_t rows, int64_t dim, const std::vector<double>& dirs, int64_t p,
             std::vector<float>* out, std::vector<uint32_t>& keys, std::vector<uint32_t>& tmp) {
  out->resize(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (int64_t k = 0; k < dim; ++k) s += x[i * dim + k] * dirs[k * kSlicedW1Projections + p];
    (*out)[static_cast<size_t>(i)] = static_cast<float>(s);
  }
  RadixSort(*out, keys, tmp);
}

}  // namespace

double MetricValue(const EvalMetrics& m, Metric metric) {
  switch (metric) {
    case Metric::kSlicedW1: return m.sliced_w1;
    case Metric::kMmd: return m.mmd;
    case Metric::kPrecision: return m.precision;
    case Metric::kRecall: return m.recall;
    case Metric::kDensity: return m.density;
    case Metric::kCoverage: return m.coverage;
    case Metric::kColumnDistance: return m.column_distance;
    case Metric::kQuality: return m.quality;
    case Metric::kColumnShapes: return m.column_shapes;
    case Metric::kColumnPairs: return m.column_pairs;
    case Metric::kUtility: return m.utility.value_or(std::numeric_limits<double>::quiet_NaN());
    case Metric::kDcrShare: return m.dcr_share.value_or(std::numeric_limits<double>::quiet_NaN());
  }
  return 0;
}

EvalSet::EvalSet(const at::Tensor& real, at::Generator& gen) {
  c10::InferenceMode guard;
  const at::Tensor r = real.to(torch::kFloat).contiguous();
  n_ = r.size(0);
  dim_ = r.size(1);
  real_.assign(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  real_t_ = Transpose(real_.data(), n_, dim_);
  k_ = static_cast<int>(std::min<int64_t>(kNearestK, n_ - 1));

  // The median pairwise distance (off the diagonal) sets the kernel's width:
  // over the first kMedianRows rows (the set is in random order).
  constexpr int64_t kMedianRows = 1024;
  const int64_t mr = std::min(n_, kMedianRows);
  std::vector<float> d;
  d.reserve(static_cast<size_t>(mr * (mr - 1) / 2));
  std::vector<float> row(static_cast<size_t>(n_));
  for (int64_t i = 0; i < mr; ++i) {
    RowDist2(&real_[i * dim_], real_t_.data(), n_, dim_, row.data());
    for (int64_t j = i + 1; j < mr; ++j) d.push_back(row[static_cast<size_t>(j)]);
  }
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  const double median2 = d.empty() ? 1.0 : d[d.size() / 2];
  two_s2_ = median2 > 0 ? 2 * median2 : 2.0;
  kxx_mean_ = NearestRadii2(real_.data(), real_t_.data(), n_, dim_, k_, two_s2_, &radius2_);

  torch::Tensor dirs = torch::randn({dim_, kSlicedW1Projections}, gen);
  dirs = (dirs / dirs.norm(2, 0, true).clamp_min(1e-12)).to(torch::kDouble).contiguous();
  dirs_.assign(dirs.data_ptr<double>(), dirs.data_ptr<double>() + dirs.numel());
  sorted_.resize(static_cast<size_t>(kSlicedW1Projections * n_));
  std::vector<float> proj;
  std::vector<uint32_t> keys, tmp;
  for (int64_t p = 0; p < kSlicedW1Projections; ++p) {
    Project(real_.data(), n_, dim_, dirs_, p, &proj, keys, tmp);
    std::copy(proj.begin(), proj.end(), sorted_.begin() + p * n_);
  }
}

EvalMetrics EvalSet::Evaluate(const at::Tensor& fake) const {
  c10::InferenceMode guard;
  const at::Tensor f = fake.to(torch::kFloat).contiguous();
  const int64_t m = f.size(0);
  const float* y = f.data_ptr<float>();
  EvalMetrics out;

  std::vector<float> proj;
  std::vector<uint32_t> keys, tmp;
  double w1 = 0;
  for (int64_t p = 0; p < kSlicedW1Projections; ++p) {
    Project(y, m, dim_, dirs_, p, &proj, keys, tmp);
    w1 += W1Sorted(proj.data(), m, &sorted_[p * n_], n_);
  }
  out.sliced_w1 = w1 / kSlicedW1Projections;

  // The generated points' own radii (for recall) and their kernel mean; then
  // one pass over real x generated distances gives the rest.
  const std::vector<float> yt = Transpose(y, m, dim_);
  const int kf = static_cast<int>(std::min<int64_t>(kNearestK, m - 1));
  std::vector<float> fake_radius2;
  const double kyy = NearestRadii2(y, yt.data(), m, dim_, kf, two_s2_, &fake_radius2);
  std::vector<uint8_t> fake_in_real_ball(static_cast<size_t>(m), 0);
  int64_t memberships = 0, covered = 0, recalled = 0;
  const double kxy = ForEachRow(real_.data(), n_, yt.data(), m, dim_, two_s2_,
                                [&](int64_t i, const float* d2) {
    const float ri2 = radius2_[static_cast<size_t>(i)];
    const float* fr2 = fake_radius2.data();
    uint8_t* flags = fake_in_real_ball.data();
    int64_t in_ball = 0;
    int in_fake_ball = 0;
    for (int64_t j = 0; j < m; ++j) {
      const uint8_t in = d2[j] < ri2;
      in_ball += in;
      flags[j] |= in;
      in_fake_ball |= d2[j] < fr2[j];
    }
    memberships += in_ball;
    covered += in_ball > 0;
    recalled += in_fake_ball != 0;
  });
  out.mmd = std::max(0.0, kxx_mean_ + kyy - 2 * kxy);

  int64_t precise = 0;
  for (uint8_t c : fake_in_real_ball) precise += c;
  out.precision = static_cast<double>(precise) / static_cast<double>(m);
  out.recall = static_cast<double>(recalled) / static_cast<double>(n_);
  out.density = static_cast<double>(memberships) / (static_cast<double>(k_) * static_cast<double>(m));
  out.coverage = static_cast<double>(covered) / static_cast<double>(n_);
  return out;
}

int64_t PopulatedModes(const at::Tensor& fake, const at::Tensor& centers) {
  const int64_t k = centers.size(0), m = fake.size(0);
  const at::Tensor nearest = at::cdist(fake.to(at::kFloat), centers).argmin(1);
  const at::Tensor counts = at::bincount(nearest, {}, k);
  // counts >= m / (4k), in integers.
  return (counts * (4 * k) >= m).sum().item<int64_t>();
}

}  // namespace gantry
