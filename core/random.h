// Random-number plumbing: every job owns its generators; nothing in gantry
// draws from LibTorch's process-wide default generator, so concurrent jobs
// stay deterministic.
//
// Thread-safety: the functions are pure; an at::Generator must not be shared
// between threads without holding its mutex.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace gantry {

// Streams of derived randomness, so that reporting never perturbs training.
enum class RandomStream : uint64_t {
  kQuality = 1,  // per-epoch quality figure and preview points
  kSample = 2,   // Sample(): one generator per block of points
  kEval = 3,     // index 0: the evaluation set (and its directions); index e: epoch e's evaluation
  kTableEncode = 4,  // index 0: a table job's mode draws when its codec encodes the training rows
};

// A fresh CPU generator seeded exactly as torch.manual_seed(seed) would.
at::Generator MakeCpuGenerator(uint64_t seed);

// A well-mixed 64-bit seed derived from (seed, stream, index) with splitmix64.
uint64_t DeriveSeed(uint64_t seed, RandomStream stream, uint64_t index);

// Sets a CPU generator's state from a saved one (get_state()'s bytes), or
// leaves it unchanged and returns false: ATen checks the state's size and
// ranges but not that mt19937's position is consistent (left + next == 625
// once drawn from), which the draws then trust, so a crafted state would
// read past the engine's words. Takes the generator's mutex.
bool SetGeneratorState(at::Generator& gen, const at::Tensor& state);

// torch.randperm(n, generator=gen) as a vector.
std::vector<int64_t> RandPerm(int64_t n, at::Generator& gen);

}  // namespace gantry
