// gantry report: a table job's evaluation for people (report_render.h), from
// the server (GetTableReport) or from a report saved as JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "client/connection.h"

namespace gantry::cli {

struct ReportArgs {
  std::string id;                // the job (with a connection)
  std::string input;             // or a saved report's JSON (no connection)
  std::optional<int64_t> epoch;  // unset: the best epoch (--epoch best, the default)
  std::string out;               // .html .png .pdf .svg .json, or "" for a summary on stdout
};

// `conn` may be null when args.input is set. With --out the file is written
// atomically and its path printed; without, a short summary (-o json: the
// report's JSON) goes to stdout. An --out of another extension is
// kExitUsage before anything is fetched; so are an unreadable or malformed
// --input and a file that cannot be written.
int Report(Connection* conn, const ReportArgs& args, bool json_out);

}  // namespace gantry::cli
