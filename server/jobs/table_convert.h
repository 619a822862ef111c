// The one place where gantry.v1's table messages and core's tables
// (core/table.h) meet.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "core/status.h"
#include "core/table.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry {

v1::ColumnType ColumnTypeToProto(ColumnType type);
// INVALID_ARGUMENT naming `field` for COLUMN_TYPE_UNSPECIFIED or an
// unknown value.
StatusOr<ColumnType> ColumnTypeFromProto(int type, const std::string& field);

// The delimiter as the proto writes it: ",", ";", "\t" or "|".
std::string DelimiterToProto(char delimiter);
// A delimiter as a request gives it: "" is 0 (detect), otherwise one of
// "," ";" "|" and a tab (written as a tab character, "\t" or "tab").
// INVALID_ARGUMENT naming `field` and the allowed ones for anything else.
StatusOr<char> DelimiterFromProto(const std::string& text, const std::string& field);

v1::TableSchema SchemaToProto(const TableSchema& schema);

}  // namespace gantry
