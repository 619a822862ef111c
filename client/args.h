// Strict parsing of the CLI's own argument values, where CLI11's defaults
// are too lenient (it wraps "-1" into 2^64-1 and drops empty list items).
// Each parser returns false and sets *error to a message naming the value.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gantry::cli {

// A decimal unsigned 64-bit integer: digits only, no sign, no base prefix.
bool ParseUint64(const std::string& text, uint64_t* out, std::string* error);

// Layer sizes "16,32": positive decimal integers separated by commas; "" is
// no layer. An empty item ("16,,32") is an error.
bool ParseSizes(const std::string& text, std::vector<int64_t>* out, std::string* error);

// A bearer token as given (flag, environment or file): surrounding
// whitespace trimmed (a Kubernetes secret often ends in a newline); false
// when what remains holds a control character, which gRPC refuses to send.
bool CleanToken(const std::string& raw, std::string* token, std::string* error);

// A --label value "key=value": a non-empty key, an '=', and no ',' (which
// separates a selector's terms). The server checks the rest (characters
// and lengths) and names what is wrong.
bool ParseLabel(const std::string& text, std::string* key, std::string* value, std::string* error);

// An --epoch of sample and export: "best" (*best set) or a decimal integer
// >= 1 (*epoch set).
bool ParseEpoch(const std::string& text, int64_t* epoch, bool* best, std::string* error);

// The candidate closest to `word` (edit distance, case-insensitive) when it
// is close enough to be a typo (at most 2 edits, counting a swap of two
// neighbours as one, and at most half of word's length) or when word (2
// characters or more) is a prefix of it; "" when none is.
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

// An enum value in any of its spellings, case-insensitively: the short name
// ("two_moons") or the proto's canonical one, `prefix` + the short name
// upper-cased ("DATASET_KIND_TWO_MOONS"; prefix "" when the short name is
// the canonical one). *index is its position in `names`; false with *error
// "'x' is not one of a, b, c" (plus a did-you-mean when one is close).
bool ParseEnumName(const std::string& text, const std::vector<std::string>& names,
                   const std::string& prefix, size_t* index, std::string* error);

}  // namespace gantry::cli
