// Exact kernels: plain loops over float buffers that give, bit for bit, the
// results of the LibTorch 1.13 CPU operators the training loop uses, when
// ATen runs its AVX2 kernels (Debian's build picks AVX2 on any x86-64 CPU
// with AVX2 and FMA unless ATEN_CPU_CAPABILITY says otherwise).
//
// Each function names the ATen operator it reproduces and how:
// - elementwise maths in the same order of operations, FMA exactly where
//   GCC contracted ATen's kernels (Adam's add_ and addcmul_), nowhere else;
// - sums in ATen's cascade order (aten/src/ATen/native/cpu/SumKernel.cpp);
// - exp through the same Sleef routine as Vectorized<float>::exp (16 values
//   at a time, the scalar tail through libm's expf, as cpu_kernel_vec does);
// - GEMMs as the same sgemm_ calls, with the arguments addmm_impl_cpu_ and
//   cpublas::gemm would pass (transposes, leading dimensions);
// - dropout masks from the job's mt19937 exactly as bernoulli_(p): one
//   53-bit uniform (two 32-bit draws) per element.
// The fast trainer (fast_loop.h) proves these recipes against ATen at run
// time and falls back to ATen where they do not match.
//
// This file includes no LibTorch header: it is compiled with -mavx2 -mfma
// -ffp-contract=off, so that no multiply-add is fused unless written so.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <vector>

namespace gantry::exact {

// ATen's Vectorized<float>::size() under AVX2.
inline constexpr int64_t kVecWidth = 8;

// True when this CPU can run these kernels (AVX2 and FMA).
bool CpuSupported();

// sum() of a contiguous float tensor of n values (ATen's cascade_sum).
float SumContiguous(const float* x, int64_t n);

// sum(0) of a contiguous [rows, cols] float tensor into out[cols].
void SumRows(const float* x, int64_t rows, int64_t cols, float* out);

// y = sigmoid(x) as at::sigmoid (Sleef in blocks of 16, expf in the tail).
void Sigmoid(const float* x, float* y, int64_t n);

// x = relu(x) in place, as at::relu (clamp_min(x, 0)).
void ReluInPlace(float* x, int64_t n);

// BCE with mean reduction: returns at::binary_cross_entropy(out, labels),
// where the first `ones` values have label 1 and the rest label 0. False in
// *in_range when a value is outside [0, 1] (NaN included), where ATen
// throws "all elements of input should be between 0 and 1".
float BceMean(const float* out, int64_t n, int64_t ones, float* scratch, bool* in_range);

// The gradient of that loss with respect to the logits before the sigmoid:
// binary_cross_entropy_backward (grad 1, mean) then sigmoid_backward.
void BceSigmoidBackward(const float* out, int64_t n, int64_t ones, float* grad_logits);

// grad = (relu_out <= 0) ? 0 : grad * mask  (mul backward then
// threshold_backward); `mask` may be null (no dropout).
void DropoutReluBackward(float* grad, const float* mask, const float* relu_out, int64_t n);

// h = relu_out * mask.
void Mul(const float* a, const float* b, float* out, int64_t n);

// A row-major matrix view: element (i, j) is p[i * s0 + j * s1].
struct MatView {
  const float* p;
  int64_t rows, cols;
  int64_t s0, s1;
};

// The strides LibTorch gives a contiguous [rows, cols] tensor.
MatView Contiguous(const float* p, int64_t rows, int64_t cols);

// result[rows, cols] (contiguous) = beta * result + m1 @ m2, through the
// sgemm_ call addmm_impl_cpu_ makes for these strides. `beta` is 0 (mm) or
// 1 (addmm, with the bias already copied into result). `scratch` holds a
// contiguous copy where ATen would clone an operand. False when ATen would
// not call BLAS for these shapes (the caller must not use the fast path).
bool Addmm(float* result, int64_t rows, int64_t cols, MatView m1, MatView m2, float beta,
           std::vector<float>* scratch);

// Benchmarks only: while enabled, Addmm adds the wall time of its sgemm_
// calls to a per-thread counter (GemmSeconds), so that a benchmark can show
// the training loop's distance to its GEMM floor. Off by default.
void SetGemmTiming(bool on);
double GemmSeconds();  // this thread's total since the thread started

// The bulk form of at::CPUGeneratorImpl's engine: mt19937 with ATen's
// bookkeeping (left_, next_).
struct Mt19937State {
  uint32_t state[624];
  int32_t left;
  uint32_t next;
};

// Fills mask[0..n) as noise.bernoulli_(keep).div_(keep) does with the
// generator whose engine is `mt`: each element draws random64() (two 32-bit
// outputs, the first the high word) and is 1/(float)keep when its 53-bit
// uniform is below `keep`, else 0. Advances `mt` exactly as n such draws.
void DropoutMask(Mt19937State* mt, double keep, float* mask, int64_t n);

// One Adam step on n values, as core/adam.cc (torch.optim.Adam, single
// tensor): exp_avg.mul_(beta1).add_(grad, 1 - beta1);
// exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
// denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps);
// param.addcdiv_(exp_avg, denom, -step_size). The scalars are those ATen
// casts to float from the doubles computed by the caller.
struct AdamScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size;
};
void AdamUpdate(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamScalars& s);

}  // namespace gantry::exact
