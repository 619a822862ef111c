// Tables: the table resource (UploadTable, GetTable, ListTables,
// DeleteTable) between the transports (Calls) and the Store: uploads are
// checked, hashed as they arrive, parsed and typed by core (ParseTable) and
// stored content-addressed (the id is the SHA-256 of the file's bytes).
//
// An upload's bytes are the same file whatever its name: uploading bytes
// that are stored already returns the stored table (its first name) without
// parsing them again.
//
// Bounds: a file is at most options.max_table_bytes (--max-table-bytes);
// a gRPC chunk at most kMaxTableChunkBytes; at most options.max_uploads
// uploads are in progress at once (each holds its file in memory while it
// arrives and is parsed), RESOURCE_EXHAUSTED beyond.
//
// Thread-safety: every method of Tables is safe from any thread. An Upload
// is one caller's (one stream's): not safe for concurrent use.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/util/sha256.h"
#include "server/store/store.h"

namespace gantry {

inline constexpr int64_t kMaxTableChunkBytes = 1 << 20;  // per UploadTableRequest
inline constexpr int64_t kDefaultMaxTableBytes = int64_t{256} << 20;
// The largest --max-table-bytes: both stores keep a table's bytes in one
// value (SQLite's limit is 1e9 bytes, PostgreSQL's 1 GiB).
inline constexpr int64_t kMaxTableBytesLimit = int64_t{512} << 20;
inline constexpr size_t kMaxTableNameChars = 200;

struct TablesOptions {
  int64_t max_table_bytes = kDefaultMaxTableBytes;  // one file, 1..kMaxTableBytesLimit
  int max_uploads = 2;                              // in progress at once, >= 1
};

// The TableInfo of a stored row.
v1::TableInfo TableInfoOf(const TableRow& row);

class Tables {
 public:
  // `store` must outlive this object.
  Tables(Store* store, TablesOptions options) : store_(store), options_(options) {}
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  // One upload in progress: the messages of an UploadTable stream, in
  // order. Holds one of max_uploads places until it is destroyed.
  class Upload {
   public:
    ~Upload();
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    // Takes the next message: the first names the upload (name, delimiter),
    // later ones must leave both empty; every chunk is at most
    // kMaxTableChunkBytes. INVALID_ARGUMENT naming the bad field,
    // RESOURCE_EXHAUSTED once the file outgrows max_table_bytes.
    Status Add(const v1::UploadTableRequest& message);
    int64_t size() const { return static_cast<int64_t>(bytes_.size()); }

   private:
    friend class Tables;
    explicit Upload(Tables* tables) : tables_(tables) {}
    Status Append(std::string_view chunk);

    Tables* const tables_;
    bool named_ = false;  // the first message was taken
    std::string name_;
    char delimiter_ = 0;  // 0: detect
    std::string bytes_;
    Sha256Hasher hasher_;
  };

  // A new upload. RESOURCE_EXHAUSTED when max_uploads are in progress.
  StatusOr<std::unique_ptr<Upload>> StartUpload();
  // Parses and stores the upload's file once every message was added. Heavy
  // (parsing a file of up to max_table_bytes): call it off the RPC threads.
  StatusOr<v1::TableInfo> Finish(Upload& upload);
  // A whole file at once (the HTTP API): as StartUpload, Add and Finish
  // with one message, without the chunk limit.
  StatusOr<v1::TableInfo> Put(const std::string& name, const std::string& delimiter,
                              const std::string& bytes);

  // INVALID_ARGUMENT for an id that is not 64 hex digits, NOT_FOUND for an
  // unknown one.
  StatusOr<v1::TableInfo> Get(const std::string& id) const;
  // A page of tables, newest first (page_size 1..1000, default 100; a page
  // ends early, with a next_page_token, before it outgrows 3 MiB).
  StatusOr<v1::ListTablesResponse> List(const v1::ListTablesRequest& request) const;
  // FAILED_PRECONDITION naming a QUEUED or RUNNING job that uses the table.
  Status Delete(const std::string& id);

  const TablesOptions& options() const { return options_; }

 private:
  StatusOr<v1::TableInfo> ParseAndStore(const std::string& name, char delimiter,
                                        const std::string& bytes, const std::string& id);

  Store* const store_;
  const TablesOptions options_;
  std::atomic<int> uploads_{0};  // Upload objects alive
};

}  // namespace gantry
