#include "core/datasets.h"

#include <torch/torch.h>

#include <cmath>

#include "core/errors.h"
#include "core/random.h"

namespace gantry {
namespace {

constexpr double kPi = 3.14159265358979323846;

torch::Tensor Uniform(int64_t n, double lo, double hi, at::Generator& gen) {
  return torch::empty({n}).uniform_(lo, hi, gen);
}

torch::Tensor AddNoise(torch::Tensor points, double noise, at::Generator& gen) {
  if (noise > 0) points = points + torch::randn(points.sizes(), gen) * noise;
  return points;
}

torch::Tensor Sine(int64_t n, at::Generator& gen) {
  torch::Tensor data = torch::zeros({n, 2});
  data.select(1, 0).copy_(2 * kPi * torch::rand({n}, gen));
  data.select(1, 1).copy_(torch::sin(data.select(1, 0)));
  return data;
}

torch::Tensor OnCircle(const torch::Tensor& angle, double radius) {
  return torch::stack({torch::cos(angle) * radius, torch::sin(angle) * radius}, 1);
}

// Centers chosen uniformly from `centers` ([k, 2]).
torch::Tensor Mixture(int64_t n, const torch::Tensor& centers, at::Generator& gen) {
  torch::Tensor pick = torch::randint(centers.size(0), {n}, gen, torch::kLong);
  return centers.index_select(0, pick);
}

torch::Tensor TwoMoons(int64_t n, at::Generator& gen) {
  const int64_t outer = n / 2, inner = n - outer;
  torch::Tensor t_out = Uniform(outer, 0, kPi, gen);
  torch::Tensor t_in = Uniform(inner, 0, kPi, gen);
  torch::Tensor a = torch::stack({torch::cos(t_out), torch::sin(t_out)}, 1);
  torch::Tensor b = torch::stack({1 - torch::cos(t_in), 0.5 - torch::sin(t_in)}, 1);
  return torch::cat({a, b}, 0);
}

torch::Tensor Spiral(int64_t n, at::Generator& gen) {
  torch::Tensor t = Uniform(n, 0, 1, gen);
  torch::Tensor angle = t * (4 * kPi);
  return torch::stack({t * torch::cos(angle), t * torch::sin(angle)}, 1);
}

torch::Tensor SwissRoll(int64_t n, at::Generator& gen) {
  torch::Tensor t = 1.5 * kPi * (1 + 2 * Uniform(n, 0, 1, gen));
  return torch::stack({t * torch::cos(t), t * torch::sin(t)}, 1) / 5.0;
}

}  // namespace

at::Tensor ModeCenters(DatasetKind kind) {
  if (kind == DatasetKind::kRing8) {
    torch::Tensor angles = torch::arange(8, torch::kFloat) * (2 * kPi / 8);
    return OnCircle(angles, 2.0);
  }
  if (kind == DatasetKind::kGrid25) {
    torch::Tensor axis = torch::arange(-4, 5, 2, torch::kFloat);
    auto grid = torch::meshgrid({axis, axis}, "ij");
    return torch::stack({grid[0].reshape(-1), grid[1].reshape(-1)}, 1);
  }
  return {};
}

at::Tensor MakeDataset(const DatasetSpec& d, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double noise = d.noise.value_or(DefaultNoise(d.kind));
  const int64_t n = d.size;
  switch (d.kind) {
    case DatasetKind::kSine: {
      torch::Tensor data = Sine(n, gen);
      if (noise > 0) data.select(1, 1).add_(torch::randn({n}, gen) * noise);
      return data;
    }
    case DatasetKind::kCircle: return AddNoise(OnCircle(Uniform(n, 0, 2 * kPi, gen), 1.0), noise, gen);
    case DatasetKind::kRing8:
    case DatasetKind::kGrid25: return AddNoise(Mixture(n, ModeCenters(d.kind), gen), noise, gen);
    case DatasetKind::kTwoMoons: return AddNoise(TwoMoons(n, gen), noise, gen);
    case DatasetKind::kSpiral: return AddNoise(Spiral(n, gen), noise, gen);
    case DatasetKind::kSwissRoll: return AddNoise(SwissRoll(n, gen), noise, gen);
    case DatasetKind::kUser: {
      const int64_t rows = DatasetRows(d);
      return torch::from_blob(const_cast<float*>(d.points.data()), {rows, d.dim}, torch::kFloat)
          .clone();
    }
    case DatasetKind::kTable: break;  // rows come from the table codec, not from here
  }
  return {};
}

JobData MakeJobData(const JobSpec& spec, at::Generator& gen) {
  JobData out;
  torch::Tensor all = MakeDataset(spec.dataset, gen);
  at::Generator eval_gen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kEval, 0));
  if (spec.dataset.kind != DatasetKind::kUser) {
    DatasetSpec d = spec.dataset;
    d.size = kBuiltinEvalRows;
    out.train = std::move(all);
    out.eval = MakeDataset(d, eval_gen);
    return out;
  }
  const int64_t rows = all.size(0);
  const int64_t held = HeldOutRows(spec);
  const torch::Tensor perm = torch::randperm(rows, eval_gen, torch::kLong);
  if (held == 0) {
    out.eval = all.index_select(0, perm.slice(0, 0, std::min(rows, kMaxEvalRows)));
    out.train = std::move(all);
    return out;
  }
  torch::Tensor keep = torch::ones({rows}, torch::kBool);
  keep.index_fill_(0, perm.slice(0, 0, held), false);
  out.eval = all.index_select(0, perm.slice(0, 0, std::min(held, kMaxEvalRows)));
  out.train = all.index_select(0, keep.nonzero().squeeze(1));
  return out;
}

StatusOr<std::vector<float>> DatasetValues(const JobSpec& spec, int64_t max_rows) {
  GANTRY_RETURN_IF_ERROR(Validate(spec));
  try {
    at::Generator gen = MakeCpuGenerator(spec.seed);
    const torch::Tensor data = MakeJobData(spec, gen).train;
    const torch::Tensor head = data.slice(0, 0, std::max<int64_t>(0, max_rows)).contiguous();
    return std::vector<float>(head.data_ptr<float>(), head.data_ptr<float>() + head.numel());
  } catch (const std::exception& e) {
    return StatusFromException("building the dataset", e);
  }
}

}  // namespace gantry
