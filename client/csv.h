// Reading user data: a CSV (or whitespace-separated) file of points, one row
// per line, an optional header line, every row with the same number of
// columns. Errors name the file, the line and what is wrong.
#pragma once

#include <string>
#include <vector>

namespace gantry::cli {

struct PointsFile {
  int dim = 0;
  std::vector<float> values;  // row-major
  std::string error;          // non-empty on failure
};

PointsFile ReadPointsCsv(const std::string& path);

}  // namespace gantry::cli
