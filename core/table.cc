#include "core/table.h"

#include <csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <unordered_map>

namespace gantry {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Cells of one column, as written, in one buffer.
struct RawColumn {
  std::string bytes;
  std::vector<uint32_t> ends;  // end offset of each cell in bytes
  std::vector<int64_t> lines;  // filled lazily for error messages: not kept
  std::string_view Cell(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(begin, ends[i] - begin);
  }
};

struct Reader {
  const TableOptions* options;
  std::vector<std::string> header;
  std::vector<RawColumn> columns;
  std::vector<int64_t> row_lines;  // the line each data row ended on
  size_t field = 0;                // fields seen in the current record
  bool in_header = true;
  int64_t line = 1;
  Status error = Status::Ok();
  std::vector<std::string> header_fields;

  std::string Where(int64_t at_line) const {
    return options->file_name + ": line " + std::to_string(at_line);
  }
};

bool IsMissing(std::string_view s) {
  return s.empty() || s == "NA" || s == "N/A" || s == "NaN" || s == "nan" || s == "null" ||
         s == "NULL" || s == "None";
}

void OnField(void* data, size_t len, void* arg) {
  auto* r = static_cast<Reader*>(arg);
  if (!r->error.ok()) return;
  const char* s = static_cast<const char*>(data);
  if (r->in_header) {
    r->header_fields.emplace_back(s ? s : "", s ? len : 0);
    return;
  }
  if (r->field >= r->columns.size()) {
    ++r->field;
    return;  // counted; reported at the end of the record
  }
  RawColumn& c = r->columns[r->field++];
  if (s) c.bytes.append(s, len);
  if (c.bytes.size() > std::numeric_limits<uint32_t>::max()) {
    r->error = Status::InvalidArgument(r->Where(r->line) + ": column '" + r->header[r->field - 1] +
                                       "' holds more than 4 GiB");
    return;
  }
  c.ends.push_back(static_cast<uint32_t>(c.bytes.size()));
}

void OnRecord(int, void* arg) {
  auto* r = static_cast<Reader*>(arg);
  if (!r->error.ok()) return;
  if (r->in_header) {
    r->in_header = false;
    r->header = std::move(r->header_fields);
    if (static_cast<int64_t>(r->header.size()) > kMaxTableColumns) {
      r->error = Status::InvalidArgument(r->Where(r->line) + ": " +
                                         std::to_string(r->header.size()) + " columns, more than " +
                                         std::to_string(kMaxTableColumns));
      return;
    }
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < r->header.size(); ++i) {
      if (r->header[i].empty()) {
        r->error = Status::InvalidArgument(r->Where(r->line) + ": column " + std::to_string(i + 1) +
                                           " has no name in the header");
        return;
      }
      if (!seen.emplace(r->header[i], i).second) {
        r->error = Status::InvalidArgument(r->Where(r->line) + ": column '" + r->header[i] +
                                           "' is named twice in the header");
        return;
      }
    }
    r->columns.resize(r->header.size());
    return;
  }
  if (r->field != r->columns.size()) {
    r->error = Status::InvalidArgument(r->Where(r->line) + ": " + std::to_string(r->field) +
                                       " fields, but the header has " +
                                       std::to_string(r->columns.size()));
    return;
  }
  r->field = 0;
  r->row_lines.push_back(r->line);
  if (static_cast<int64_t>(r->row_lines.size()) > r->options->max_rows) {
    r->error = Status::InvalidArgument(r->options->file_name + ": more than " +
                                       std::to_string(r->options->max_rows) + " rows");
  }
}

char DetectDelimiter(const std::string& bytes) {
  // Counts each candidate in the first line, outside quotes.
  const char candidates[] = {',', ';', '\t', '|'};
  int64_t counts[4] = {0, 0, 0, 0};
  bool quoted = false;
  for (char ch : bytes) {
    if (ch == '"') quoted = !quoted;
    if (!quoted && (ch == '\n' || ch == '\r')) break;
    if (quoted) continue;
    for (int i = 0; i < 4; ++i) counts[i] += ch == candidates[i];
  }
  int best = 0;
  for (int i = 1; i < 4; ++i) {
    if (counts[i] > counts[best]) best = i;
  }
  return candidates[best];
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// A finite number; *decimals gets the digits after the point (-1 for an
// exponent form).
bool ParseNumber(std::string_view s, double* out, int* decimals) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(*out)) return false;
  if (decimals) {
    const size_t e = s.find_first_of("eE");
    const size_t dot = s.find('.');
    if (e != std::string_view::npos) {
      *decimals = -1;
    } else {
      *decimals = dot == std::string_view::npos ? 0 : static_cast<int>(s.size() - dot - 1);
    }
  }
  return true;
}

int BoolValue(std::string_view s) {  // 0, 1, or -1 for not a boolean
  std::string l(s);
  for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (l == "true" || l == "yes") return 1;
  if (l == "false" || l == "no") return 0;
  return -1;
}

bool ParseDatetime(std::string_view s, const std::string& format, double* out) {
  if (s.empty() || s.size() > 64) return false;
  char buf[65];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  std::tm tm{};
  const char* end = strptime(buf, format.c_str(), &tm);
  if (end == nullptr || *end != 0) return false;
  *out = static_cast<double>(timegm(&tm));
  return true;
}

std::string Quote(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 64));
  if (s.size() > 64) out += "...";
  return out + "'";
}

struct Typed {
  ColumnSchema schema;
  std::vector<double> values;
};

class ColumnBuilder {
 public:
  ColumnBuilder(const RawColumn& raw, const std::string& name, const Reader& reader)
      : raw_(raw), name_(name), reader_(reader) {}

  StatusOr<Typed> Build(std::optional<ColumnType> forced) {
    const size_t n = raw_.ends.size();
    cells_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      cells_[i] = Trim(raw_.Cell(i));
      if (IsMissing(cells_[i])) {
        missing_.push_back(i);
        cells_[i] = std::string_view();
      }
    }
    ColumnType type = forced ? *forced : Infer();
    Typed t;
    t.schema.name = name_;
    t.schema.type = type;
    t.schema.missing = static_cast<int64_t>(missing_.size());
    t.values.assign(n, kNaN);
    Status s = Status::Ok();
    switch (type) {
      case ColumnType::kContinuous: s = Numbers(t, /*integral=*/false); break;
      case ColumnType::kInteger: s = Numbers(t, /*integral=*/true); break;
      case ColumnType::kCategorical: s = Levels(t); break;
      case ColumnType::kBoolean: s = Booleans(t); break;
      case ColumnType::kDatetime: s = Datetimes(t); break;
    }
    if (!s.ok()) return s;
    return t;
  }

 private:
  bool Present(size_t i) const { return !cells_[i].empty(); }

  ColumnType Infer() {
    bool any = false, all_bool = true, all_int = true, all_num = true;
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (!Present(i)) continue;
      any = true;
      if (all_bool && BoolValue(cells_[i]) < 0) all_bool = false;
      int64_t iv;
      double dv;
      if (all_int && !ParseInt(cells_[i], &iv)) all_int = false;
      if (all_num && !all_int && !ParseNumber(cells_[i], &dv, nullptr)) all_num = false;
      if (!all_bool && !all_num) break;
    }
    if (!any) return ColumnType::kCategorical;
    if (all_bool) return ColumnType::kBoolean;
    if (!all_num) {
      for (const std::string& f : DatetimeFormats()) {
        if (AllDates(f)) return ColumnType::kDatetime;
      }
      return ColumnType::kCategorical;
    }
    if (all_int) {
      std::unordered_map<std::string_view, int> distinct;
      for (size_t i = 0; i < cells_.size(); ++i) {
        if (Present(i)) distinct.emplace(cells_[i], 0);
        if (static_cast<int64_t>(distinct.size()) > kMaxInferredCodes) return ColumnType::kInteger;
      }
      return ColumnType::kCategorical;
    }
    return ColumnType::kContinuous;
  }

  bool AllDates(const std::string& format) {
    double v;
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (Present(i) && !ParseDatetime(cells_[i], format, &v)) return false;
    }
    return true;
  }

  Status Bad(size_t i, const std::string& what) const {
    return Status::InvalidArgument(reader_.Where(reader_.row_lines[i]) + ", column '" + name_ +
                                   "': " + Quote(cells_[i]) + " " + what);
  }

  void Range(Typed& t) {
    bool first = true;
    for (double v : t.values) {
      if (std::isnan(v)) continue;
      if (first || v < t.schema.min) t.schema.min = v;
      if (first || v > t.schema.max) t.schema.max = v;
      first = false;
    }
  }

  Status Numbers(Typed& t, bool integral) {
    int decimals = 0;
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (!Present(i)) continue;
      if (integral) {
        int64_t v;
        if (!ParseInt(cells_[i], &v)) {
          double d;
          int dec;
          if (ParseNumber(cells_[i], &d, &dec) && d == std::floor(d) && std::fabs(d) < 9e15) {
            v = static_cast<int64_t>(d);
          } else {
            return Bad(i, "is not an integer (the column is read as integer)");
          }
        }
        if (v > (int64_t{1} << 53) || v < -(int64_t{1} << 53)) return Bad(i, "is beyond +-2^53");
        t.values[i] = static_cast<double>(v);
      } else {
        int dec = 0;
        if (!ParseNumber(cells_[i], &t.values[i], &dec)) return Bad(i, "is not a number");
        if (dec < 0 || decimals < 0) {
          decimals = -1;
        } else {
          decimals = std::max(decimals, dec);
        }
      }
    }
    t.schema.decimals = std::min(decimals, 12);
    Range(t);
    return Status::Ok();
  }

  Status Levels(Typed& t) {
    std::unordered_map<std::string_view, int64_t> index;
    std::vector<std::string_view> levels;
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (!Present(i)) continue;
      if (index.emplace(cells_[i], 0).second) {
        levels.push_back(cells_[i]);
        if (static_cast<int64_t>(levels.size()) > kMaxCategoryLevels) {
          return Status::InvalidArgument(
              reader_.options->file_name + ", column '" + name_ + "': more than " +
              std::to_string(kMaxCategoryLevels) +
              " distinct values for a categorical column; read it as continuous or integer if it "
              "is numeric, or group or drop its values");
        }
      }
    }
    bool codes = !levels.empty();
    std::vector<int64_t> ints(levels.size());
    for (size_t l = 0; l < levels.size() && codes; ++l) codes = ParseInt(levels[l], &ints[l]);
    std::vector<size_t> order(levels.size());
    for (size_t l = 0; l < order.size(); ++l) order[l] = l;
    if (codes) {
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return ints[a] != ints[b] ? ints[a] < ints[b] : levels[a] < levels[b];
      });
    } else {
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return levels[a] < levels[b]; });
    }
    t.schema.integer_codes = codes;
    for (size_t k = 0; k < order.size(); ++k) {
      t.schema.levels.emplace_back(levels[order[k]]);
      index[levels[order[k]]] = static_cast<int64_t>(k);
    }
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (Present(i)) t.values[i] = static_cast<double>(index[cells_[i]]);
    }
    if (codes) {
      t.schema.min = static_cast<double>(ints[order.front()]);
      t.schema.max = static_cast<double>(ints[order.back()]);
    }
    return Status::Ok();
  }

  Status Booleans(Typed& t) {
    std::string spelling[2] = {"false", "true"};
    bool seen[2] = {false, false};
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (!Present(i)) continue;
      int b = BoolValue(cells_[i]);
      if (b < 0) {
        int64_t v;
        if (ParseInt(cells_[i], &v) && (v == 0 || v == 1)) b = static_cast<int>(v);
      }
      if (b < 0) return Bad(i, "is not a boolean (true/false, yes/no, 1/0)");
      if (!seen[b]) spelling[b] = std::string(cells_[i]);
      seen[b] = true;
      t.values[i] = b;
    }
    t.schema.levels = {spelling[0], spelling[1]};
    return Status::Ok();
  }

  Status Datetimes(Typed& t) {
    const std::string* format = nullptr;
    for (const std::string& f : DatetimeFormats()) {
      if (AllDates(f)) {
        format = &f;
        break;
      }
    }
    if (format == nullptr) {
      for (size_t i = 0; i < cells_.size(); ++i) {
        if (!Present(i)) continue;
        for (const std::string& f : DatetimeFormats()) {
          double v;
          if (ParseDatetime(cells_[i], f, &v)) format = &f;
        }
        if (format == nullptr) {
          return Bad(i, "is not a date or time in a known format (e.g. 2024-01-31, "
                        "2024-01-31 13:45:00, 2024-01-31T13:45:00Z)");
        }
      }
      // Some cells read with one format, others not: name the first misfit.
      for (size_t i = 0; i < cells_.size(); ++i) {
        double v;
        if (Present(i) && !ParseDatetime(cells_[i], *format, &v)) {
          return Bad(i, "does not have the format " + *format + " of the column's other values");
        }
      }
    }
    t.schema.datetime_format = *format;
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (Present(i)) ParseDatetime(cells_[i], *format, &t.values[i]);
    }
    Range(t);
    return Status::Ok();
  }

  const RawColumn& raw_;
  const std::string& name_;
  const Reader& reader_;
  std::vector<std::string_view> cells_;
  std::vector<size_t> missing_;
};

}  // namespace

const char* ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kContinuous: return "continuous";
    case ColumnType::kInteger: return "integer";
    case ColumnType::kCategorical: return "categorical";
    case ColumnType::kBoolean: return "boolean";
    case ColumnType::kDatetime: return "datetime";
  }
  return "?";
}

const std::vector<std::string>& DatetimeFormats() {
  static const std::vector<std::string> formats = {
      "%Y-%m-%d",          "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
      "%Y-%m-%d %H:%M",    "%Y-%m-%dT%H:%M",    "%Y/%m/%d",          "%Y/%m/%d %H:%M:%S",
      "%m/%d/%Y",          "%m/%d/%Y %H:%M:%S", "%d.%m.%Y",
  };
  return formats;
}

int TableSchema::Find(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

StatusOr<Table> ParseTable(const std::string& bytes, const TableOptions& options) {
  Reader reader;
  reader.options = &options;
  const char delimiter = options.delimiter ? options.delimiter : DetectDelimiter(bytes);
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
    return Status::Internal("cannot initialise the CSV parser");
  }
  csv_set_delim(&parser, static_cast<unsigned char>(delimiter));
  // Fed one line at a time, so that callbacks know the line they are on.
  size_t pos = 0;
  if (bytes.size() >= 3 && bytes.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;  // UTF-8 BOM
  while (pos < bytes.size() && reader.error.ok()) {
    size_t end = bytes.find('\n', pos);
    end = end == std::string::npos ? bytes.size() : end + 1;
    if (csv_parse(&parser, bytes.data() + pos, end - pos, OnField, OnRecord, &reader) != end - pos) {
      reader.error = Status::InvalidArgument(reader.Where(reader.line) + ": " +
                                             csv_strerror(csv_error(&parser)) +
                                             " (a quote inside an unquoted field, or text after a "
                                             "closing quote)");
      break;
    }
    pos = end;
    ++reader.line;
  }
  if (reader.error.ok()) {
    --reader.line;
    if (csv_fini(&parser, OnField, OnRecord, &reader) != 0 && reader.error.ok()) {
      reader.error = Status::InvalidArgument(reader.Where(reader.line) +
                                             ": the file ends inside a quoted field");
    }
  }
  csv_free(&parser);
  if (!reader.error.ok()) return reader.error;
  if (reader.header.empty()) {
    return Status::InvalidArgument(options.file_name + ": empty file (no header)");
  }
  const int64_t rows = static_cast<int64_t>(reader.row_lines.size());
  if (rows < 2) {
    return Status::InvalidArgument(options.file_name + ": " + std::to_string(rows) +
                                   " data rows; a table needs at least 2");
  }
  for (const auto& [name, type] : options.overrides) {
    if (std::find(reader.header.begin(), reader.header.end(), name) == reader.header.end()) {
      return Status::InvalidArgument(options.file_name + ": no column '" + name + "' to read as " +
                                     ColumnTypeName(type));
    }
  }
  Table table;
  table.schema.rows = rows;
  table.schema.delimiter = delimiter;
  table.values.reserve(reader.header.size());
  for (size_t c = 0; c < reader.header.size(); ++c) {
    std::optional<ColumnType> forced;
    if (auto it = options.overrides.find(reader.header[c]); it != options.overrides.end()) {
      forced = it->second;
    }
    ColumnBuilder builder(reader.columns[c], reader.header[c], reader);
    auto typed = builder.Build(forced);
    if (!typed.ok()) return typed.status();
    reader.columns[c] = RawColumn();  // free as we go
    table.schema.columns.push_back(std::move(typed->schema));
    table.values.push_back(std::move(typed->values));
  }
  return table;
}

std::string FormatCell(const ColumnSchema& column, double v) {
  if (std::isnan(v)) return "";
  char buf[64];
  switch (column.type) {
    case ColumnType::kContinuous:
      if (column.decimals < 0) {
        std::snprintf(buf, sizeof buf, "%.9g", v);
      } else {
        std::snprintf(buf, sizeof buf, "%.*f", column.decimals, v);
      }
      return buf;
    case ColumnType::kInteger:
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(std::llround(v)));
      return buf;
    case ColumnType::kCategorical:
    case ColumnType::kBoolean: {
      const auto i = static_cast<int64_t>(v);
      if (i < 0 || i >= static_cast<int64_t>(column.levels.size())) return "";
      return column.levels[static_cast<size_t>(i)];
    }
    case ColumnType::kDatetime: {
      const auto t = static_cast<time_t>(std::llround(v));
      std::tm tm{};
      gmtime_r(&t, &tm);
      if (std::strftime(buf, sizeof buf, column.datetime_format.c_str(), &tm) == 0) return "";
      return buf;
    }
  }
  return "";
}

StatusOr<double> ParseCell(const ColumnSchema& column, const std::string& text) {
  const std::string_view s = Trim(text);
  const std::string where = column.name + ": " + Quote(s) + " ";
  switch (column.type) {
    case ColumnType::kContinuous:
    case ColumnType::kInteger: {
      double v;
      int dec;
      if (!ParseNumber(s, &v, &dec)) return Status::InvalidArgument(where + "is not a number");
      if (column.type == ColumnType::kInteger && v != std::floor(v)) {
        return Status::InvalidArgument(where + "is not an integer");
      }
      return v;
    }
    case ColumnType::kCategorical:
    case ColumnType::kBoolean: {
      for (size_t i = 0; i < column.levels.size(); ++i) {
        if (column.levels[i] == s) return static_cast<double>(i);
      }
      if (column.type == ColumnType::kBoolean) {
        const int b = BoolValue(s);
        if (b >= 0) return static_cast<double>(b);
      }
      if (column.integer_codes) {  // "3.0" for the code 3
        double v;
        int dec;
        if (ParseNumber(s, &v, &dec)) {
          for (size_t i = 0; i < column.levels.size(); ++i) {
            int64_t code;
            if (ParseInt(column.levels[i], &code) && static_cast<double>(code) == v) {
              return static_cast<double>(i);
            }
          }
        }
      }
      std::string list;
      for (size_t i = 0; i < column.levels.size() && i < 20; ++i) {
        list += (i ? ", " : "") + column.levels[i];
      }
      if (column.levels.size() > 20) list += ", ...";
      return Status::InvalidArgument(where + "is not a level of this column (levels: " + list + ")");
    }
    case ColumnType::kDatetime: {
      double v;
      if (!ParseDatetime(s, column.datetime_format, &v)) {
        return Status::InvalidArgument(where + "is not a date in the column's format " +
                                       column.datetime_format);
      }
      return v;
    }
  }
  return Status::InvalidArgument(where + "has an unknown type");
}

}  // namespace gantry
