#include "client/data.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <vector>

#include "client/exit_codes.h"
#include "client/output.h"

namespace gantry::cli {
namespace {

constexpr size_t kChunkBytes = 1 << 20;  // UploadTableRequest.chunk's limit
constexpr int32_t kListPageSize = 100;


std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Size(int64_t bytes) {
  char buf[32];
  if (bytes < 10 * 1024) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else if (bytes < 10 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  }
  return buf;
}

std::string TypeName(v1::ColumnType type) {
  std::string name = v1::ColumnType_Name(type);
  const std::string prefix = "COLUMN_TYPE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string DelimiterName(const std::string& d) { return d == "\t" ? "tab" : "'" + d + "'"; }

// "3 levels: a, b, c" / "range 0 .. 1.5" (at most 6 levels shown).
std::string ColumnDetail(const v1::ColumnSchema& c) {
  if (c.type() == v1::COLUMN_TYPE_CATEGORICAL || c.type() == v1::COLUMN_TYPE_BOOLEAN) {
    std::string text = std::to_string(c.levels_size()) + " levels";
    for (int i = 0; i < c.levels_size() && i < 6; ++i) text += (i ? ", " : ": ") + c.levels(i);
    if (c.levels_size() > 6) text += ", ...";
    return text;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "range %.10g .. %.10g", c.min(), c.max());
  std::string text = buf;
  if (c.type() == v1::COLUMN_TYPE_DATETIME) text = "format " + c.datetime_format() + ", " + text;
  return text;
}

std::string DescribeTable(const v1::TableInfo& t) {
  std::vector<std::vector<std::string>> head = {
      {"id:", t.id()},
      {"name:", t.name()},
      {"size:", Size(t.size_bytes()) + " (" + std::to_string(t.size_bytes()) + " bytes)"},
      {"rows:", std::to_string(t.schema().rows())},
      {"columns:", std::to_string(t.schema().columns_size())},
      {"delimiter:", DelimiterName(t.schema().delimiter())},
      {"age:", Age(t.create_time())},
  };
  std::vector<std::vector<std::string>> columns = {{"COLUMN", "TYPE", "MISSING", "VALUES"}};
  for (const auto& c : t.schema().columns()) {
    columns.push_back({c.name(), TypeName(c.type()), std::to_string(c.missing()), ColumnDetail(c)});
  }
  return Table(head) + "\n" + Table(columns);
}

// Streams the file; *info is the stored table. An exit code.
int Upload(Connection& conn, const std::string& command, const DataPushArgs& args, v1::TableInfo* out) {
  std::ifstream in(args.file, std::ios::binary);
  if (!in) {
    std::cerr << "gantry: " << command << ": cannot read " << args.file << ": " << std::strerror(errno)
              << "\n";
    return kExitUsage;
  }
  v1::UploadTableRequest req;
  req.set_name(args.name.empty() ? BaseName(args.file) : args.name);
  req.set_delimiter(args.delimiter == "tab" ? "\t" : args.delimiter);
  grpc::ClientContext ctx;
  conn.Authorize(&ctx);  // no deadline: the file may be large
  v1::TableInfo& info = *out;
  auto writer = conn.stub().UploadTable(&ctx, &info);
  std::string chunk(kChunkBytes, '\0');
  bool first = true;
  bool read_failed = false;
  while (true) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const std::streamsize n = in.gcount();
    if (in.bad()) {
      read_failed = true;
      break;
    }
    if (n == 0 && !first) break;  // the first message goes even for an empty file
    req.set_chunk(chunk.data(), static_cast<size_t>(n));
    // A failed write: the server ended the call (Finish says why).
    if (!writer->Write(req)) break;
    if (first) {
      req.clear_name();
      req.clear_delimiter();
      first = false;
    }
    if (n < static_cast<std::streamsize>(chunk.size())) break;  // end of file
  }
  if (read_failed) {
    ctx.TryCancel();
    (void)writer->Finish();  // CANCELLED by us: the read error below is what to report
    std::cerr << "gantry: " << command << ": cannot read " << args.file << ": " << std::strerror(errno)
              << "\n";
    return kExitUsage;
  }
  writer->WritesDone();
  const grpc::Status s = writer->Finish();
  if (!s.ok()) return conn.Fail(command + " " + args.file, s);
  return kExitOk;
}

}  // namespace

int DataPush(Connection& conn, const DataPushArgs& args) {
  v1::TableInfo info;
  if (int rc = Upload(conn, "data push", args, &info); rc != kExitOk) return rc;
  if (JsonOut(conn)) {
    std::cout << ToJson(info) << std::endl;
  } else {
    std::cerr << "uploaded " << info.name() << ": " << info.schema().rows() << " rows, "
              << info.schema().columns_size() << " columns, " << Size(info.size_bytes()) << "\n";
    std::cout << info.id() << std::endl;
  }
  return kExitOk;
}

int PushTable(Connection& conn, const std::string& command, const std::string& file, std::string* id) {
  v1::TableInfo info;
  DataPushArgs args;
  args.file = file;
  if (int rc = Upload(conn, command, args, &info); rc != kExitOk) return rc;
  std::cerr << "uploaded " << info.name() << " as table " << info.id() << ": " << info.schema().rows()
            << " rows, " << info.schema().columns_size() << " columns\n";
  *id = info.id();
  return kExitOk;
}

int DataList(Connection& conn) {
  v1::ListTablesRequest req;
  req.set_page_size(kListPageSize);
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ROWS", "COLUMNS", "SIZE", "AGE"}};
  for (;;) {
    v1::ListTablesResponse resp;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status s = conn.stub().ListTables(&ctx, req, &resp);
    if (!s.ok()) {
      std::cout << std::flush;
      return conn.Fail("data list", s);
    }
    for (const auto& t : resp.tables()) {
      if (JsonOut(conn)) {
        std::cout << ToJson(t) << "\n";
      } else {
        rows.push_back({t.id(), t.name(), std::to_string(t.schema().rows()),
                        std::to_string(t.schema().columns_size()), Size(t.size_bytes()),
                        Age(t.create_time())});
      }
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  if (!JsonOut(conn)) std::cout << Table(rows);
  std::cout << std::flush;
  return kExitOk;
}

int DataGet(Connection& conn, const std::string& id) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::GetTableRequest req;
  req.set_table_id(id);
  v1::TableInfo info;
  const grpc::Status s = conn.stub().GetTable(&ctx, req, &info);
  if (!s.ok()) return conn.Fail("data get " + id, s);
  std::cout << (JsonOut(conn) ? ToJson(info) + "\n" : DescribeTable(info)) << std::flush;
  return kExitOk;
}

int DataRemove(Connection& conn, const std::string& id) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::DeleteTableRequest req;
  req.set_table_id(id);
  v1::DeleteTableResponse resp;
  const grpc::Status s = conn.stub().DeleteTable(&ctx, req, &resp);
  if (!s.ok()) return conn.Fail("data rm " + id, s);
  std::cout << "deleted " << id << std::endl;
  return kExitOk;
}

}  // namespace gantry::cli
