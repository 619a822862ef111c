// `gantry whoami` and `gantry audit`: who the CLI's token names on the
// server, and the server's audit log of state-changing calls
// (server/api/principals.h). Each returns the process exit code
// (exit_codes.h); results go to stdout, diagnostics to stderr.
#pragma once

#include <string>

#include "client/connection.h"

namespace gantry::cli {

// "alice (member)", or a line saying the server requires no credentials
// (-o json: the ServerInfo).
int WhoAmI(Connection& conn);

struct AuditArgs {
  std::string principal;  // only this principal's entries ("" : all the caller may read)
  std::string target;     // only entries naming this job or table
  int limit = 50;         // at most this many entries, newest first
};
// A table (SEQ, AGE, PRINCIPAL, ROLE, ACTION, TARGET, RESULT, MESSAGE), or
// one AuditEntry per line with -o json.
int Audit(Connection& conn, const AuditArgs& args);

}  // namespace gantry::cli
