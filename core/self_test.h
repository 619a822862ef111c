// The fast path's self-test: it proves, on this machine and this LibTorch,
// that the fast trainer (fast_loop.h) gives the ATen path's bits.
//
// It trains two small jobs (dropout and none, uneven last batches, several
// layer widths) for a few epochs on both paths and compares every report
// field and the complete saved state (weights, Adam state, generator)
// byte for byte. The result is computed once per process; gantryd runs it
// at start-up and logs it, and TrainerPath::kAuto uses the fast path only
// when it passed.
//
// Thread-safety: safe from any thread (computed once).
#pragma once

#include <string>

namespace gantry {

struct SelfTestResult {
  bool passed = false;
  std::string detail;   // what differed, or what was compared
  double seconds = 0;   // how long the test took
};

const SelfTestResult& FastPathSelfTest();

}  // namespace gantry
