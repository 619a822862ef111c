#include "client/report.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/report_render.h"

namespace gantry::cli {

int Report(Connection* conn, const ReportArgs& args, bool json_out) {
  const std::string what = args.input.empty() ? "report " + args.id : "report";
  ReportFormat format = ReportFormat::kJson;
  if (!args.out.empty() && !ReportFormatOf(args.out, &format)) {
    std::cerr
        << "gantry: " << what << ": --out " << args.out
        << ": unknown extension (the format is chosen by it: .html, .png, .pdf, .svg or .json)\n";
    return kExitUsage;
  }
  v1::TableReport report;
  if (!args.input.empty()) {
    std::ifstream in(args.input, std::ios::binary | std::ios::ate);
    // A report is at most a few MiB (the server bounds it); refuse what
    // cannot be one rather than read it all.
    constexpr std::streamoff kMaxInputBytes = 64 << 20;
    if (in && in.tellg() > kMaxInputBytes) {
      std::cerr << "gantry: report: --input " << args.input << ": larger than 64 MiB; not a gantry report\n";
      return kExitUsage;
    }
    in.seekg(0);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      std::cerr << "gantry: report: --input " << args.input << ": cannot read it\n";
      return kExitUsage;
    }
    if (const std::string err = ParseReportJson(text.str(), &report); !err.empty()) {
      std::cerr << "gantry: report: --input " << args.input << ": " << err << "\n";
      return kExitUsage;
    }
  } else {
    grpc::ClientContext ctx;
    conn->Prepare(&ctx);
    v1::GetTableReportRequest req;
    req.set_job_id(args.id);
    if (args.epoch) req.set_epoch(*args.epoch);
    const grpc::Status s = conn->stub().GetTableReport(&ctx, req, &report);
    if (!s.ok()) return conn->Fail(what, s);
  }
  if (args.out.empty()) {
    std::cout << (json_out ? ReportJson(report) + "\n" : ReportSummary(report)) << std::flush;
    return kExitOk;
  }
  std::string bytes;
  if (const std::string err = RenderReport(report, format, &bytes); !err.empty()) {
    std::cerr << "gantry: " << what << ": " << args.out << ": " << err << "\n";
    return kExitError;
  }
  if (const std::string err = WriteFileAtomically(args.out, bytes); !err.empty()) {
    std::cerr << "gantry: " << what << ": " << err << "\n";
    return kExitUsage;
  }
  std::cout << args.out << std::endl;
  return kExitOk;
}

}  // namespace gantry::cli
