#include "server/job_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "server/files.h"

namespace gantry {
namespace fs = std::filesystem;
namespace {

// Migrations, in order: migration i brings the schema from version i to i+1.
const char* const kMigrations[] = {
    // 0 -> 1: jobs and events.
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY,"
    "  idx INTEGER NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  spec BLOB NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  create_ns INTEGER NOT NULL,"
    "  start_ns INTEGER NOT NULL DEFAULT 0,"
    "  end_ns INTEGER NOT NULL DEFAULT 0,"
    "  epochs_done INTEGER NOT NULL DEFAULT 0,"
    "  latest BLOB);"
    "CREATE TABLE events ("
    "  job_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  event BLOB NOT NULL,"
    "  PRIMARY KEY (job_id, seq)) WITHOUT ROWID;",
    // 1 -> 2: idempotent creates.
    "ALTER TABLE jobs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN request_fingerprint BLOB NOT NULL DEFAULT x'';"
    "CREATE INDEX jobs_request_id ON jobs(request_id) WHERE request_id != '';",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

Status SqlError(sqlite3* db, const std::string& what) {
  const int code = sqlite3_extended_errcode(db);
  const std::string msg = what + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_FULL) return Status::ResourceExhausted("disk full: " + msg);
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
    return Status::DataLoss(msg);
  }
  return Status::Internal(msg);
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return stmt_ != nullptr; }
  Stmt& Text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string ColBlob(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : "";
  }
  std::string ColText(int i) {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : "";
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(stmt_, i); }
  bool ColNull(int i) { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::vector<std::pair<int64_t, std::string>> ListFiles(const std::string& dir,
                                                       const std::string& prefix,
                                                       const std::string& suffix) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back({std::stoll(digits), entry.path().string()});
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

void CreatePrivateDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec)) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
}

std::string EpochName(const std::string& prefix, int64_t epoch, const std::string& suffix) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld", static_cast<long long>(epoch));
  return prefix + buf + suffix;
}

}  // namespace

StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "jobs", ec);
  if (ec) return Status::Internal("--data-dir " + dir + ": cannot create it: " + ec.message());
  // The directory holds users' points and generators: the server's user
  // only, whatever the umask (and an older, wider directory is narrowed).
  for (const fs::path& p : {fs::path(dir), fs::path(dir) / "jobs"}) {
    fs::permissions(p, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return Status::Internal("--data-dir " + p.string() + ": cannot make it private: " + ec.message());
  }
  std::unique_ptr<JobStore> s(new JobStore());
  s->dir_ = dir;
  const std::string lock_path = (fs::path(dir) / "LOCK").string();
  s->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd_ < 0) return Status::Internal("cannot open " + lock_path);
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    const ssize_t n = ::pread(s->lock_fd_, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status::FailedPrecondition("data directory " + dir +
                                      " is in use by another gantryd (pid " + holder + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(s->lock_fd_, 0) != 0 || ::pwrite(s->lock_fd_, pid.data(), pid.size(), 0) < 0) {
    return Status::Internal("cannot write " + lock_path);
  }
  const std::string db_path = (fs::path(dir) / "gantry.db").string();
  // SQLite creates the database (and its -wal and -shm files, which copy
  // the database's mode) with 0644 less the umask: create it 0600 first.
  if (const int fd = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    (void)::fchmod(fd, 0600);
    ::close(fd);
  }
  if (sqlite3_open_v2(db_path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return SqlError(s->db_, "opening " + db_path);
  }
  sqlite3_busy_timeout(s->db_, 5000);
  GANTRY_RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  GANTRY_RETURN_IF_ERROR(s->Migrate());
  return s;
}

JobStore::~JobStore() {
  if (db_ != nullptr) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status JobStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = SqlError(db_, "sql");
    sqlite3_free(err);
    return s;
  }
  return Status::Ok();
}

Status JobStore::Migrate() {
  int version;
  {
    Stmt st(db_, "PRAGMA user_version");
    if (!st.ok() || st.Step() != SQLITE_ROW) return SqlError(db_, "reading the schema version");
    version = static_cast<int>(st.ColInt(0));
  }
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition("database schema version " + std::to_string(version) +
                                      " is newer than this gantryd's " +
                                      std::to_string(kSchemaVersion) + "; upgrade gantryd");
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    GANTRY_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = Exec(kMigrations[v]);
    if (s.ok()) s = Exec("PRAGMA user_version = " + std::to_string(v + 1));
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return Status(s.code(), "migrating the schema to version " + std::to_string(v + 1) + ": " +
                                  s.message());
    }
    GANTRY_RETURN_IF_ERROR(Exec("COMMIT"));
  }
  return Status::Ok();
}

StatusOr<std::vector<StoredJob>> JobStore::LoadAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredJob> jobs;
  {
    Stmt st(db_,
            "SELECT id, idx, name, request_id, request_fingerprint, spec, state, error, create_ns,"
            " start_ns, end_ns, epochs_done, latest FROM jobs ORDER BY idx");
    if (!st.ok()) return SqlError(db_, "loading jobs");
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      StoredJob j;
      JobRow& r = j.row;
      r.id = st.ColText(0);
      r.index = st.ColInt(1);
      r.name = st.ColText(2);
      r.request_id = st.ColText(3);
      r.request_fingerprint = st.ColBlob(4);
      if (!r.spec.ParseFromString(st.ColBlob(5))) {
        return Status::DataLoss("job " + r.id + ": its stored spec is unreadable");
      }
      r.state = static_cast<v1::JobState>(st.ColInt(6));
      r.error = st.ColText(7);
      r.create_ns = st.ColInt(8);
      r.start_ns = st.ColInt(9);
      r.end_ns = st.ColInt(10);
      r.epochs_done = st.ColInt(11);
      if (!st.ColNull(12)) {
        r.latest.emplace();
        r.latest->ParseFromString(st.ColBlob(12));
      }
      jobs.push_back(std::move(j));
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "loading jobs");
  }
  for (StoredJob& j : jobs) {
    Stmt st(db_, "SELECT seq, event FROM events WHERE job_id = ? ORDER BY seq");
    st.Text(1, j.row.id);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      v1::JobEvent ev;
      if (!ev.ParseFromString(st.ColBlob(1)) || ev.seq() != st.ColInt(0) ||
          ev.seq() != static_cast<int64_t>(j.events.size()) + 1) {
        return Status::DataLoss("job " + j.row.id + ": event " + std::to_string(st.ColInt(0)) +
                                " is unreadable or out of order");
      }
      j.events.push_back(std::move(ev));
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "loading events of " + j.row.id);
  }
  return jobs;
}

namespace {
Status InsertEvent(sqlite3* db, const std::string& id, const v1::JobEvent& ev) {
  Stmt st(db, "INSERT INTO events (job_id, seq, event) VALUES (?, ?, ?)");
  st.Text(1, id).Int(2, ev.seq()).Blob(3, ev.SerializeAsString());
  return st.Step() == SQLITE_DONE ? Status::Ok() : SqlError(db, "storing an event of job " + id);
}
}  // namespace

Status JobStore::InsertJob(const JobRow& r, const v1::JobEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  GANTRY_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Stmt st(db_,
          "INSERT INTO jobs (id, idx, name, request_id, request_fingerprint, spec, state, error,"
          " create_ns, start_ns, end_ns, epochs_done, latest)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)");
  st.Text(1, r.id).Int(2, r.index).Text(3, r.name).Text(4, r.request_id);
  st.Blob(5, r.request_fingerprint).Blob(6, r.spec.SerializeAsString()).Int(7, r.state);
  st.Text(8, r.error).Int(9, r.create_ns).Int(10, r.start_ns).Int(11, r.end_ns).Int(12, r.epochs_done);
  Status s = st.Step() == SQLITE_DONE ? Status::Ok() : SqlError(db_, "storing job " + r.id);
  if (s.ok()) s = InsertEvent(db_, r.id, event);
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
}

Status JobStore::RecordEvent(const JobRow& r, const v1::JobEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  GANTRY_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = InsertEvent(db_, r.id, event);
  if (s.ok()) {
    Stmt st(db_,
            "UPDATE jobs SET state = ?, error = ?, start_ns = ?, end_ns = ?, epochs_done = ?,"
            " latest = ? WHERE id = ?");
    st.Int(1, r.state).Text(2, r.error).Int(3, r.start_ns).Int(4, r.end_ns).Int(5, r.epochs_done);
    if (r.latest) st.Blob(6, r.latest->SerializeAsString());
    else st.Null(6);
    st.Text(7, r.id);
    if (st.Step() != SQLITE_DONE) s = SqlError(db_, "updating job " + r.id);
  }
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
}

Status JobStore::DeleteJob(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    GANTRY_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Stmt a(db_, "DELETE FROM events WHERE job_id = ?");
    a.Text(1, id);
    Stmt b(db_, "DELETE FROM jobs WHERE id = ?");
    b.Text(1, id);
    Status s = a.Step() == SQLITE_DONE && b.Step() == SQLITE_DONE ? Status::Ok()
                                                                  : SqlError(db_, "deleting job " + id);
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  std::error_code ec;
  fs::remove_all(JobDir(id), ec);
  return Status::Ok();
}

std::string JobStore::JobDir(const std::string& id) const {
  return (fs::path(dir_) / "jobs" / id).string();
}

Status JobStore::WriteCheckpoint(const std::string& id, int64_t epoch, const std::string& state,
                                 int keep) {
  std::error_code ec;
  CreatePrivateDirectory(JobDir(id));
  GANTRY_RETURN_IF_ERROR(WriteFramedFile(
      (fs::path(JobDir(id)) / EpochName("checkpoint-", epoch, ".ckpt")).string(), state));
  const auto all = Checkpoints(id);
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) fs::remove(all[i].second, ec);
  return Status::Ok();
}

void JobStore::DeleteCheckpoints(const std::string& id) {
  std::error_code ec;
  for (const auto& [epoch, path] : Checkpoints(id)) fs::remove(path, ec);
}

std::vector<std::pair<int64_t, std::string>> JobStore::Checkpoints(const std::string& id) const {
  return ListFiles(JobDir(id), "checkpoint-", ".ckpt");
}

Status JobStore::WriteSnapshot(const std::string& id, int64_t epoch, const std::string& bytes) {
  CreatePrivateDirectory(JobDir(id));
  return WriteFramedFile(SnapshotPath(id, epoch), bytes);
}

std::string JobStore::SnapshotPath(const std::string& id, int64_t epoch) const {
  return (fs::path(JobDir(id)) / EpochName("snapshot-", epoch, ".snap")).string();
}

std::vector<std::pair<int64_t, std::string>> JobStore::Snapshots(const std::string& id) const {
  return ListFiles(JobDir(id), "snapshot-", ".snap");
}

}  // namespace gantry
