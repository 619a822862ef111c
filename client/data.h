// `gantry data`: uploaded tables (CSV datasets) on the server, a resource
// of their own that table jobs reference by id. Each command returns the
// process exit code (exit_codes.h); results go to stdout, diagnostics to
// stderr.
#pragma once

#include <string>

#include "client/connection.h"

namespace gantry::cli {

struct DataPushArgs {
  std::string file;
  std::string name;       // "" : the file's base name
  std::string delimiter;  // "" : detected by the server; , ; | or tab
};
// Streams the file in 1 MiB chunks (it is never read whole) and prints the
// table's id (-o json: its TableInfo); a summary goes to stderr. A file
// that cannot be read is kExitUsage naming it.
int DataPush(Connection& conn, const DataPushArgs& args);
// Uploads `file` as DataPush does and sets *id, saying so on stderr (for
// `submit --table` and `sweep --table`). An exit code, kExitOk on success.
int PushTable(Connection& conn, const std::string& command, const std::string& file, std::string* id);
// All tables, newest first: a table (ID, NAME, ROWS, COLUMNS, SIZE, AGE),
// or one TableInfo per line with -o json.
int DataList(Connection& conn);
// One table with its columns (-o json: its TableInfo).
int DataGet(Connection& conn, const std::string& id);
int DataRemove(Connection& conn, const std::string& id);

}  // namespace gantry::cli
