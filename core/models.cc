#include "core/models.h"

#include <torch/torch.h>

#include <cmath>

namespace gantry {

MlpImpl::MlpImpl(MlpOptions options) : options_(std::move(options)) {
  int64_t in = options_.in;
  std::vector<int64_t> sizes = options_.hidden;
  sizes.push_back(options_.out);
  for (size_t i = 0; i < sizes.size(); ++i) {
    layers_.push_back(register_module("fc" + std::to_string(i),
                                      torch::nn::Linear(torch::nn::LinearOptions(in, sizes[i]))));
    if (options_.spectral_norm) {
      spectral_u_.push_back(register_buffer(
          "sn_u" + std::to_string(i),
          torch::full({sizes[i]}, 1.0 / std::sqrt(static_cast<double>(sizes[i])))));
    }
    in = sizes[i];
  }
}

torch::Tensor MlpImpl::Weight(size_t i) {
  const torch::Tensor& w = layers_[i]->weight;
  if (!options_.spectral_norm) return w;
  // u is replaced, never changed in place: an earlier forward's graph (the
  // discriminator step's, before the gradient penalty's pass) still holds it.
  torch::Tensor& u = spectral_u_[i];
  torch::Tensor v;
  {
    torch::NoGradGuard no_grad;
    const auto unit = torch::nn::functional::NormalizeFuncOptions().dim(0).eps(1e-12);
    const torch::Tensor wd = w.detach();
    v = torch::nn::functional::normalize(torch::mv(wd.t(), u), unit);
    if (is_training()) {
      u = torch::nn::functional::normalize(torch::mv(wd, v), unit);
      v = torch::nn::functional::normalize(torch::mv(wd.t(), u), unit);
    }
  }
  const torch::Tensor sigma = torch::dot(u, torch::mv(w, v));
  return w / sigma;
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x, at::Generator* gen) {
  const double p = options_.dropout;
  const bool drop = is_training() && p > 0.0;
  torch::Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = torch::linear(h, Weight(i), layers_[i]->bias);
    if (i + 1 == layers_.size()) break;
    h = torch::relu(h);
    if (drop) {
      // at::native::_dropout_impl, with the job's generator.
      torch::Tensor noise = at::empty_like(h, LEGACY_CONTIGUOUS_MEMORY_FORMAT);
      noise.bernoulli_(1 - p, *gen);
      noise.div_(1 - p);
      h = h * noise;
    }
  }
  return options_.sigmoid_out ? torch::sigmoid(h) : h;
}

void MlpImpl::ResetParameters(at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& layer : layers_) {
    const double fan_in = static_cast<double>(layer->weight.size(1));
    // torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)), computed in double.
    const double a = std::sqrt(5.0);
    const double gain = std::sqrt(2.0 / (1 + a * a));
    const double std_dev = gain / std::sqrt(fan_in);
    const double bound = std::sqrt(3.0) * std_dev;
    layer->weight.uniform_(-bound, bound, gen);
    const double bias_bound = fan_in > 0 ? 1 / std::sqrt(fan_in) : 0;
    layer->bias.uniform_(-bias_bound, bias_bound, gen);
  }
}

MlpOptions GeneratorOptions(const JobSpec& spec) {
  MlpOptions o;
  o.in = spec.latent_dim;
  o.hidden = spec.generator_hidden;
  o.out = DataDim(spec.dataset);
  return o;
}

MlpOptions DiscriminatorOptions(const JobSpec& spec) {
  MlpOptions o;
  o.in = DataDim(spec.dataset);
  o.hidden = spec.discriminator_hidden;
  o.out = 1;
  o.dropout = spec.dropout;
  o.sigmoid_out = spec.loss == Loss::kBce;
  o.spectral_norm = spec.spectral_norm;
  return o;
}

}  // namespace gantry
