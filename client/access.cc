#include "client/access.h"

#include <algorithm>
#include <iostream>
#include <vector>

#include "client/exit_codes.h"
#include "client/output.h"

namespace gantry::cli {

int WhoAmI(Connection& conn) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::ServerInfo info;
  const grpc::Status s = conn.stub().GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info);
  if (!s.ok()) return conn.Fail("whoami", s);
  if (JsonOut(conn)) {
    std::cout << ToJson(info) << std::endl;
  } else if (info.role().empty()) {
    std::cout << "gantryd at " << conn.target()
              << " requires no credentials: every caller may do everything" << std::endl;
  } else {
    std::cout << info.principal() << " (" << info.role() << ")" << std::endl;
  }
  return kExitOk;
}

int Audit(Connection& conn, const AuditArgs& args) {
  if (args.limit < 1 || args.limit > 100000) {
    std::cerr << "gantry: audit: --limit " << args.limit << " is out of range 1..100000\n";
    return kExitUsage;
  }
  v1::ListAuditRequest req;
  req.set_principal(args.principal);
  req.set_target(args.target);
  std::vector<std::vector<std::string>> rows = {
      {"SEQ", "AGE", "PRINCIPAL", "ROLE", "ACTION", "TARGET", "RESULT", "MESSAGE"}};
  const grpc::Status s = EachPage<v1::ListAuditRequest, v1::ListAuditResponse>(
      conn, req, args.limit,
      [&](grpc::ClientContext* ctx, const v1::ListAuditRequest& r, v1::ListAuditResponse* out) {
        return conn.stub().ListAudit(ctx, r, out);
      },
      [](const v1::ListAuditResponse& page) -> const auto& { return page.entries(); },
      [&](const v1::AuditEntry& e) {
        if (JsonOut(conn)) {
          std::cout << ToJson(e) << "\n";
        } else {
          rows.push_back({std::to_string(e.seq()), Age(e.time()),
                          e.principal().empty() ? "-" : e.principal(), e.role(), e.action(),
                          e.target().empty() ? "-" : e.target(), e.allowed() ? e.code() : "DENIED",
                          e.message()});
        }
      });
  if (!s.ok()) {
    std::cout << std::flush;
    return conn.Fail("audit", s);
  }
  if (!JsonOut(conn)) std::cout << Table(rows);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace gantry::cli
