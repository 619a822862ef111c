// JSON string literals for hand-built JSON (the HTTP API's replies, the
// CLI's leaderboard lines) and CSV fields for hand-built CSV (sampled table
// rows, the leaderboard's csv form). Header-only and free of LibTorch, so that the
// client, which does not link gantry_core, can use it too.
//
// Thread-safety: a pure function.
#pragma once

#include <cstdio>
#include <string>

namespace gantry {

// `s` quoted as a JSON string: quote, backslash and control characters escaped.
inline std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// `s` as one CSV field (RFC 4180): quoted, with quotes doubled, when it
// holds a comma, a quote or a line break; as it is otherwise.
inline std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace gantry
