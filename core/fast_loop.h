// FastLoop: the trainer's epoch without autograd, bit for bit the same as
// the ATen path (trainer.cc) when exact_kernels.h's recipes hold.
//
// It works in place on the trainer's own parameter and Adam-state tensors,
// so the two paths share one state and one checkpoint format: either path
// can continue where the other stopped. Every buffer is allocated once, in
// Create(); an epoch allocates nothing per step. The GEMMs are the same
// sgemm_ calls ATen makes; the random draws come from the job's generator
// in the same order (randn through ATen, dropout masks in bulk from its
// engine).
//
// Whether the recipes hold on this machine is decided by FastPathSelfTest()
// (self_test.h), never assumed.
//
// Thread-safety: used by the trainer's thread only.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/adam.h"
#include "core/report.h"
#include "core/spec.h"
#include "core/status.h"

namespace gantry {

class FastLoop {
 public:
  struct Net {
    std::vector<at::Tensor> params;  // weight, bias per layer, in order
    Adam* adam;
  };

  // ATen's CPU capability in this process, as at::show_config() reports it
  // ("AVX2", "AVX512", "DEFAULT"; ATEN_CPU_CAPABILITY can change it).
  static const std::string& AtenCapability();

  // Null with *why set when the spec or machine is outside what the fast
  // path reproduces (then the caller trains on the ATen path): a CPU without
  // AVX2/FMA, ATen running kernels other than its AVX2 ones, or a one-row
  // batch through a one-input layer.
  static std::unique_ptr<FastLoop> Create(const JobSpec& spec, Net generator, Net discriminator,
                                          std::string* why);
  ~FastLoop();
  FastLoop(const FastLoop&) = delete;
  FastLoop& operator=(const FastLoop&) = delete;

  // One epoch over `data` [rows, dim] (contiguous float) in the order
  // `perm` (rows indices), drawing from `gen` exactly as the ATen path.
  // Fills the loss and D(x) fields of `r` (not epoch, seconds or the
  // quality figures). CANCELLED when `*cancel` became true, checked between
  // batches and between the layers of each pass, so that it acts within one
  // layer's work however large the batch; then the networks are mid-epoch
  // (the trainer is unusable and the job resumes from a checkpoint).
  Status TrainEpoch(const at::Tensor& data, const int64_t* perm, at::Generator& gen,
                    const std::atomic<bool>* cancel, EpochReport* r);

 private:
  struct Impl;
  explicit FastLoop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry
