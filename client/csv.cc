#include "client/csv.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace gantry::cli {
namespace {

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool has_comma = line.find(',') != std::string::npos;
  auto flush = [&] {
    size_t b = cur.find_first_not_of(" \t\r");
    size_t e = cur.find_last_not_of(" \t\r");
    fields.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
    cur.clear();
  };
  for (char c : line) {
    if (has_comma ? c == ',' : (c == ' ' || c == '\t')) {
      if (has_comma || !cur.empty()) flush();
    } else {
      cur += c;
    }
  }
  if (has_comma || !cur.empty()) flush();
  return fields;
}

bool ParseFloat(const std::string& s, float* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtof(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno != ERANGE;
}

}  // namespace

PointsFile ReadPointsCsv(const std::string& path) {
  PointsFile out;
  std::ifstream in(path);
  if (!in) {
    out.error = path + ": cannot open it";
    return out;
  }
  std::string line;
  int line_no = 0;
  bool first_row = true;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const std::vector<std::string> fields = SplitFields(line);
    std::vector<float> row;
    for (const auto& f : fields) {
      float v;
      if (!ParseFloat(f, &v)) {
        if (first_row && out.values.empty() && row.empty()) break;  // a header line
        out.error = path + ":" + std::to_string(line_no) + ": '" + f + "' is not a number";
        return out;
      }
      row.push_back(v);
    }
    if (first_row && row.empty()) {  // header
      first_row = false;
      continue;
    }
    first_row = false;
    if (out.dim == 0) out.dim = static_cast<int>(row.size());
    if (static_cast<int>(row.size()) != out.dim) {
      out.error = path + ":" + std::to_string(line_no) + ": expected " + std::to_string(out.dim) +
                  " values like the first row, found " + std::to_string(row.size());
      return out;
    }
    out.values.insert(out.values.end(), row.begin(), row.end());
  }
  if (out.values.empty()) out.error = path + ": no data rows";
  return out;
}

}  // namespace gantry::cli
