// JSON string literals for hand-built JSON (the HTTP API's replies, the
// CLI's leaderboard lines). Header-only and free of LibTorch, so that the
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

}  // namespace gantry
