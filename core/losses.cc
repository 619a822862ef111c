#include "core/losses.h"

#include <torch/torch.h>

namespace gantry {
namespace {

void SetRequiresGrad(std::vector<at::Tensor>& params, bool on) {
  for (auto& p : params) p.requires_grad_(on);
}

bool Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

// The discriminator's loss on its outputs for the real and the fake halves.
torch::Tensor DiscriminatorLoss(Loss loss, const torch::Tensor& out, int64_t b) {
  const torch::Tensor out_r = out.slice(0, 0, b), out_f = out.slice(0, b);
  switch (loss) {
    case Loss::kBce:
    case Loss::kNonSaturating: {
      const torch::Tensor labels = torch::cat({torch::ones({b, 1}), torch::zeros({out.size(0) - b, 1})});
      return loss == Loss::kBce ? torch::binary_cross_entropy(out, labels)
                                : torch::binary_cross_entropy_with_logits(out, labels);
    }
    case Loss::kHinge:
      return torch::relu(1 - out_r).mean() + torch::relu(1 + out_f).mean();
    case Loss::kWganGp:
      return out_f.mean() - out_r.mean();
  }
  return {};
}

torch::Tensor GeneratorLoss(Loss loss, const torch::Tensor& out) {
  switch (loss) {
    case Loss::kBce: return torch::binary_cross_entropy(out, torch::ones_like(out));
    case Loss::kNonSaturating:
      return torch::binary_cross_entropy_with_logits(out, torch::ones_like(out));
    case Loss::kHinge:
    case Loss::kWganGp: return -out.mean();
  }
  return {};
}

// gp_weight * mean((|grad D(x^)| - 1)^2) at x^ = eps * real + (1 - eps) * fake.
torch::Tensor GradientPenalty(const JobSpec& spec, Mlp& d, const torch::Tensor& real,
                              const torch::Tensor& fake, at::Generator& gen) {
  const torch::Tensor eps = torch::rand({real.size(0), 1}, gen);
  const torch::Tensor x = (eps * real + (1 - eps) * fake).detach().requires_grad_(true);
  const torch::Tensor out = d->forward(x, &gen);
  const torch::Tensor grad =
      torch::autograd::grad({out.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  return spec.gp_weight * (grad.norm(2, 1) - 1).pow(2).mean();
}

}  // namespace

Status TrainGameEpoch(const JobSpec& spec, const at::Tensor& data, const at::Tensor& perm,
                      GameNets nets, at::Generator& gen, const std::atomic<bool>* cancel,
                      EpochReport* r) {
  const int64_t rows = data.size(0), bs = spec.batch_size;
  const int64_t n_critic = NCritic(spec);
  double sum_d = 0, sum_g = 0, sum_real = 0, sum_fake = 0;
  int64_t d_steps = 0, g_steps = 0, seen = 0;
  double last_d = 0, last_g = 0;
  for (int64_t start = 0; start < rows; start += bs) {
    if (Cancelled(cancel)) return Status::Cancelled("cancelled");
    const int64_t b = std::min(bs, rows - start);
    const torch::Tensor real = data.index_select(0, perm.slice(0, start, start + b));
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = nets.generator->forward(torch::randn({b, spec.latent_dim}, gen));
    }
    nets.d_adam.ZeroGrad();
    const torch::Tensor out = nets.discriminator->forward(torch::cat({real, fake}), &gen);
    torch::Tensor loss_d = DiscriminatorLoss(spec.loss, out, b);
    if (spec.loss == Loss::kWganGp && spec.gp_weight > 0) {
      loss_d = loss_d + GradientPenalty(spec, nets.discriminator, real, fake, gen);
    }
    loss_d.backward();
    nets.d_adam.Step();
    last_d = loss_d.item<double>();
    sum_d += last_d;
    {
      torch::NoGradGuard no_grad;
      sum_real += out.slice(0, 0, b).sum().item<double>();
      sum_fake += out.slice(0, b).sum().item<double>();
    }
    seen += b;
    ++d_steps;
    if (nets.d_adam.steps().empty() || nets.d_adam.steps()[0] % n_critic != 0) continue;
    if (Cancelled(cancel)) return Status::Cancelled("cancelled");

    const torch::Tensor z = torch::randn({b, spec.latent_dim}, gen);
    nets.g_adam.ZeroGrad();
    SetRequiresGrad(nets.d_params, false);
    const torch::Tensor loss_g =
        GeneratorLoss(spec.loss, nets.discriminator->forward(nets.generator->forward(z), &gen));
    loss_g.backward();
    SetRequiresGrad(nets.d_params, true);
    nets.g_adam.Step();
    last_g = loss_g.item<double>();
    sum_g += last_g;
    ++g_steps;
  }
  r->loss_d = sum_d / static_cast<double>(d_steps);
  r->loss_g = g_steps > 0 ? sum_g / static_cast<double>(g_steps) : 0;
  r->last_loss_d = last_d;
  r->last_loss_g = last_g;
  r->d_real = sum_real / static_cast<double>(seen);
  r->d_fake = sum_fake / static_cast<double>(seen);
  return Status::Ok();
}

}  // namespace gantry
