#include "core/quality.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace gantry {
namespace {

// Order-preserving unsigned key of a float; every NaN sorts last, as in
// at::sort.
uint32_t Key(float v) {
  if (std::isnan(v)) return std::numeric_limits<uint32_t>::max();
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u >> 31) ? ~u : u | 0x80000000u;
}

float FromKey(uint32_t k) {
  if (k == std::numeric_limits<uint32_t>::max()) return std::numeric_limits<float>::quiet_NaN();
  const uint32_t u = (k >> 31) ? k & 0x7fffffffu : ~k;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

}  // namespace

// An LSD radix sort on 8-bit digits that skips the digits all keys share.
void RadixSort(std::vector<float>& v, std::vector<uint32_t>& keys, std::vector<uint32_t>& tmp) {
  const size_t n = v.size();
  if (n == 0) return;
  keys.resize(n);
  tmp.resize(n);
  uint32_t counts[4][256] = {};
  for (size_t i = 0; i < n; ++i) {
    keys[i] = Key(v[i]);
    for (int d = 0; d < 4; ++d) ++counts[d][(keys[i] >> (8 * d)) & 0xff];
  }
  for (int d = 0; d < 4; ++d) {
    if (counts[d][(keys[0] >> (8 * d)) & 0xff] == n) continue;  // one value: nothing to do
    uint32_t offset = 0;
    for (uint32_t& c : counts[d]) {
      const uint32_t here = c;
      c = offset;
      offset += here;
    }
    for (size_t i = 0; i < n; ++i) tmp[counts[d][(keys[i] >> (8 * d)) & 0xff]++] = keys[i];
    keys.swap(tmp);
  }
  for (size_t i = 0; i < n; ++i) v[i] = FromKey(keys[i]);
}

double SlicedWasserstein1(const at::Tensor& a, const at::Tensor& b, int64_t projections,
                          at::Generator& gen) {
  c10::InferenceMode guard;
  torch::Tensor dirs = torch::randn({a.size(1), projections}, gen);
  dirs = (dirs / dirs.norm(2, 0, true).clamp_min(1e-12)).to(torch::kDouble).contiguous();
  const torch::Tensor pa = a.to(torch::kDouble).contiguous();
  const torch::Tensor pb = b.to(torch::kDouble).contiguous();
  const int64_t m = pa.size(0), dim = pa.size(1);
  const double* xa = pa.data_ptr<double>();
  const double* xb = pb.data_ptr<double>();
  const double* d = dirs.data_ptr<double>();
  // Projections are computed in double and sorted as floats (a relative
  // 1e-7 on a distance estimate; half the work of sorting doubles).
  std::vector<float> ya(m), yb(m);
  std::vector<uint32_t> keys, tmp;
  double total = 0;
  for (int64_t j = 0; j < projections; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      double sa = 0, sb = 0;
      for (int64_t k = 0; k < dim; ++k) {
        sa += xa[i * dim + k] * d[k * projections + j];
        sb += xb[i * dim + k] * d[k * projections + j];
      }
      ya[i] = static_cast<float>(sa);
      yb[i] = static_cast<float>(sb);
    }
    RadixSort(ya, keys, tmp);
    RadixSort(yb, keys, tmp);
    for (int64_t i = 0; i < m; ++i) {
      total += std::fabs(static_cast<double>(ya[i]) - static_cast<double>(yb[i]));
    }
  }
  return total / static_cast<double>(m * projections);
}

double SineError(const at::Tensor& points) {
  c10::InferenceMode guard;
  torch::Tensor p = points.to(torch::kDouble);
  return (p.select(1, 1) - torch::sin(p.select(1, 0))).abs().mean().item<double>();
}

}  // namespace gantry
