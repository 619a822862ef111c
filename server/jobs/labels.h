// Labels on jobs (Kubernetes and AIP-122 style) and the label selectors of
// ListJobs.
//
// A label is key=value: the key 1..63 characters of [A-Za-z0-9._-] starting
// with a letter or digit, the value 0..63 characters of [A-Za-z0-9._-]; a
// job carries at most kMaxLabels. So a job's labels take at most
// 16 x (63 + 63) bytes, and a selector at most kMaxLabels terms.
//
// A selector is "key=value[,key=value...]" ("" selects every job): a job is
// selected when it carries every one of the pairs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "core/status.h"

namespace gantry {

inline constexpr size_t kMaxLabels = 16;
inline constexpr size_t kMaxLabelKeyLength = 63;
inline constexpr size_t kMaxLabelValueLength = 63;

using Labels = std::map<std::string, std::string>;

// OK, or INVALID_ARGUMENT naming the label, its value and the rule broken
// ("labels: key 'a b' (value 'x') must be 1..63 characters of [A-Za-z0-9._-]
// starting with a letter or digit").
Status ValidateLabels(const Labels& labels);

// The pairs of `selector`, or INVALID_ARGUMENT naming the bad term: one
// without '=', an empty or bad key, a bad value, a key given twice, or more
// than kMaxLabels terms.
StatusOr<Labels> ParseLabelSelector(const std::string& selector);

}  // namespace gantry
