// The dashboard's files (server/web/ and Debian's Chart.js), embedded in
// the binary at build time by server/web/embed.cmake, so gantryd needs no
// files at run time and the page loads nothing from elsewhere.
//
// Thread-safety: immutable data.
#pragma once

#include <string_view>

namespace gantry {

struct WebAsset {
  std::string_view name;          // "index.html", "app.js", "chart.min.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// The asset called `name`, or nullptr.
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace gantry
