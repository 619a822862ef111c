// Table jobs in the server: reading a job's uploaded table from the store
// into its spec, and sampled rows as typed, columnar messages.
//
// Thread-safety: pure functions over thread-safe stores.
#pragma once

#include <cstdint>
#include <vector>

#include "core/spec.h"
#include "core/status.h"
#include "core/table.h"
#include "gantry/v1/gantry.pb.h"
#include "server/store/store.h"

namespace gantry {

// Reads the table spec->dataset.table.table_id names from `store` and
// parses it with the spec's overrides into spec->dataset.table.data.
// INVALID_ARGUMENT naming table_id when it is empty or names no table
// (NOT_FOUND), or with the parser's message (file, line, column) when an
// override does not fit the data.
Status LoadJobTable(const Store& store, JobSpec* spec);

// Appends rows (TableRowStream's columnar values) to `out` with the
// schema's names and types: continuous as doubles, integer and integer-
// coded categorical as ints, other categorical, boolean spellings and
// datetimes as strings, booleans as bools too; a missing mask when any cell
// is missing.
void RowsToProto(const TableSchema& schema, const std::vector<std::vector<double>>& columns,
                 v1::Rows* out);

// An upper bound of one row's size in a Rows message, in bytes (for the
// message limit and stream chunks).
int64_t RowBytes(const TableSchema& schema);

}  // namespace gantry
