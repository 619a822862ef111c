// An uploaded table is untrusted bytes: ParseTable must answer every input
// with a table or an error, never crash; and every cell of a table it
// accepts must write back (FormatCell) as text that reads again (ParseCell)
// to the same value.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  gantry::TableOptions options;
  options.file_name = "fuzz.csv";
  options.max_rows = 10000;
  auto table = gantry::ParseTable(bytes, options);
  if (!table.ok()) {
    if (table.status().message().rfind("fuzz.csv", 0) != 0) __builtin_trap();  // errors name the file
    return 0;
  }
  for (size_t c = 0; c < table->schema.columns.size(); ++c) {
    const gantry::ColumnSchema& column = table->schema.columns[c];
    for (double v : table->values[c]) {
      if (std::isnan(v)) continue;
      const std::string text = gantry::FormatCell(column, v);
      auto back = gantry::ParseCell(column, text);
      // Continuous values may be written with fewer digits than read; the
      // other types must read back exactly.
      if (column.type != gantry::ColumnType::kContinuous && (!back.ok() || *back != v)) __builtin_trap();
    }
  }
  return 0;
}
