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
// `list` names the call whose tokens these are, for the message.
Status ParsePageToken(const std::string& token, int64_t* start, const char* list = "ListJobs");
std::string MakePageToken(int64_t index);
// The exclusive upper bound a page starts below (a list's before_index or
// before_seq): 0 (from the newest) for "", else the token's position + 1.
// INVALID_ARGUMENT as ParsePageToken.
StatusOr<int64_t> PageBefore(const std::string& token, const char* list = "ListJobs");

// A request's page_size: 0 is `fallback`; INVALID_ARGUMENT outside 0..max.
StatusOr<int> PageSize(int64_t requested, int max, int fallback = 100);

// A page of a list (ListJobs, ListTables) stays under this many bytes
// (gRPC's default limit is 4 MiB): a longer page ends early with a
// next_page_token.
inline constexpr size_t kMaxPageBytes = 3 << 20;
// Whether one more item of `size` bytes goes on a page of `count` items and
// `*bytes` bytes (the first always does: a page holds at least one), adding
// `size` to *bytes when it does.
bool PageTakes(int count, size_t size, size_t* bytes);

}  // namespace gantry
