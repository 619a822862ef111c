// The ATen path's epoch for every game but the seed program's (spec.h's
// IsSeedGame): the non_saturating, hinge and wgan_gp losses, n_critic
// discriminator steps per generator step, spectral normalisation (models.h).
//
// Per batch it draws, from the job's generator and in this order:
// randn(batch, latent) for the fakes, the discriminator's dropout masks for
// [real; fake], for wgan_gp rand(batch, 1) for the interpolation and the
// masks of the penalty's pass; then, after every n_critic-th discriminator
// step (counted over the whole job by the discriminator's Adam step, so it
// resumes exactly), randn(batch, latent) and the masks of the generator step.
//
// Thread-safety: runs on the trainer's thread, like Trainer::RunEpoch.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <atomic>
#include <vector>

#include "core/adam.h"
#include "core/models.h"
#include "core/report.h"
#include "core/spec.h"
#include "core/status.h"

namespace gantry {

// What at::binary_cross_entropy throws for an input outside [0, 1]; a
// sigmoid gives one only when it is NaN. The fast path (fast_loop.cc)
// throws the same, and Trainer::RunEpoch turns it into the job's error.
inline constexpr char kBceInputError[] = "all elements of input should be between 0 and 1";

struct GameNets {
  Mlp& generator;
  Mlp& discriminator;
  std::vector<at::Tensor>& g_params;
  std::vector<at::Tensor>& d_params;
  Adam& g_adam;
  Adam& d_adam;
};

// Trains one epoch over `data` in the order `perm` and fills the report's
// losses and D means (loss_g over the epoch's generator steps; D's raw
// outputs for losses without a sigmoid). CANCELLED when `*cancel` became
// true between steps.
Status TrainGameEpoch(const JobSpec& spec, const at::Tensor& data, const at::Tensor& perm,
                      GameNets nets, at::Generator& gen, const std::atomic<bool>* cancel,
                      EpochReport* r);

}  // namespace gantry
