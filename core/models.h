// The networks: multi-layer perceptrons with ReLU between layers.
//
// The discriminator is data_dim -> hidden... -> 1 with dropout after every
// hidden layer and a sigmoid (for the bce loss; the others use its raw
// output), optionally spectrally normalised; the generator is latent_dim -> hidden... ->
// data_dim with no dropout and no output activation. With the default
// JobSpec these are exactly the tutorial's networks.
//
// Dropout draws its masks from an explicit generator (the job's), in forward
// order, as bernoulli_(1 - p) then divided by (1 - p): the same draws that
// PyTorch's CPU dropout makes from the global generator.
//
// Thread-safety: a module is owned by one trainer thread. Use
// GeneratorSnapshot (snapshot.h) to evaluate weights from other threads.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include <vector>

#include "core/spec.h"

namespace gantry {

struct MlpOptions {
  int64_t in = 2;
  std::vector<int64_t> hidden;
  int64_t out = 1;
  double dropout = 0.0;     // after each hidden ReLU, in training only
  bool sigmoid_out = false;
  // Spectral normalisation of every linear layer's weight (Miyato et al.):
  // W / sigma(W), sigma from one power iteration per training forward on a
  // persistent vector u per layer (spectral_u(); part of the saved state).
  bool spectral_norm = false;
};

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(MlpOptions options);

  // In training mode with dropout > 0, `gen` supplies the dropout masks and
  // must be non-null.
  torch::Tensor forward(const torch::Tensor& x, at::Generator* gen = nullptr);

  // Re-initialises every Linear, in order, as PyTorch's default reset does
  // (kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(fan_in), ..) for
  // the bias), drawing from `gen`.
  void ResetParameters(at::Generator& gen);

  const MlpOptions& options() const { return options_; }
  const std::vector<torch::nn::Linear>& layers() const { return layers_; }
  // With spectral_norm: each layer's power-iteration vector, [out_features].
  std::vector<torch::Tensor>& spectral_u() { return spectral_u_; }

 private:
  torch::Tensor Weight(size_t i);

  MlpOptions options_;
  std::vector<torch::nn::Linear> layers_;
  std::vector<torch::Tensor> spectral_u_;
};
TORCH_MODULE(Mlp);

MlpOptions GeneratorOptions(const JobSpec& spec);
MlpOptions DiscriminatorOptions(const JobSpec& spec);

}  // namespace gantry
