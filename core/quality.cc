#include "core/quality.h"

#include <torch/torch.h>

namespace gantry {

double SlicedWasserstein1(const at::Tensor& a, const at::Tensor& b, int64_t projections,
                          at::Generator& gen) {
  c10::InferenceMode guard;
  torch::Tensor dirs = torch::randn({a.size(1), projections}, gen);
  dirs = dirs / dirs.norm(2, 0, true).clamp_min(1e-12);
  torch::Tensor pa = std::get<0>(a.to(torch::kDouble).mm(dirs.to(torch::kDouble)).sort(0));
  torch::Tensor pb = std::get<0>(b.to(torch::kDouble).mm(dirs.to(torch::kDouble)).sort(0));
  return (pa - pb).abs().mean().item<double>();
}

double SineError(const at::Tensor& points) {
  c10::InferenceMode guard;
  torch::Tensor p = points.to(torch::kDouble);
  return (p.select(1, 1) - torch::sin(p.select(1, 0))).abs().mean().item<double>();
}

}  // namespace gantry
