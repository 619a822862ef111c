// ListJobs page tokens: the index of the next job to list, as decimal text
// (opaque to clients: they pass back what next_page_token said).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace gantry {

// The position `token` names (>= 1), or INVALID_ARGUMENT quoting the token
// escaped and cut (SafeText).
Status ParsePageToken(const std::string& token, int64_t* start);
std::string MakePageToken(int64_t index);

}  // namespace gantry
