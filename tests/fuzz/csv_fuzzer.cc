// The CLI's points-file reader on arbitrary text: either an error naming
// what is wrong, or rows of one width with finite values.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "client/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const gantry::cli::PointsFile f =
      gantry::cli::ParsePointsCsv(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  if (!f.error.empty()) {
    if (f.error.rfind("fuzz.csv", 0) != 0) __builtin_trap();  // errors name the file
    return 0;
  }
  if (f.dim <= 0 || f.values.empty() || f.values.size() % static_cast<size_t>(f.dim) != 0) __builtin_trap();
  for (float v : f.values) {
    if (!std::isfinite(v)) __builtin_trap();
  }
  return 0;
}
