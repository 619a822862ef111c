#include "server/jobs/tables.h"

#include <cctype>

#include "core/table.h"
#include "server/jobs/convert.h"
#include "server/util/page_token.h"
#include "server/util/safe_text.h"
#include "server/jobs/table_convert.h"
#include "server/util/clock.h"

namespace gantry {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

std::string Mib(int64_t bytes) {
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// A name: 1..200 characters (UTF-8 code points), no control characters.
Status CheckName(const std::string& name) {
  if (name.empty()) {
    return Status::InvalidArgument("name: empty; name the table (e.g. by its file's name)");
  }
  size_t chars = 0;
  for (unsigned char c : name) {
    chars += (c & 0xC0) != 0x80;
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("name: '" + SafeText(name) +
                                     "' holds a control character");
    }
  }
  if (chars > kMaxTableNameChars || name.size() > 4 * kMaxTableNameChars) {
    return Status::InvalidArgument("name: " + std::to_string(chars) +
                                   " characters is out of range 1.." +
                                   std::to_string(kMaxTableNameChars));
  }
  return Status::Ok();
}

// The id in its stored form (lower case), or INVALID_ARGUMENT.
StatusOr<std::string> CheckId(const std::string& id) {
  std::string lower = id;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!IsSha256Hex(lower)) {
    return Status::InvalidArgument("table_id: '" + SafeText(id) +
                                   "' is not a table id (the 64 hex digits of the file's "
                                   "SHA-256 that UploadTable returned)");
  }
  return lower;
}

}  // namespace

v1::TableInfo TableInfoOf(const TableRow& row) {
  v1::TableInfo out;
  out.set_id(row.id);
  out.set_name(row.name);
  out.set_size_bytes(row.size_bytes);
  *out.mutable_schema() = row.schema;
  SetTimestamp(row.create_ns, out.mutable_create_time());
  return out;
}

Tables::Upload::~Upload() { tables_->uploads_.fetch_sub(1); }

Status Tables::Upload::Add(const v1::UploadTableRequest& message) {
  if (!named_) {
    named_ = true;
    GANTRY_RETURN_IF_ERROR(CheckName(message.name()));
    auto delimiter = DelimiterFromProto(message.delimiter(), "delimiter");
    if (!delimiter.ok()) return delimiter.status();
    name_ = message.name();
    delimiter_ = *delimiter;
  } else if (!message.name().empty() || !message.delimiter().empty()) {
    return Status::InvalidArgument(
        "name and delimiter go in the first message of an upload only; a later one gave " +
        std::string(message.name().empty() ? "delimiter" : "name"));
  }
  if (static_cast<int64_t>(message.chunk().size()) > kMaxTableChunkBytes) {
    return Status::InvalidArgument("chunk: " + std::to_string(message.chunk().size()) +
                                   " bytes is over the limit of " + Mib(kMaxTableChunkBytes) +
                                   " per message");
  }
  return Append(message.chunk());
}

Status Tables::Upload::Append(std::string_view chunk) {
  const int64_t limit = tables_->options_.max_table_bytes;
  if (static_cast<int64_t>(bytes_.size() + chunk.size()) > limit) {
    return Status::ResourceExhausted("the table is over the server's limit of " + Mib(limit) +
                                     " per file (--max-table-bytes)");
  }
  bytes_.append(chunk);
  hasher_.Update(chunk);
  return Status::Ok();
}

StatusOr<std::unique_ptr<Tables::Upload>> Tables::StartUpload() {
  if (uploads_.fetch_add(1) >= options_.max_uploads) {
    uploads_.fetch_sub(1);
    return Status::ResourceExhausted("the server is busy: " + std::to_string(options_.max_uploads) +
                                     " table uploads are in progress; retry later");
  }
  return std::unique_ptr<Upload>(new Upload(this));
}

StatusOr<v1::TableInfo> Tables::Finish(Upload& upload) {
  if (!upload.named_) {
    return Status::InvalidArgument("the upload sent no message; the first one names the table");
  }
  return ParseAndStore(upload.name_, upload.delimiter_, upload.bytes_, upload.hasher_.HexDigest());
}

StatusOr<v1::TableInfo> Tables::Put(const std::string& name, const std::string& delimiter,
                                    const std::string& bytes) {
  auto upload = StartUpload();
  if (!upload.ok()) return upload.status();
  GANTRY_RETURN_IF_ERROR(CheckName(name));
  auto delim = DelimiterFromProto(delimiter, "delimiter");
  if (!delim.ok()) return delim.status();
  if (static_cast<int64_t>(bytes.size()) > options_.max_table_bytes) {
    return Status::ResourceExhausted("the table is over the server's limit of " +
                                     Mib(options_.max_table_bytes) +
                                     " per file (--max-table-bytes)");
  }
  // The bytes are used where they are: the upload object holds only the place.
  return ParseAndStore(name, *delim, bytes, Sha256Hex(bytes));
}

StatusOr<v1::TableInfo> Tables::ParseAndStore(const std::string& name, char delimiter,
                                              const std::string& bytes, const std::string& id) {
  if (bytes.empty()) return Status::InvalidArgument(name + ": the file is empty");
  // The same bytes again: the stored table, without parsing them again.
  auto stored = store_->GetTable(id);
  if (stored.ok()) return TableInfoOf(*stored);
  if (stored.status().code() != StatusCode::kNotFound) return stored.status();
  TableOptions options;
  options.file_name = name;
  options.delimiter = delimiter;
  TableRow row;
  {
    auto table = ParseTable(bytes, options);  // freed at the end of this block
    if (!table.ok()) return table.status();
    row.schema = SchemaToProto(table->schema);
  }
  row.id = id;
  row.name = name;
  row.size_bytes = static_cast<int64_t>(bytes.size());
  row.create_ns = NowNs();
  auto put = store_->PutTable(row, bytes);
  if (!put.ok()) return put.status();
  return TableInfoOf(put->row);
}

StatusOr<v1::TableInfo> Tables::Get(const std::string& id) const {
  auto checked = CheckId(id);
  if (!checked.ok()) return checked.status();
  auto row = store_->GetTable(*checked);
  if (!row.ok()) return row.status();
  return TableInfoOf(*row);
}

StatusOr<v1::ListTablesResponse> Tables::List(const v1::ListTablesRequest& request) const {
  auto page = PageSize(request.page_size(), kMaxPageSize, kDefaultPageSize);
  if (!page.ok()) return page.status();
  const int page_size = *page;
  TableListQuery query;
  query.limit = page_size + 1;
  auto before = PageBefore(request.page_token(), "ListTables");
  if (!before.ok()) return before.status();
  query.before_index = *before;
  auto rows = store_->ListTables(query);
  if (!rows.ok()) return rows.status();
  v1::ListTablesResponse out;
  size_t bytes = 0;
  for (const TableRow& row : *rows) {
    if (out.tables_size() == page_size) {
      out.set_next_page_token(MakePageToken(row.index));
      break;
    }
    v1::TableInfo info = TableInfoOf(row);
    if (!PageTakes(out.tables_size(), info.ByteSizeLong(), &bytes)) {
      out.set_next_page_token(MakePageToken(row.index));  // the rest on the next page
      break;
    }
    *out.add_tables() = std::move(info);
  }
  return out;
}

Status Tables::Delete(const std::string& id) {
  auto checked = CheckId(id);
  if (!checked.ok()) return checked.status();
  return store_->DeleteTable(*checked);
}

}  // namespace gantry
