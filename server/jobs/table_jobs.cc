#include "server/jobs/table_jobs.h"

#include <charconv>
#include <cmath>

namespace gantry {

Status LoadJobTable(const Store& store, JobSpec* spec) {
  TableSpec& t = spec->dataset.table;
  if (t.table_id.empty()) {
    return Status::InvalidArgument(
        "dataset.table.table_id: no table given (upload one with UploadTable or `gantry data push`, "
        "and name its id)");
  }
  auto row = store.GetTable(t.table_id);
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kNotFound) {
      return Status::InvalidArgument("dataset.table.table_id: no table " + t.table_id.substr(0, 80) +
                                     " is stored (upload it first)");
    }
    return row.status();
  }
  auto bytes = store.ReadTableBytes(t.table_id);
  if (!bytes.ok()) return bytes.status();
  TableOptions options;
  options.file_name = row->name.empty() ? t.table_id.substr(0, 12) : row->name;
  options.overrides = t.overrides;
  const std::string& d = row->schema.delimiter();
  options.delimiter = d.size() == 1 ? d[0] : 0;
  auto table = ParseTable(*bytes, options);
  if (!table.ok()) return Status::InvalidArgument("dataset.table: " + table.status().message());
  t.data = std::make_shared<const Table>(std::move(table).value());
  return Status::Ok();
}

int64_t RowBytes(const TableSchema& schema) {
  int64_t bytes = 0;
  for (const ColumnSchema& c : schema.columns) {
    int64_t cell = 11;  // a varint or a double, and the missing flag
    if (c.type == ColumnType::kCategorical || c.type == ColumnType::kBoolean) {
      size_t longest = 0;
      for (const std::string& l : c.levels) longest = std::max(longest, l.size());
      cell += static_cast<int64_t>(longest) + 2;
    } else if (c.type == ColumnType::kDatetime) {
      cell += 64 + 2;
    }
    bytes += cell;
  }
  return bytes;
}

void RowsToProto(const TableSchema& schema, const std::vector<std::vector<double>>& columns, v1::Rows* out) {
  const size_t n = columns.empty() ? 0 : columns[0].size();
  out->set_count(out->count() + static_cast<int64_t>(n));
  const bool first = out->columns_size() == 0;
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const ColumnSchema& col = schema.columns[c];
    v1::Column* o = first ? out->add_columns() : out->mutable_columns(static_cast<int>(c));
    if (first) {
      o->set_name(col.name);
      o->set_type(static_cast<v1::ColumnType>(static_cast<int>(col.type) + 1));
    }
    const std::vector<double>& v = columns[c];
    bool any_missing = o->missing_size() > 0;
    for (double x : v) any_missing |= std::isnan(x);
    if (any_missing && o->missing_size() == 0) {
      // Earlier chunks had none: their rows were all present.
      const int64_t before = out->count() - static_cast<int64_t>(n);
      for (int64_t i = 0; i < before; ++i) o->add_missing(false);
    }
    for (double x : v) {
      const bool missing = std::isnan(x);
      if (any_missing) o->add_missing(missing);
      switch (col.type) {
        case ColumnType::kContinuous: o->add_doubles(missing ? 0 : x); break;
        case ColumnType::kInteger: o->add_ints(missing ? 0 : static_cast<int64_t>(std::llround(x))); break;
        case ColumnType::kCategorical:
          if (col.integer_codes) {
            int64_t code = 0;
            if (!missing) {
              const std::string& level = col.levels[static_cast<size_t>(x)];
              const char* begin = level.data() + (!level.empty() && level[0] == '+' ? 1 : 0);
              std::from_chars(begin, level.data() + level.size(), code);
            }
            o->add_ints(code);
          } else {
            o->add_strings(missing ? "" : col.levels[static_cast<size_t>(x)]);
          }
          break;
        case ColumnType::kBoolean:
          o->add_bools(!missing && x != 0);
          o->add_strings(missing ? "" : col.levels[static_cast<size_t>(x)]);
          break;
        case ColumnType::kDatetime: o->add_strings(FormatCell(col, x)); break;
      }
    }
  }
}

}  // namespace gantry
