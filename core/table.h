// Tables: named, typed columns read from CSV, with missing values.
//
// ParseTable reads a CSV file (RFC 4180 through libcsv: quoted fields,
// embedded delimiters and newlines, doubled quotes; the delimiter is one of
// , ; TAB | and detected from the header unless given). The first record is
// the header: its names are kept, must be non-empty and distinct. A missing
// cell is an empty one or one of NA, N/A, NaN, null, NULL, None.
//
// Types are inferred per column from its non-missing cells, in this order:
//   boolean      every value true/false or yes/no (any case)
//   datetime     every value in one of the formats of kDatetimeFormats
//   categorical  every value an integer and at most kMaxInferredCodes distinct
//                values (integer codes), or any text that is not a number
//   integer      every value an integer (more distinct values)
//   continuous   every value a finite number
// A column with no value at all is categorical with no level (all missing).
// TableOptions' overrides name columns and change the inferred type; a
// value that the type cannot read is an error naming it.
//
// Every error is INVALID_ARGUMENT and names the file, line and column, e.g.
// "fair.csv: line 12, column 'age': 'abc' is not a number".
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace gantry {

enum class ColumnType { kContinuous, kInteger, kCategorical, kBoolean, kDatetime };

// "continuous", "integer", "categorical", "boolean", "datetime".
const char* ColumnTypeName(ColumnType type);

inline constexpr int64_t kMaxTableColumns = 1000;
inline constexpr int64_t kMaxTableRows = 10'000'000;
// Distinct values a categorical column may have.
inline constexpr int64_t kMaxCategoryLevels = 1000;
// Integer columns with at most this many distinct values are read as
// categorical codes unless overridden.
inline constexpr int64_t kMaxInferredCodes = 16;
// The datetime formats inference tries, in order (strftime-style).
const std::vector<std::string>& DatetimeFormats();

struct ColumnSchema {
  std::string name;
  ColumnType type = ColumnType::kContinuous;
  // Categorical and boolean: the distinct values as written, sorted (integer
  // codes numerically, text bytewise; boolean false before true).
  std::vector<std::string> levels;
  bool integer_codes = false;   // categorical whose levels are all integers
  std::string datetime_format;  // datetime only
  int64_t missing = 0;          // missing cells
  double min = 0, max = 0;      // numeric and datetime (seconds since 1970, UTC)
  int decimals = 0;             // continuous: most decimals written
};

struct TableSchema {
  std::vector<ColumnSchema> columns;
  int64_t rows = 0;
  char delimiter = ',';
  // The index of the column named `name`, or -1.
  int Find(const std::string& name) const;
};

// Columnar values: column c's row r is values[c][r]; NaN = missing.
// Continuous and integer columns hold the number; categorical and boolean
// the level's index in schema.levels; datetime seconds since 1970 (UTC).
struct Table {
  TableSchema schema;
  std::vector<std::vector<double>> values;
  int64_t rows() const { return schema.rows; }
};

struct TableOptions {
  std::string file_name = "table";  // for error messages
  char delimiter = 0;               // 0: detect
  std::map<std::string, ColumnType> overrides;  // by column name
  int64_t max_rows = kMaxTableRows;
};

// Parses and types the CSV `bytes`. At least one column and 2 data rows.
StatusOr<Table> ParseTable(const std::string& bytes, const TableOptions& options);

// The value of column `c` at `v` (as stored in Table::values) written as the
// input would: integers without decimals, continuous with the column's
// decimals (at least enough to round-trip a float), levels as written,
// datetimes in their format. "" for NaN.
std::string FormatCell(const ColumnSchema& column, double v);

// Reads `text` as a value of `column` (a level's spelling, a number, a date
// in the column's format) into the Table::values encoding. INVALID_ARGUMENT
// naming the column, e.g. "occupation: 7 is not a level (levels: 1, 2, 3)".
StatusOr<double> ParseCell(const ColumnSchema& column, const std::string& text);

}  // namespace gantry
