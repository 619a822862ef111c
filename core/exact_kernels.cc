#include "core/exact_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>

extern "C" {
// The Fortran BLAS entry point ATen calls (cpublas::gemm), resolved to the
// same library (libblas.so.3, Debian's OpenBLAS alternative).
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
// The Sleef routine behind Vectorized<float>::exp() under AVX2 (libsleef.so.3,
// the library LibTorch links).
__m256 Sleef_expf8_u10(__m256 x);
}

namespace gantry::exact {
namespace {

// ATen's Vectorized<float> under AVX2, for the sums.
struct Vec {
  __m256 v;
  static Vec Zero() { return {_mm256_setzero_ps()}; }
  static Vec Load(const float* p) { return {_mm256_loadu_ps(p)}; }
};
inline Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
inline float Zero(float) { return 0.f; }
inline Vec Zero(Vec) { return Vec::Zero(); }

int64_t CeilLog2(int64_t x) {
  if (x <= 2) return 1;
  return 64 - __builtin_clzll(static_cast<uint64_t>(x) - 1);
}

// multi_row_sum: nrows interleaved running sums with the cascade levels.
template <typename T, int64_t nrows, typename Load>
std::array<T, nrows> MultiRowSum(int64_t size, Load load) {
  constexpr int64_t num_levels = 4;
  const int64_t level_power = std::max(int64_t{4}, CeilLog2(size) / num_levels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  T acc[num_levels][nrows];
  for (auto& level : acc)
    for (auto& a : level) a = Zero(T{});
  int64_t i = 0;
  for (; i + level_step <= size;) {
    for (int64_t j = 0; j < level_step; ++j, ++i) {
      for (int64_t k = 0; k < nrows; ++k) acc[0][k] = acc[0][k] + load(i, k);
    }
    for (int64_t j = 1; j < num_levels; ++j) {
      for (int64_t k = 0; k < nrows; ++k) {
        acc[j][k] = acc[j][k] + acc[j - 1][k];
        acc[j - 1][k] = Zero(T{});
      }
      const int64_t mask = level_mask << (j * level_power);
      if ((i & mask) != 0) break;
    }
  }
  for (; i < size; ++i) {
    for (int64_t k = 0; k < nrows; ++k) acc[0][k] = acc[0][k] + load(i, k);
  }
  for (int64_t j = 1; j < num_levels; ++j) {
    for (int64_t k = 0; k < nrows; ++k) acc[0][k] = acc[0][k] + acc[j][k];
  }
  std::array<T, nrows> ret;
  for (int64_t k = 0; k < nrows; ++k) ret[k] = acc[0][k];
  return ret;
}

// row_sum: four interleaved partial sums, then the tail, then the partials.
template <typename T, typename Load>
T RowSum(int64_t size, Load load) {
  constexpr int64_t ilp = 4;
  const int64_t size_ilp = size / ilp;
  auto partial = MultiRowSum<T, ilp>(size_ilp, [&](int64_t i, int64_t k) { return load(i * ilp + k); });
  for (int64_t i = size_ilp * ilp; i < size; ++i) partial[0] = partial[0] + load(i);
  for (int64_t k = 1; k < ilp; ++k) partial[0] = partial[0] + partial[k];
  return partial[0];
}

void StoreLanes(Vec v, float* out) {
  alignas(32) float lanes[kVecWidth];
  _mm256_store_ps(lanes, v.v);
  // CastStoreAccumulate into an output filled with zeros.
  for (int64_t k = 0; k < kVecWidth; ++k) out[k] = 0.f + lanes[k];
}

}  // namespace

namespace {
std::atomic<bool> gemm_timing{false};
thread_local double gemm_seconds = 0;
}  // namespace

void SetGemmTiming(bool on) { gemm_timing.store(on, std::memory_order_relaxed); }
double GemmSeconds() { return gemm_seconds; }

bool CpuSupported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

float SumContiguous(const float* x, int64_t n) {
  if (n >= kVecWidth) {
    // vectorized_inner_sum; each vector load adds its lanes to zero
    // (load_reduce_vec with one value per lane).
    const int64_t vec_size = n / kVecWidth;
    const Vec zero = Vec::Zero();
    const Vec vec_acc = RowSum<Vec>(vec_size, [&](int64_t i) { return zero + Vec::Load(x + i * kVecWidth); });
    float final_acc = 0.f;
    for (int64_t k = vec_size * kVecWidth; k < n; ++k) final_acc += x[k];
    alignas(32) float lanes[kVecWidth];
    _mm256_store_ps(lanes, vec_acc.v);
    for (int64_t k = 0; k < kVecWidth; ++k) final_acc += lanes[k];
    return 0.f + final_acc;
  }
  return 0.f + RowSum<float>(n, [&](int64_t i) { return x[i]; });
}

void SumRows(const float* x, int64_t rows, int64_t cols, float* out) {
  if (cols == 1) {  // TensorIterator coalesces [rows, 1] into one dimension
    out[0] = SumContiguous(x, rows);
    return;
  }
  if (cols >= kVecWidth) {  // vectorized_outer_sum
    constexpr int64_t nrows = 4;
    int64_t j = 0;
    for (; j + nrows * kVecWidth <= cols; j += nrows * kVecWidth) {
      const auto sums = MultiRowSum<Vec, nrows>(
          rows, [&](int64_t i, int64_t k) { return Vec::Load(x + i * cols + j + k * kVecWidth); });
      for (int64_t k = 0; k < nrows; ++k) StoreLanes(sums[k], out + j + k * kVecWidth);
    }
    for (; j + kVecWidth <= cols; j += kVecWidth) {
      StoreLanes(RowSum<Vec>(rows, [&](int64_t i) { return Vec::Load(x + i * cols + j); }), out + j);
    }
    for (; j < cols; ++j) out[j] = 0.f + RowSum<float>(rows, [&](int64_t i) { return x[i * cols + j]; });
    return;
  }
  // scalar_outer_sum
  constexpr int64_t nrows = 4;
  int64_t j = 0;
  for (; j + (nrows - 1) < cols; j += nrows) {
    const auto sums =
        MultiRowSum<float, nrows>(rows, [&](int64_t i, int64_t k) { return x[i * cols + j + k]; });
    for (int64_t k = 0; k < nrows; ++k) out[j + k] = 0.f + sums[k];
  }
  for (; j < cols; ++j) out[j] = 0.f + RowSum<float>(rows, [&](int64_t i) { return x[i * cols + j]; });
}

void Sigmoid(const float* x, float* y, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.f);
  int64_t i = 0;
  for (; i + 2 * kVecWidth <= n; i += 2 * kVecWidth) {
    for (int64_t h = 0; h < 2; ++h) {
      __m256 a = _mm256_loadu_ps(x + i + h * kVecWidth);
      a = _mm256_sub_ps(zero, a);
      a = Sleef_expf8_u10(a);
      a = _mm256_add_ps(one, a);
      a = _mm256_div_ps(one, a);
      _mm256_storeu_ps(y + i + h * kVecWidth, a);
    }
  }
  for (; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
}

void ReluInPlace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.f);
}

float BceMean(const float* out, int64_t n, int64_t ones, float* scratch, bool* in_range) {
  *in_range = true;
  for (int64_t i = 0; i < n; ++i) {
    const float x = out[i];
    if (!(x >= 0 && x <= 1)) *in_range = false;
    const float t = i < ones ? 1.f : 0.f;
    scratch[i] = (t - 1.f) * std::max(std::log(1.f - x), -100.f) - t * std::max(std::log(x), -100.f);
  }
  return SumContiguous(scratch, n) / static_cast<float>(n);
}

void BceSigmoidBackward(const float* out, int64_t n, int64_t ones, float* grad_logits) {
  const float eps = static_cast<float>(1e-12);
  const float numel = static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) {
    const float x = out[i];
    const float t = i < ones ? 1.f : 0.f;
    float g = 1.f * (x - t) / std::max((1.f - x) * x, eps);
    g = g / numel;
    grad_logits[i] = g * (1.f - x) * x;
  }
}

void DropoutReluBackward(float* grad, const float* mask, const float* relu_out, int64_t n) {
  if (mask != nullptr) {
    for (int64_t i = 0; i < n; ++i) grad[i] = grad[i] * mask[i];
  }
  for (int64_t i = 0; i < n; ++i) grad[i] = relu_out[i] <= 0.f ? 0.f : grad[i];
}

void Mul(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

MatView Contiguous(const float* p, int64_t rows, int64_t cols) {
  return MatView{p, rows, cols, std::max<int64_t>(cols, 1), 1};
}

bool Addmm(float* result, int64_t rows, int64_t cols, MatView m1, MatView m2, float beta,
           std::vector<float>* scratch) {
  // addmm_impl_cpu_ (aten/src/ATen/native/LinearAlgebra.cpp), for a
  // contiguous result.
  const int64_t r_s0 = std::max<int64_t>(cols, 1), r_s1 = 1;
  bool transpose_c;
  if (r_s0 == 1 && (cols == 1 || r_s1 >= std::max<int64_t>(1, rows))) {
    transpose_c = false;
  } else if (r_s1 == 1 && (rows == 1 || r_s0 >= std::max<int64_t>(1, cols))) {
    std::swap(m1, m2);
    transpose_c = true;
  } else {
    return false;  // ATen would make c Fortran-contiguous: not a case we produce
  }
  const int64_t size_c[2] = {rows, cols};
  const int64_t m = size_c[transpose_c ? 1 : 0];
  const int64_t n = size_c[transpose_c ? 0 : 1];
  const int64_t m1_sizes[2] = {m1.rows, m1.cols}, m2_sizes[2] = {m2.rows, m2.cols};
  const int64_t k = m1_sizes[transpose_c ? 0 : 1];
  (void)m2_sizes;

  auto clone = [&](const MatView& v, size_t offset) {
    if (scratch->size() < offset + static_cast<size_t>(v.rows * v.cols)) {
      scratch->resize(offset + static_cast<size_t>(v.rows * v.cols));
    }
    float* dst = scratch->data() + offset;
    for (int64_t i = 0; i < v.rows; ++i)
      for (int64_t j = 0; j < v.cols; ++j) dst[i * v.cols + j] = v.p[i * v.s0 + j * v.s1];
    return Contiguous(dst, v.rows, v.cols);
  };

  const int64_t c_strides[2] = {r_s0, r_s1};
  bool transpose_a;
  MatView a = m1;
  {
    const int64_t s[2] = {m1.s0, m1.s1};
    if (s[transpose_c ? 1 : 0] == 1 && s[transpose_c ? 0 : 1] >= std::max<int64_t>(1, m)) {
      transpose_a = false;
    } else if (s[transpose_c ? 0 : 1] == 1 && s[transpose_c ? 1 : 0] >= std::max<int64_t>(1, k)) {
      transpose_a = true;
    } else {
      transpose_a = !transpose_c;
      a = clone(m1, 0);
    }
  }
  bool transpose_b;
  MatView b = m2;
  {
    const int64_t s[2] = {m2.s0, m2.s1};
    if (s[transpose_c ? 1 : 0] == 1 && s[transpose_c ? 0 : 1] >= std::max<int64_t>(1, k)) {
      transpose_b = false;
    } else if (s[transpose_c ? 0 : 1] == 1 && s[transpose_c ? 1 : 0] >= std::max<int64_t>(1, n)) {
      transpose_b = true;
    } else {
      transpose_b = !transpose_c;
      b = clone(m2, static_cast<size_t>(m1.rows * m1.cols));
    }
  }
  const int64_t a_strides[2] = {a.s0, a.s1}, b_strides[2] = {b.s0, b.s1};
  int64_t lda = a_strides[(transpose_a == transpose_c) ? 1 : 0];
  int64_t ldb = b_strides[(transpose_b == transpose_c) ? 1 : 0];
  int64_t ldc = c_strides[transpose_c ? 0 : 1];

  // cpublas::internal::normalize_last_dims
  if (n == 1) ldc = m;
  if (transpose_a) {
    if (m == 1) lda = k;
  } else if (k == 1) {
    lda = m;
  }
  if (transpose_b) {
    if (k == 1) ldb = n;
  } else if (n == 1) {
    ldb = k;
  }
  // cpublas::use_blas_gemm
  const bool blas = m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX &&
                    ldb <= INT_MAX && ldc <= INT_MAX &&
                    lda >= std::max<int64_t>(1, transpose_a ? k : m) &&
                    ldb >= std::max<int64_t>(1, transpose_b ? n : k) &&
                    ldc >= std::max<int64_t>(1, m);
  if (!blas) return false;
  const char ta = transpose_a ? 't' : 'n', tb = transpose_b ? 't' : 'n';
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(lda), ildb = static_cast<int>(ldb), ildc = static_cast<int>(ldc);
  const float alpha = 1.f;
  if (gemm_timing.load(std::memory_order_relaxed)) {
    const auto t0 = std::chrono::steady_clock::now();
    sgemm_(&ta, &tb, &im, &in, &ik, &alpha, a.p, &ilda, b.p, &ildb, &beta, result, &ildc);
    gemm_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else {
    sgemm_(&ta, &tb, &im, &in, &ik, &alpha, a.p, &ilda, b.p, &ildb, &beta, result, &ildc);
  }
  return true;
}

namespace {

constexpr int kN = 624, kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0df, kUpper = 0x80000000, kLower = 0x7fffffff;

inline uint32_t Twist(uint32_t u, uint32_t v) {
  return (((u & kUpper) | (v & kLower)) >> 1) ^ ((v & 1) ? kMatrixA : 0);
}

// at::mt19937_engine::next_state, eight words at a time where the
// recurrence allows it (each word reads words 1 and 397 ahead, or 227
// behind: never one written in the same step of eight).
inline __m256i TwistVec(__m256i u, __m256i v) {
  const __m256i mixed = _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(static_cast<int>(kUpper))),
                                        _mm256_and_si256(v, _mm256_set1_epi32(kLower)));
  const __m256i odd = _mm256_cmpeq_epi32(_mm256_and_si256(v, _mm256_set1_epi32(1)), _mm256_set1_epi32(1));
  return _mm256_xor_si256(_mm256_srli_epi32(mixed, 1),
                          _mm256_and_si256(odd, _mm256_set1_epi32(static_cast<int>(kMatrixA))));
}

void NextState(uint32_t* p) {
  auto load = [](const uint32_t* q) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)); };
  int i = 0;
  for (; i + 8 <= kN - kM; i += 8) {
    const __m256i r = _mm256_xor_si256(load(p + i + kM), TwistVec(load(p + i), load(p + i + 1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + i), r);
  }
  for (; i < kN - kM; ++i) p[i] = p[i + kM] ^ Twist(p[i], p[i + 1]);
  for (; i + 8 <= kN - 1; i += 8) {
    const __m256i r = _mm256_xor_si256(load(p + i + kM - kN), TwistVec(load(p + i), load(p + i + 1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + i), r);
  }
  for (; i < kN - 1; ++i) p[i] = p[i + kM - kN] ^ Twist(p[i], p[i + 1]);
  p[kN - 1] = p[kM - 1] ^ Twist(p[kN - 1], p[0]);
}

inline uint32_t Temper(uint32_t y) {
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & 0xefc60000;
  y ^= (y >> 18);
  return y;
}

inline __m256i TemperVec(__m256i y) {
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7), _mm256_set1_epi32(static_cast<int>(0x9d2c5680u))));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15), _mm256_set1_epi32(static_cast<int>(0xefc60000u))));
  return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
}

// n outputs of the engine's operator(), in order.
void Draw(Mt19937State* mt, uint32_t* out, int64_t n) {
  while (n > 0) {
    if (mt->left == 1) {
      NextState(mt->state);
      mt->left = kN + 1;
      mt->next = 0;
    }
    const int64_t take = std::min<int64_t>(n, mt->left - 1);
    const uint32_t* src = mt->state + mt->next;
    int64_t i = 0;
    for (; i + 8 <= take; i += 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                          TemperVec(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
    }
    for (; i < take; ++i) out[i] = Temper(src[i]);
    mt->next += static_cast<uint32_t>(take);
    mt->left -= static_cast<int32_t>(take);
    out += take;
    n -= take;
  }
}

}  // namespace

void DropoutMask(Mt19937State* mt, double keep, float* mask, int64_t n) {
  // uniform < keep  <=>  bits53 < ceil(keep * 2^53), exactly.
  const double scaled = keep * 9007199254740992.0;
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(scaled));
  const float keep_f = static_cast<float>(keep);
  const float one = 1.f / keep_f, zero = 0.f / keep_f;
  const __m256i thr = _mm256_set1_epi64x(static_cast<int64_t>(threshold));
  const __m256i mask53 = _mm256_set1_epi64x((int64_t{1} << 53) - 1);
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
  const __m256 one_v = _mm256_set1_ps(one), zero_v = _mm256_set1_ps(zero);
  constexpr int64_t kChunk = 1024;
  alignas(32) uint32_t words[2 * kChunk];
  while (n > 0) {
    const int64_t c = std::min(n, kChunk);
    Draw(mt, words, 2 * c);
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) {
      // random64() = (first << 32) | second: swap each pair into a 64-bit lane.
      __m256i keep_lanes[2];
      for (int h = 0; h < 2; ++h) {
        __m256i r = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + 2 * i + 8 * h));
        r = _mm256_and_si256(_mm256_shuffle_epi32(r, 0xB1), mask53);
        keep_lanes[h] = _mm256_cmpgt_epi64(thr, r);  // both below 2^63: signed is fine
      }
      const __m128i lo = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(keep_lanes[0], low_halves));
      const __m128i hi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(keep_lanes[1], low_halves));
      const __m256 sel = _mm256_castsi256_ps(_mm256_set_m128i(hi, lo));
      _mm256_storeu_ps(mask + i, _mm256_blendv_ps(zero_v, one_v, sel));
    }
    for (; i < c; ++i) {
      const uint64_t r = (static_cast<uint64_t>(words[2 * i]) << 32) | words[2 * i + 1];
      mask[i] = (r & ((uint64_t{1} << 53) - 1)) < threshold ? one : zero;
    }
    mask += c;
    n -= c;
  }
}

namespace {

// Subnormal floats make the FPU fall back to microcode, 10 to 20 times
// slower; a unit whose ReLU died has zero gradients and an exp_avg that
// decays geometrically through the subnormal range. Such lanes are computed
// here in double with integer handling of subnormals: every float operation
// is an exact double operation (products of two floats) or one whose double
// result rounds to the same float as the direct operation would (division,
// square root and addition with 53 >= 2 * 24 + 2 bits), then rounded to
// float, subnormal results through the integer grid. No float operation sees
// a subnormal operand, and the bits equal the FPU's.

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline bool IsZero(float f) { return (Bits(f) & 0x7fffffffu) == 0; }

double ToDouble(float f) {
  const uint32_t u = Bits(f);
  if ((u & 0x7f800000u) == 0 && (u & 0x007fffffu) != 0) {
    const double mag = static_cast<double>(u & 0x007fffffu) * 0x1p-149;
    return (u >> 31) ? -mag : mag;
  }
  return static_cast<double>(f);
}

float ToFloat(double d) {
  const double mag = std::fabs(d);
  if (!(mag < 0x1p-126) || mag == 0) return static_cast<float>(d);
  const auto grid = static_cast<uint32_t>(std::nearbyint(mag * 0x1p149));  // ties to even
  return FromBits((std::signbit(d) ? 0x80000000u : 0u) | grid);
}

// One element whose gradient is +-0, in the order of the FPU path below.
void AdamZeroGradLane(float& param, float grad, float& exp_avg, float& exp_avg_sq,
                      const AdamScalars& s) {
  float m = ToFloat(ToDouble(exp_avg) * static_cast<double>(s.beta1));
  // fma(+-0, a, m) is m unless m is a zero too (then the FPU sees only zeros).
  if (IsZero(m)) m = std::fma(grad, s.one_minus_beta1, m);
  float v = ToFloat(ToDouble(exp_avg_sq) * static_cast<double>(s.beta2));
  if (IsZero(v)) v = std::fma(s.one_minus_beta2 * grad, grad, v);
  const float root = ToFloat(std::sqrt(ToDouble(v)));
  const float denom = ToFloat(ToFloat(static_cast<double>(root) / s.bias_correction2_sqrt) +
                              static_cast<double>(s.eps));
  const float step = ToFloat(ToDouble(m) * static_cast<double>(s.neg_step_size));
  const float update = ToFloat(ToDouble(step) / static_cast<double>(denom));
  param = ToFloat(ToDouble(param) + ToDouble(update));
  exp_avg = m;
  exp_avg_sq = v;
}

inline void AdamLane(float& param, float g, float& exp_avg, float& exp_avg_sq,
                     const AdamScalars& s) {
  float m = exp_avg * s.beta1;
  m = std::fma(g, s.one_minus_beta1, m);
  exp_avg = m;
  float v = exp_avg_sq * s.beta2;
  v = std::fma(s.one_minus_beta2 * g, g, v);
  exp_avg_sq = v;
  float denom = std::sqrt(v) / s.bias_correction2_sqrt;
  denom = denom + s.eps;
  param = param + s.neg_step_size * m / denom;
}

// 0 < |x| < 2^-100: close enough to the subnormals that the chain may reach them.
inline bool Tiny(uint32_t u) {
  const uint32_t a = u & 0x7fffffffu;
  return a != 0 && a < 0x0d800000u;
}

inline bool Risky(float g, float m, float v) {
  return IsZero(g) && (Tiny(Bits(m)) || Tiny(Bits(v)));
}


// Eight lanes at once when the lanes that would meet subnormals are dead
// units: gradient +-0, |exp_avg| below 2^-100, exp_avg_sq and the parameter
// ordinary normals. exp_avg * beta1 is rounded with integers where the
// result is subnormal (the FPU computes it where it is normal, from normal
// operands), exp_avg_sq follows the FPU path (nothing subnormal there), and
// the parameter provably stays as it is: its update is below a quarter of
// its last place, which is checked. No FPU operation sees a subnormal.
// Returns false, writing nothing, when some risky lane does not fit.
bool AdamVectorWithDeadLanes(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                             const AdamScalars& s, __m256i risky) {
  const uint32_t b_bits = Bits(s.beta1);
  const int b_exp = static_cast<int>((b_bits >> 23) & 0xff);
  if (b_exp == 0 || b_exp >= 127) return false;  // beta1 subnormal, zero or >= 1
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i g_bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(grad));
  const __m256i m_bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(exp_avg));
  const __m256i m_abs = _mm256_and_si256(m_bits, abs_mask);
  const __m256 g = _mm256_castsi256_ps(g_bits);
  const __m256 v0 = _mm256_loadu_ps(exp_avg_sq);
  const __m256 p = _mm256_loadu_ps(param);
  const __m256i v_abs = _mm256_and_si256(_mm256_castps_si256(v0), abs_mask);
  const __m256i p_abs = _mm256_and_si256(_mm256_castps_si256(p), abs_mask);
  const __m256i low = _mm256_set1_epi32(0x0d800000 - 1), high = _mm256_set1_epi32(0x7f800000);
  __m256i fits = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x0d800000), m_abs);
  fits = _mm256_and_si256(fits, _mm256_cmpgt_epi32(v_abs, low));
  fits = _mm256_and_si256(fits, _mm256_cmpgt_epi32(high, v_abs));
  fits = _mm256_and_si256(fits, _mm256_cmpgt_epi32(p_abs, low));
  fits = _mm256_and_si256(fits, _mm256_cmpgt_epi32(high, p_abs));
  if (!_mm256_testc_si256(fits, risky)) return false;  // a risky lane that does not fit

  // m * beta1 on the subnormal grid, per lane: m = Mm 2^(Em - 150) (Em >= 1,
  // Mm with its implicit bit), beta1 = B 2^(Eb - 150), so the product in
  // units of 2^-149 is Mm B >> (151 - Em - Eb), rounded half to even.
  const __m256i one32 = _mm256_set1_epi32(1);
  const __m256i e = _mm256_srli_epi32(m_abs, 23);
  const __m256i em = _mm256_max_epi32(e, one32);
  const __m256i mm = _mm256_or_si256(_mm256_and_si256(m_abs, _mm256_set1_epi32(0x7fffff)),
                                     _mm256_andnot_si256(_mm256_cmpeq_epi32(e, _mm256_setzero_si256()),
                                                         _mm256_set1_epi32(0x800000)));
  __m256i shift = _mm256_sub_epi32(_mm256_set1_epi32(151 - b_exp), em);
  const __m256i shift_ok = _mm256_cmpgt_epi32(shift, _mm256_set1_epi32(23));
  shift = _mm256_min_epi32(_mm256_max_epi32(shift, _mm256_set1_epi32(24)), _mm256_set1_epi32(63));
  const __m256i B = _mm256_set1_epi64x((b_bits & 0x7fffff) | 0x800000);
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i low32 = _mm256_set1_epi64x(0xffffffff);
  auto round_shift = [&](__m256i prod, __m256i sh) {
    const __m256i half_minus_one = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(sh, one)), one);
    const __m256i odd = _mm256_and_si256(_mm256_srlv_epi64(prod, sh), one);
    return _mm256_srlv_epi64(_mm256_add_epi64(_mm256_add_epi64(prod, half_minus_one), odd), sh);
  };
  const __m256i even = round_shift(_mm256_mul_epu32(mm, B), _mm256_and_si256(shift, low32));
  const __m256i odd = round_shift(_mm256_mul_epu32(_mm256_srli_epi64(mm, 32), B), _mm256_srli_epi64(shift, 32));
  const __m256i mant = _mm256_or_si256(even, _mm256_slli_epi64(odd, 32));
  // Lanes whose product lands on the subnormal grid (up to 2^-126 itself).
  const __m256i on_grid = _mm256_and_si256(
      _mm256_and_si256(risky, shift_ok), _mm256_cmpgt_epi32(_mm256_set1_epi32(0x00800001), mant));
  // The sign of m * beta1 is m's; fma(+-0, a, m1) is m1, or for m1 = +-0
  // the sum of two zeros: -0 only when the gradient and m1 are both -0.
  const __m256i sign_bit = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i m_sign = _mm256_and_si256(m_bits, sign_bit);
  const __m256i g_sign = _mm256_and_si256(g_bits, sign_bit);
  const __m256i is_zero = _mm256_cmpeq_epi32(mant, _mm256_setzero_si256());
  const __m256i sign = _mm256_blendv_epi8(m_sign, _mm256_and_si256(m_sign, g_sign), is_zero);
  const __m256 m_grid = _mm256_castsi256_ps(_mm256_or_si256(mant, sign));

  // The FPU path, with 0 in place of what would be subnormal.
  const __m256 risky_ps = _mm256_castsi256_ps(risky);
  const __m256 grid_ps = _mm256_castsi256_ps(on_grid);
  const __m256 m0 = _mm256_blendv_ps(_mm256_castsi256_ps(m_bits), _mm256_setzero_ps(), grid_ps);
  __m256 m = _mm256_mul_ps(m0, _mm256_set1_ps(s.beta1));
  m = _mm256_fmadd_ps(g, _mm256_set1_ps(s.one_minus_beta1), m);
  __m256 v = _mm256_mul_ps(v0, _mm256_set1_ps(s.beta2));
  v = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(s.one_minus_beta2), g), g, v);
  __m256 denom = _mm256_div_ps(_mm256_sqrt_ps(v), _mm256_set1_ps(s.bias_correction2_sqrt));
  denom = _mm256_add_ps(denom, _mm256_set1_ps(s.eps));
  const __m256 m_for_p = _mm256_blendv_ps(m, _mm256_setzero_ps(), risky_ps);
  const __m256 p_new =
      _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(s.neg_step_size), m_for_p), denom));
  // Risky lanes: |m| < 2^-100, so |update| < 2^-100 (|neg| + 2^-24) / denom
  // must stay below a quarter of the parameter's last place (> |p| 2^-24):
  // ask (|neg| + 2^-24) / denom <= |p| 2^74, with room for the rounding of
  // these figures.
  const __m256 bound = _mm256_div_ps(_mm256_set1_ps(std::fabs(s.neg_step_size) + 0x1p-24f), denom);
  const __m256 room = _mm256_mul_ps(_mm256_castsi256_ps(p_abs), _mm256_set1_ps(0x1p74f));
  const __m256i proven = _mm256_castps_si256(_mm256_cmp_ps(bound, room, _CMP_LE_OQ));
  if (!_mm256_testc_si256(proven, risky)) return false;

  _mm256_storeu_ps(exp_avg, _mm256_blendv_ps(m, m_grid, grid_ps));
  _mm256_storeu_ps(exp_avg_sq, v);
  _mm256_storeu_ps(param, _mm256_blendv_ps(p_new, p, risky_ps));
  return true;
}

}  // namespace

void AdamUpdate(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamScalars& s) {
  const __m256 beta1 = _mm256_set1_ps(s.beta1), a1 = _mm256_set1_ps(s.one_minus_beta1);
  const __m256 beta2 = _mm256_set1_ps(s.beta2), a2 = _mm256_set1_ps(s.one_minus_beta2);
  const __m256 bc2 = _mm256_set1_ps(s.bias_correction2_sqrt), eps = _mm256_set1_ps(s.eps);
  const __m256 neg = _mm256_set1_ps(s.neg_step_size);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i tiny_bound = _mm256_set1_epi32(0x0d800000);
  int64_t i = 0;
  for (; i + kVecWidth <= n; i += kVecWidth) {
    const __m256 g = _mm256_loadu_ps(grad + i);
    const __m256 m0 = _mm256_loadu_ps(exp_avg + i);
    const __m256 v0 = _mm256_loadu_ps(exp_avg_sq + i);
    // Risky lanes: a zero gradient with a tiny exp_avg or exp_avg_sq.
    const __m256i ga = _mm256_and_si256(_mm256_castps_si256(g), abs_mask);
    const __m256i ma = _mm256_and_si256(_mm256_castps_si256(m0), abs_mask);
    const __m256i va = _mm256_and_si256(_mm256_castps_si256(v0), abs_mask);
    const __m256i g_zero = _mm256_cmpeq_epi32(ga, zero);
    const __m256i m_tiny = _mm256_andnot_si256(_mm256_cmpeq_epi32(ma, zero),
                                               _mm256_cmpgt_epi32(tiny_bound, ma));
    const __m256i v_tiny = _mm256_andnot_si256(_mm256_cmpeq_epi32(va, zero),
                                               _mm256_cmpgt_epi32(tiny_bound, va));
    const __m256i risky = _mm256_and_si256(g_zero, _mm256_or_si256(m_tiny, v_tiny));
    if (_mm256_testz_si256(risky, risky)) {
      __m256 m = _mm256_mul_ps(m0, beta1);
      m = _mm256_fmadd_ps(g, a1, m);
      __m256 v = _mm256_mul_ps(v0, beta2);
      v = _mm256_fmadd_ps(_mm256_mul_ps(a2, g), g, v);
      __m256 denom = _mm256_div_ps(_mm256_sqrt_ps(v), bc2);
      denom = _mm256_add_ps(denom, eps);
      const __m256 p = _mm256_loadu_ps(param + i);
      _mm256_storeu_ps(param + i, _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(neg, m), denom)));
      _mm256_storeu_ps(exp_avg + i, m);
      _mm256_storeu_ps(exp_avg_sq + i, v);
      continue;
    }
    if (AdamVectorWithDeadLanes(param + i, grad + i, exp_avg + i, exp_avg_sq + i, s, risky)) continue;
    for (int64_t k = i; k < i + kVecWidth; ++k) {
      if (Risky(grad[k], exp_avg[k], exp_avg_sq[k])) {
        AdamZeroGradLane(param[k], grad[k], exp_avg[k], exp_avg_sq[k], s);
      } else {
        AdamLane(param[k], grad[k], exp_avg[k], exp_avg_sq[k], s);
      }
    }
  }
  for (; i < n; ++i) {
    if (Risky(grad[i], exp_avg[i], exp_avg_sq[i])) {
      AdamZeroGradLane(param[i], grad[i], exp_avg[i], exp_avg_sq[i], s);
    } else {
      AdamLane(param[i], grad[i], exp_avg[i], exp_avg_sq[i], s);
    }
  }
}

}  // namespace gantry::exact
