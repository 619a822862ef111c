#include "server/jobs/table_convert.h"

#include "server/util/safe_text.h"

namespace gantry {

v1::ColumnType ColumnTypeToProto(ColumnType type) {
  switch (type) {
    case ColumnType::kContinuous:
      return v1::COLUMN_TYPE_CONTINUOUS;
    case ColumnType::kInteger:
      return v1::COLUMN_TYPE_INTEGER;
    case ColumnType::kCategorical:
      return v1::COLUMN_TYPE_CATEGORICAL;
    case ColumnType::kBoolean:
      return v1::COLUMN_TYPE_BOOLEAN;
    case ColumnType::kDatetime:
      return v1::COLUMN_TYPE_DATETIME;
  }
  return v1::COLUMN_TYPE_UNSPECIFIED;
}

StatusOr<ColumnType> ColumnTypeFromProto(int type, const std::string& field) {
  switch (type) {
    case v1::COLUMN_TYPE_CONTINUOUS:
      return ColumnType::kContinuous;
    case v1::COLUMN_TYPE_INTEGER:
      return ColumnType::kInteger;
    case v1::COLUMN_TYPE_CATEGORICAL:
      return ColumnType::kCategorical;
    case v1::COLUMN_TYPE_BOOLEAN:
      return ColumnType::kBoolean;
    case v1::COLUMN_TYPE_DATETIME:
      return ColumnType::kDatetime;
    default:
      return Status::InvalidArgument(field + ": " + std::to_string(type) +
                                     " is not a column type (continuous, integer, categorical, "
                                     "boolean, datetime)");
  }
}

std::string DelimiterToProto(char delimiter) { return std::string(1, delimiter); }

StatusOr<char> DelimiterFromProto(const std::string& text, const std::string& field) {
  if (text.empty()) return '\0';
  if (text == "," || text == ";" || text == "|" || text == "\t") return text[0];
  if (text == "\\t" || text == "tab" || text == "TAB") return '\t';
  return Status::InvalidArgument(field + ": '" + SafeText(text) +
                                 "' is not a delimiter (one of , ; | and a tab; empty: detected)");
}

v1::TableSchema SchemaToProto(const TableSchema& schema) {
  v1::TableSchema out;
  out.set_rows(schema.rows);
  out.set_delimiter(DelimiterToProto(schema.delimiter));
  for (const ColumnSchema& c : schema.columns) {
    v1::ColumnSchema* p = out.add_columns();
    p->set_name(c.name);
    p->set_type(ColumnTypeToProto(c.type));
    for (const std::string& level : c.levels) p->add_levels(level);
    p->set_integer_codes(c.integer_codes);
    p->set_datetime_format(c.datetime_format);
    p->set_missing(c.missing);
    p->set_min(c.min);
    p->set_max(c.max);
    p->set_decimals(c.decimals);
  }
  return out;
}

}  // namespace gantry
