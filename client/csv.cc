#include "client/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>

namespace gantry::cli {
namespace {

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool has_comma = line.find(',') != std::string::npos;
  auto flush = [&] {
    size_t b = cur.find_first_not_of(" \t");
    size_t e = cur.find_last_not_of(" \t");
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

// A header name without its CSV quotes (a doubled quote inside is one).
std::string Unquoted(const std::string& f) {
  if (f.size() < 2 || f.front() != '"' || f.back() != '"') return f;
  std::string out;
  for (size_t i = 1; i + 1 < f.size(); ++i) {
    out += f[i];
    if (f[i] == '"' && f[i + 1] == '"') ++i;
  }
  return out;
}

// A decimal number as people write it: [+-]digits[.digits][e[+-]digits].
// No hexadecimal ("0x10"), no inf or nan, which strtof would take.
bool ParseFloat(const std::string& s, float* out) {
  size_t i = 0;
  const size_t n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != n) return false;
  errno = 0;
  *out = std::strtof(s.c_str(), nullptr);
  return errno != ERANGE && std::isfinite(*out);
}

}  // namespace

PointsFile ReadPointsCsv(const std::string& path, int64_t max_bytes) {
  PointsFile out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.error = path + ": cannot open it";
    return out;
  }
  // The whole file, capped: what the server could not accept anyway is
  // never read (a device like /dev/zero never ends).
  std::string text;
  {
    std::vector<char> buf(1 << 16);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      text.append(buf.data(), static_cast<size_t>(in.gcount()));
      if (static_cast<int64_t>(text.size()) > max_bytes) {
        out.error = path + ": larger than " + std::to_string(max_bytes >> 20) +
                    " MiB, more than a request to gantryd may hold";
        return out;
      }
    }
  }
  return ParsePointsCsv(std::move(text), path);
}

PointsFile ParsePointsCsv(std::string text, const std::string& path) {
  PointsFile out;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // a UTF-8 byte order mark
  // Lines end in \n, \r\n or a lone \r.
  int line_no = 0;
  int header_line = 0;
  bool first_row = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (end + 1 < text.size() && text[end] == '\r' && text[end + 1] == '\n') pos = end + 2;
    ++line_no;
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    const std::vector<std::string> fields = SplitFields(line);
    std::vector<float> row;
    if (first_row) {
      // A header: the first row when none of its fields is a number.
      bool any_number = false;
      for (const auto& f : fields) {
        float v;
        any_number = any_number || ParseFloat(f, &v);
      }
      first_row = false;
      if (!any_number) {
        header_line = line_no;
        for (const auto& f : fields) out.columns.push_back(Unquoted(f));
        continue;
      }
    }
    for (const auto& f : fields) {
      float v;
      if (!ParseFloat(f, &v)) {
        out.error = path + ":" + std::to_string(line_no) + ": '" + f.substr(0, 64) +
                    "' is not a finite decimal number";
        return out;
      }
      row.push_back(v);
    }
    if (out.dim == 0) out.dim = static_cast<int>(row.size());
    if (static_cast<int>(row.size()) != out.dim) {
      out.error = path + ":" + std::to_string(line_no) + ": expected " + std::to_string(out.dim) +
                  " values like the first row, found " + std::to_string(row.size());
      return out;
    }
    out.values.insert(out.values.end(), row.begin(), row.end());
  }
  if (out.values.empty()) {
    out.error = path + ": no data rows";
  } else if (!out.columns.empty() && static_cast<int>(out.columns.size()) != out.dim) {
    out.error = path + ":" + std::to_string(header_line) + ": the header names " +
                std::to_string(out.columns.size()) + " columns, the rows have " + std::to_string(out.dim);
  }
  return out;
}

}  // namespace gantry::cli
