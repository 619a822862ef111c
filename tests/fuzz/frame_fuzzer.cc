// The frame of checkpoint and snapshot files (magic, length, CRC-32) on
// arbitrary bytes: DATA_LOSS, or the payload; and a payload framed by
// FrameHeader always unframes to itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/util/files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto payload = gantry::Unframe(bytes, "fuzz");
  if (!payload.ok() && payload.status().code() != gantry::StatusCode::kDataLoss) __builtin_trap();
  auto round = gantry::Unframe(gantry::FrameHeader(bytes) + bytes, "fuzz");
  if (!round.ok() || *round != bytes) __builtin_trap();
  return 0;
}
