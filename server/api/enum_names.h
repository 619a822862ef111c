// One spelling of every enum value across the CLI, JSON and HTTP: the
// canonical proto name (DATASET_KIND_TWO_MOONS, JOB_STATE_RUNNING) and the
// short lower-case one the CLI uses (two_moons, running), in any case.
// Replies keep printing the canonical names.
//
// Thread-safety: pure functions over immutable descriptors.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace gantry {

// "two_moons" for DATASET_KIND_TWO_MOONS: the name without the prefix every
// value of its enum shares, lower-cased.
std::string ShortEnumName(const google::protobuf::EnumValueDescriptor& value);

// The value `text` names (canonical or short, any case; not the
// UNSPECIFIED value), or INVALID_ARGUMENT "FIELD: 'TEXT' is not one of
// a, b, c" listing the short names.
StatusOr<const google::protobuf::EnumValueDescriptor*> ParseEnumName(
    const google::protobuf::EnumDescriptor& type, std::string_view text, std::string_view field);

// A JSON request body for `message` with every enum field's string value
// (at any depth, in arrays and map values) rewritten to its canonical
// name, so that protobuf's JSON parser, which knows only those, reads the
// short ones too. INVALID_ARGUMENT names the field path and the valid
// values for a string no value has; JSON that does not scan (bad syntax,
// nesting deeper than 64) comes back unchanged for the parser to name.
StatusOr<std::string> CanonicalEnumsInJson(std::string_view json,
                                           const google::protobuf::Descriptor& message);

}  // namespace gantry
