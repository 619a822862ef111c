#include "core/random.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/randperm.h>

#include <mutex>

namespace gantry {
namespace {
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace

at::Generator MakeCpuGenerator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

bool SetGeneratorState(at::Generator& gen, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor before = gen.get_state();
  gen.set_state(state);
  const at::mt19937_data_pod pod = at::check_generator<at::CPUGeneratorImpl>(gen)->engine().data();
  const bool fresh = pod.left_ == 1 && pod.next_ == 0;
  if (!fresh && !(pod.left_ >= 1 && pod.left_ <= 624 && pod.left_ + static_cast<int>(pod.next_) == 625)) {
    gen.set_state(before);
    return false;
  }
  return true;
}

uint64_t DeriveSeed(uint64_t seed, RandomStream stream, uint64_t index) {
  return SplitMix64(SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(stream))) + index);
}

std::vector<int64_t> RandPerm(int64_t n, at::Generator& gen) {
  const at::Tensor perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  const int64_t* p = perm.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + n);
}

}  // namespace gantry
