// List pages. Page tokens: the index of the next job to list, as decimal text
// (opaque to clients: they pass back what next_page_token said).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace gantry {

// The position `token` names (>= 1), or INVALID_ARGUMENT quoting the token
// escaped and cut (SafeText).
Status ParsePageToken(const std::string& token, int64_t* start);
std::string MakePageToken(int64_t index);

// A page of a list (ListJobs, ListTables) stays under this many bytes
// (gRPC's default limit is 4 MiB): a longer page ends early with a
// next_page_token.
inline constexpr size_t kMaxPageBytes = 3 << 20;
// Whether one more item of `size` bytes goes on a page of `count` items and
// `*bytes` bytes (the first always does: a page holds at least one), adding
// `size` to *bytes when it does.
bool PageTakes(int count, size_t size, size_t* bytes);

}  // namespace gantry
