// SafeText: a user-supplied string as it may appear in a log line or a
// status message: control characters and bytes outside printable ASCII
// escaped (\n, \x00, ...), and at most `max_bytes` of it kept, with the
// original length noted. A job id with a newline cannot forge a log line,
// and a 1 MB id does not become a 1 MB status message.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gantry {

inline constexpr size_t kSafeTextBytes = 128;

std::string SafeText(std::string_view s, size_t max_bytes = kSafeTextBytes);

}  // namespace gantry
