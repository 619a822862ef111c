// Reading user data: a CSV (or whitespace-separated) file of points, one row
// per line (\n, \r\n or \r), an optional header line and byte order mark,
// every row with the same number of columns of finite decimal numbers.
// Errors name the file, the line and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gantry::cli {

struct PointsFile {
  int dim = 0;
  std::vector<float> values;  // row-major
  std::vector<std::string> columns;  // the header's names (trimmed), if the file has a header
  std::string error;          // non-empty on failure
};

// The largest file read: gantryd's default request limit (--max-message-bytes).
inline constexpr int64_t kMaxPointsFileBytes = int64_t{64} << 20;

PointsFile ReadPointsCsv(const std::string& path, int64_t max_bytes = kMaxPointsFileBytes);
// The same reading of `text` already in memory; errors name `name`.
PointsFile ParsePointsCsv(std::string text, const std::string& name);

}  // namespace gantry::cli
