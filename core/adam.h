// Adam, step for step as torch.optim.Adam (PyTorch 1.13, single-tensor path,
// L2 weight decay as its weight_decay (added to the gradient), no amsgrad), with its state kept in plain tensors so that
// a trainer can save and restore it exactly.
//
// Thread-safety: owned by one trainer thread.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace gantry {

struct AdamOptions {
  double lr = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // torch.optim.Adam's: grad + weight_decay * param
};

class Adam {
 public:
  Adam(std::vector<at::Tensor> params, AdamOptions options);

  // Applies one update to every parameter that has a gradient.
  void Step();
  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True);
  // numerically the same as zeroing it).
  void ZeroGrad();

  // State for checkpoints: per parameter exp_avg, exp_avg_sq and step count.
  std::vector<at::Tensor>& exp_avg() { return exp_avg_; }
  std::vector<at::Tensor>& exp_avg_sq() { return exp_avg_sq_; }
  std::vector<int64_t>& steps() { return steps_; }

 private:
  std::vector<at::Tensor> params_;
  AdamOptions options_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  std::vector<int64_t> steps_;
};

}  // namespace gantry
