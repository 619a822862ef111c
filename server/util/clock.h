// The wall clock as gantryd records it: nanoseconds since the Unix epoch
// (job and table times, event times, leases on the embedded stores, session
// expiry).
//
// Thread-safety: pure function.
#pragma once

#include <chrono>
#include <cstdint>

namespace gantry {

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gantry
