// ListJobs' page tokens: any string is INVALID_ARGUMENT (its message escaped
// and bounded) or a position of at least 1 that prints back as the token.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/util/page_token.h"
#include "server/util/safe_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);
  int64_t start = 0;
  const gantry::Status s = gantry::ParsePageToken(token, &start);
  if (!s.ok()) {
    if (s.code() != gantry::StatusCode::kInvalidArgument) __builtin_trap();
    // The token is cut to kSafeTextBytes and each byte escaped to at most 4.
    if (s.message().size() > 4 * gantry::kSafeTextBytes + 100) __builtin_trap();
    for (char c : s.message()) {
      if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();  // and escaped
    }
    return 0;
  }
  if (start < 1) __builtin_trap();
  return 0;
}
