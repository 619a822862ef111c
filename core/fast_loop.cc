#include "core/fast_loop.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Version.h>
#include <torch/torch.h>

#include <cstring>

#include "core/exact_kernels.h"
#include "core/losses.h"

namespace gantry {
namespace {

// A float buffer allocated once and never zeroed: a batch of a million rows
// would otherwise spend seconds writing gigabytes it then overwrites.
class Buffer {
 public:
  void resize(size_t n) {
    data_.reset(new float[n]);
    size_ = n;
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<float[]> data_;
  size_t size_ = 0;
};

struct Layer {
  float* w = nullptr;  // [out, in], the parameter's own storage
  float* b = nullptr;  // [out]
  int64_t in = 0, out = 0;
  int w_index = 0;  // index of the weight in the network's parameter list
  Buffer grad_w, grad_b;
  // Forward buffers, sized for the most rows a batch feeds this network.
  Buffer act;   // the linear output; after ReLU in place, the ReLU output
  Buffer mask;  // dropout noise (discriminator hidden layers)
  Buffer drop;  // act * mask: the next layer's input
};

struct Network {
  std::vector<Layer> layers;
  std::vector<at::Tensor> params;
  Adam* adam = nullptr;

  // The input of layer i (i > 0): the previous layer's output after ReLU
  // and dropout.
  const float* Input(size_t i, const float* x, bool dropout) const {
    if (i == 0) return x;
    return dropout ? layers[i - 1].drop.data() : layers[i - 1].act.data();
  }
};

class EngineLease {
 public:
  explicit EngineLease(at::Generator& gen)
      : gen_(gen), impl_(gen.get<at::CPUGeneratorImpl>()), lock_(gen.mutex()) {
    at::mt19937 engine = impl_->engine();
    pod_ = engine.data();
    std::memcpy(state_.state, pod_.state_.data(), sizeof(state_.state));
    state_.left = pod_.left_;
    state_.next = pod_.next_;
  }
  ~EngineLease() {
    std::memcpy(pod_.state_.data(), state_.state, sizeof(state_.state));
    pod_.left_ = state_.left;
    pod_.next_ = state_.next;
    at::mt19937 engine;
    engine.set_data(pod_);
    impl_->set_engine(engine);
  }
  exact::Mt19937State* state() { return &state_; }

 private:
  at::Generator& gen_;
  at::CPUGeneratorImpl* impl_;
  std::lock_guard<std::mutex> lock_;
  at::mt19937_data_pod pod_;
  exact::Mt19937State state_;
};

}  // namespace

// Create() admits only the shapes for which ATen calls BLAS.
void Gemm(bool called) { TORCH_INTERNAL_ASSERT(called, "the fast path met a GEMM ATen would not send to BLAS"); }

struct FastLoop::Impl {
  JobSpec spec;
  Network g, d;
  int64_t data_dim = 0, latent = 0, batch = 0;
  double keep = 1.0;  // 1 - dropout
  at::Tensor z;       // [batch, latent] and, for a short last batch, [last, latent]
  at::Tensor z_last;
  Buffer x_d;        // [2 * batch, data_dim]: real rows, then fakes
  Buffer out_d;      // [2 * batch] discriminator outputs
  Buffer grad_out;   // [2 * batch] gradient at the logits
  Buffer grad_a, grad_b;  // ping-pong gradients, [2 * batch * widest]
  Buffer scratch;    // BCE terms
  std::vector<float> gemm_scratch;
  // The epoch's cancel flag: also read between layers, so that a cancel or
  // a drain acts within one layer's work even in a batch of millions of rows.
  const std::atomic<bool>* cancel = nullptr;
  bool Stop() const { return cancel != nullptr && cancel->load(std::memory_order_relaxed); }

  // Both return false, having stopped early, once Stop() is true.
  bool Forward(Network& net, const float* x, int64_t rows, bool dropout,
               exact::Mt19937State* mt, bool sigmoid, float* out);
  // Backpropagates `grad` (at the last layer's output, [rows, out]) through
  // `net`. Weight gradients when `weights`; the gradient at the network's
  // input is left in *input_grad when it is non-null.
  bool Backward(Network& net, const float* x, int64_t rows, bool dropout, bool weights,
                float** input_grad);
  void AdamStep(Network& net);
};

bool FastLoop::Impl::Forward(Network& net, const float* x, int64_t rows, bool dropout,
                             exact::Mt19937State* mt, bool sigmoid, float* out) {
  for (size_t i = 0; i < net.layers.size(); ++i) {
    if (Stop()) return false;  // the caller abandons the batch
    Layer& l = net.layers[i];
    const float* in = net.Input(i, x, dropout);
    float* a = l.act.data();
    for (int64_t r = 0; r < rows; ++r) std::memcpy(a + r * l.out, l.b, sizeof(float) * l.out);
    // linear = addmm(bias, input, weight.t())
    Gemm(exact::Addmm(a, rows, l.out, exact::Contiguous(in, rows, l.in),
                 exact::MatView{l.w, l.in, l.out, 1, std::max<int64_t>(l.in, 1)}, 1.f,
                 &gemm_scratch));
    const int64_t n = rows * l.out;
    if (i + 1 == net.layers.size()) {
      if (sigmoid) exact::Sigmoid(a, out, n);
      else std::memcpy(out, a, sizeof(float) * n);
      break;
    }
    exact::ReluInPlace(a, n);
    if (dropout) {
      exact::DropoutMask(mt, keep, l.mask.data(), n);
      exact::Mul(a, l.mask.data(), l.drop.data(), n);
    }
  }
  return true;
}

bool FastLoop::Impl::Backward(Network& net, const float* x, int64_t rows, bool dropout,
                              bool weights, float** input_grad) {
  float* g = grad_out.data();
  float* spare[2] = {grad_a.data(), grad_b.data()};
  int which = 0;
  for (size_t i = net.layers.size(); i-- > 0;) {
    if (Stop()) return false;
    Layer& l = net.layers[i];
    const float* in = net.Input(i, x, dropout);
    if (weights) {
      // grad_weight = grad.t().mm(input); grad_bias = grad.sum(0)
      Gemm(exact::Addmm(l.grad_w.data(), l.out, l.in,
                   exact::MatView{g, l.out, rows, 1, std::max<int64_t>(l.out, 1)},
                   exact::Contiguous(in, rows, l.in), 0.f, &gemm_scratch));
      exact::SumRows(g, rows, l.out, l.grad_b.data());
    }
    if (i == 0 && input_grad == nullptr) break;
    if (Stop()) return false;  // between the weight and the input gradients' GEMMs
    // grad_input = grad.mm(weight)
    float* gin = spare[which];
    which ^= 1;
    Gemm(exact::Addmm(gin, rows, l.in, exact::Contiguous(g, rows, l.out),
                 exact::Contiguous(l.w, l.out, l.in), 0.f, &gemm_scratch));
    if (i == 0) {
      *input_grad = gin;
      break;
    }
    const Layer& prev = net.layers[i - 1];
    exact::DropoutReluBackward(gin, dropout ? prev.mask.data() : nullptr, prev.act.data(),
                               rows * l.in);
    g = gin;
  }
  return true;
}

void FastLoop::Impl::AdamStep(Network& net) {
  const double beta1 = spec.beta1, beta2 = spec.beta2, lr = spec.learning_rate;
  for (Layer& l : net.layers) {
    for (int k = 0; k < 2; ++k) {
      const int idx = l.w_index + k;
      const int64_t step = ++net.adam->steps()[idx];
      // core/adam.cc's scalars, in double, as ATen receives them.
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
      const double step_size = lr / bias_correction1;
      const double bias_correction2_sqrt = std::sqrt(bias_correction2);
      exact::AdamScalars s{static_cast<float>(beta1),         static_cast<float>(1 - beta1),
                           static_cast<float>(beta2),         static_cast<float>(1 - beta2),
                           static_cast<float>(bias_correction2_sqrt), static_cast<float>(1e-8),
                           static_cast<float>(-step_size)};
      float* param = k == 0 ? l.w : l.b;
      const float* grad = k == 0 ? l.grad_w.data() : l.grad_b.data();
      const int64_t n = k == 0 ? l.out * l.in : l.out;
      exact::AdamUpdate(param, grad, net.adam->exp_avg()[idx].data_ptr<float>(),
                        net.adam->exp_avg_sq()[idx].data_ptr<float>(), n, s);
    }
  }
}

FastLoop::FastLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FastLoop::~FastLoop() = default;

const std::string& FastLoop::AtenCapability() {
  static const std::string capability = [] {
    const std::string config = at::show_config();
    const std::string key = "CPU capability usage: ";
    const size_t at = config.find(key);
    if (at == std::string::npos) return std::string("unknown");
    const size_t end = config.find('\n', at);
    return config.substr(at + key.size(), end == std::string::npos ? end : end - at - key.size());
  }();
  return capability;
}

std::unique_ptr<FastLoop> FastLoop::Create(const JobSpec& spec, Net generator, Net discriminator,
                                           std::string* why) {
  if (!exact::CpuSupported()) {
    *why = "this CPU lacks AVX2/FMA";
    return nullptr;
  }
  if (AtenCapability() != "AVX2") {
    *why = "ATen runs its " + AtenCapability() +
           " kernels here; the fast path repeats its AVX2 ones";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.spec = spec;
  s.data_dim = DataDim(spec.dataset);
  s.latent = spec.latent_dim;
  s.batch = spec.batch_size;
  s.keep = 1 - spec.dropout;
  const int64_t rows = DatasetRows(spec.dataset);
  const int64_t last = rows % s.batch;
  const bool one_row_batch = s.batch == 1 || last == 1;

  int64_t widest = 1;
  auto build = [&](Network& net, Net in, int64_t max_rows, bool dropout) -> bool {
    net.params = std::move(in.params);
    net.adam = in.adam;
    for (size_t p = 0; p + 1 < net.params.size(); p += 2) {
      const at::Tensor& w = net.params[p];
      const at::Tensor& b = net.params[p + 1];
      if (w.scalar_type() != at::kFloat || !w.is_contiguous() || !b.is_contiguous() || w.dim() != 2) {
        *why = "parameters are not contiguous float matrices";
        return false;
      }
      Layer l;
      l.w = w.data_ptr<float>();
      l.b = b.data_ptr<float>();
      l.out = w.size(0);
      l.in = w.size(1);
      l.w_index = static_cast<int>(p);
      l.grad_w.resize(l.out * l.in);
      l.grad_b.resize(l.out);
      l.act.resize(max_rows * l.out);
      if (dropout) {
        l.mask.resize(max_rows * l.out);
        l.drop.resize(max_rows * l.out);
      }
      widest = std::max({widest, l.in, l.out});
      net.layers.push_back(std::move(l));
    }
    return !net.layers.empty();
  };
  const bool dropout = spec.dropout > 0;
  if (!build(s.g, std::move(generator), s.batch, false) ||
      !build(s.d, std::move(discriminator), 2 * s.batch, dropout)) {
    if (why->empty()) *why = "networks without layers";
    return nullptr;
  }
  // A one-row batch through a layer with one input takes another branch in
  // ATen's mm backward (a column-major gradient); leave it to ATen.
  if (one_row_batch) {
    for (const auto* net : {&s.g, &s.d}) {
      for (const Layer& l : net->layers) {
        if (l.in == 1) {
          *why = "a one-row batch through a layer with one input";
          return nullptr;
        }
      }
    }
  }
  s.z = at::empty({s.batch, s.latent}, at::kFloat);
  if (last != 0) s.z_last = at::empty({last, s.latent}, at::kFloat);
  s.x_d.resize(2 * s.batch * s.data_dim);
  s.out_d.resize(2 * s.batch);
  s.grad_out.resize(std::max(2 * s.batch, s.batch * s.data_dim));
  s.grad_a.resize(2 * s.batch * widest);
  s.grad_b.resize(2 * s.batch * widest);
  s.scratch.resize(2 * s.batch);
  return std::unique_ptr<FastLoop>(new FastLoop(std::move(impl)));
}

Status FastLoop::TrainEpoch(const at::Tensor& data, const int64_t* perm, at::Generator& gen,
                            const std::atomic<bool>* cancel, EpochReport* r) {
  Impl& s = *impl_;
  const int64_t rows = data.size(0);
  const int64_t dim = s.data_dim;
  const float* points = data.data_ptr<float>();
  const bool dropout = s.spec.dropout > 0;
  double sum_d = 0, sum_g = 0, sum_real = 0, sum_fake = 0;
  int64_t batches = 0, seen = 0;
  float loss_d = 0, loss_g = 0;
  s.cancel = cancel;  // read by Stop() during this call only
  const Status cancelled = Status::Cancelled("training cancelled");
  for (int64_t start = 0; start < rows; start += s.batch) {
    if (s.Stop()) return cancelled;
    const int64_t b = std::min(s.batch, rows - start);
    at::Tensor& z = b == s.batch ? s.z : s.z_last;
    float* x = s.x_d.data();
    for (int64_t j = 0; j < b; ++j) {
      std::memcpy(x + j * dim, points + perm[start + j] * dim, sizeof(float) * dim);
    }

    // Discriminator step on [real; G(z)].
    z.normal_(0, 1, gen);
    if (!s.Forward(s.g, z.data_ptr<float>(), b, false, nullptr, false, x + b * dim)) return cancelled;
    {
      EngineLease lease(gen);
      if (!s.Forward(s.d, x, 2 * b, dropout, lease.state(), true, s.out_d.data())) return cancelled;
    }
    bool in_range = true;
    loss_d = exact::BceMean(s.out_d.data(), 2 * b, b, s.scratch.data(), &in_range);
    // As at::binary_cross_entropy (the same exception, so the same job error).
    TORCH_CHECK(in_range, kBceInputError);
    exact::BceSigmoidBackward(s.out_d.data(), 2 * b, b, s.grad_out.data());
    if (!s.Backward(s.d, x, 2 * b, dropout, true, nullptr)) return cancelled;
    s.AdamStep(s.d);
    const float real_sum = exact::SumContiguous(s.out_d.data(), b);
    const float fake_sum = exact::SumContiguous(s.out_d.data() + b, b);

    // Generator step: D(G(z)) against ones, gradients for G only.
    z.normal_(0, 1, gen);
    float* fakes = s.x_d.data();  // the real rows are no longer needed
    if (!s.Forward(s.g, z.data_ptr<float>(), b, false, nullptr, false, fakes)) return cancelled;
    {
      EngineLease lease(gen);
      if (!s.Forward(s.d, fakes, b, dropout, lease.state(), true, s.out_d.data())) return cancelled;
    }
    loss_g = exact::BceMean(s.out_d.data(), b, b, s.scratch.data(), &in_range);
    TORCH_CHECK(in_range, kBceInputError);
    exact::BceSigmoidBackward(s.out_d.data(), b, b, s.grad_out.data());
    float* grad_fake = nullptr;
    if (!s.Backward(s.d, fakes, b, dropout, false, &grad_fake)) return cancelled;
    std::memcpy(s.grad_out.data(), grad_fake, sizeof(float) * b * dim);
    if (!s.Backward(s.g, z.data_ptr<float>(), b, false, true, nullptr)) return cancelled;
    s.AdamStep(s.g);

    sum_d += loss_d;
    sum_g += loss_g;
    sum_real += real_sum;
    sum_fake += fake_sum;
    seen += b;
    ++batches;
  }
  r->loss_d = sum_d / batches;
  r->loss_g = sum_g / batches;
  r->last_loss_d = loss_d;
  r->last_loss_g = loss_g;
  r->d_real = sum_real / seen;
  r->d_fake = sum_fake / seen;
  return Status::Ok();
}

}  // namespace gantry
