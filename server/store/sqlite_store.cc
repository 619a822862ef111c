#include "server/store/sqlite_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "server/jobs/convert.h"
#include "server/util/files.h"
#include "server/util/clock.h"
#include "server/util/sha256.h"

namespace gantry {
namespace fs = std::filesystem;
namespace {

// Migrations, in order: migration i brings the schema from version i to i+1.
// Version 3's data step (moving user points out of the spec) is in C++:
// MoveOutPoints.
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
    // 2 -> 3: the store interface: user points apart from the spec, derived
    // sizes, the newest seq and the lease in the row; a unique request_id.
    "ALTER TABLE jobs ADD COLUMN points BLOB;"
    "ALTER TABLE jobs ADD COLUMN dataset_rows INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN memory_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN lease_expires_ns INTEGER NOT NULL DEFAULT 0;"
    "UPDATE jobs SET last_seq ="
    "  (SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.job_id = jobs.id);"
    "DROP INDEX jobs_request_id;"
    "CREATE UNIQUE INDEX jobs_request_id ON jobs(request_id) WHERE request_id != '';"
    "CREATE INDEX jobs_state ON jobs(state, idx);"
    "CREATE INDEX jobs_ended ON jobs(end_ns) WHERE state >= 3;",
    // 3 -> 4: labels, in their own table (ListJobs selects by them).
    "CREATE TABLE job_labels ("
    "  job_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, key)) WITHOUT ROWID;"
    "CREATE INDEX job_labels_key_value ON job_labels(key, value);",
    // 4 -> 5: uploaded tables (the bytes last, so that reading a row's
    // other columns never walks the bytes' overflow pages), and the table a
    // job uses (no job before version 5 used one).
    "CREATE TABLE tables ("
    "  id TEXT PRIMARY KEY,"
    "  idx INTEGER NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  size_bytes INTEGER NOT NULL,"
    "  schema BLOB NOT NULL,"
    "  create_ns INTEGER NOT NULL,"
    "  bytes BLOB NOT NULL);"
    "ALTER TABLE jobs ADD COLUMN table_id TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX jobs_table_id ON jobs(table_id, state) WHERE table_id != '';",
    // 5 -> 6: dashboard login sessions, by the hash of their id
    // (server/api/sessions.h); the index finds the expired ones.
    "CREATE TABLE sessions ("
    "  id_hash TEXT PRIMARY KEY,"
    "  create_ns INTEGER NOT NULL,"
    "  expires_ns INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX sessions_expires ON sessions(expires_ns);",
    // 6 -> 7: principals (server/api/principals.h): who created each job and
    // whose each session is, and the audit log of state-changing calls.
    "ALTER TABLE jobs ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX jobs_created_by ON jobs(created_by, idx) WHERE created_by != '';"
    "ALTER TABLE sessions ADD COLUMN principal TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  time_ns INTEGER NOT NULL,"
    "  principal TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  allowed INTEGER NOT NULL,"
    "  code TEXT NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX audit_principal ON audit(principal, seq);"
    "CREATE INDEX audit_target ON audit(target, seq) WHERE target != '';",
    // 7 -> 8: priorities (v1::Priority; NORMAL for the jobs before) and
    // when a job last entered QUEUED, for aging.
    "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 2;"
    "ALTER TABLE jobs ADD COLUMN queued_ns INTEGER NOT NULL DEFAULT 0;"
    "UPDATE jobs SET queued_ns = create_ns;",
    // 8 -> 9: webhooks and their deliveries (the outbox and the delivery
    // log, server/webhooks/README.md).
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  idx INTEGER NOT NULL UNIQUE,"
    "  principal TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  job_id TEXT NOT NULL,"
    "  label_selector TEXT NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  create_ns INTEGER NOT NULL);"
    "CREATE INDEX webhooks_principal ON webhooks(principal, idx);"
    "CREATE TABLE deliveries ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  webhook_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  job_id TEXT NOT NULL,"
    "  event_seq INTEGER NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  create_ns INTEGER NOT NULL,"
    "  last_attempt_ns INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ns INTEGER NOT NULL,"
    "  lease_expires_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX deliveries_due ON deliveries(next_attempt_ns, seq) WHERE state = 1;"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, state, seq);",
    // 9 -> 10: studies (server/studies/README.md): the API form without
    // trials (body), its id, state and owner also in columns (for the claim
    // and ListStudies' filter), and the lease of the replica that takes its
    // decisions; claimed_ns (when it was claimed) frees the claims of a
    // previous process (ExpireAllLeases).
    "CREATE TABLE studies ("
    "  id TEXT PRIMARY KEY,"
    "  idx INTEGER NOT NULL UNIQUE,"
    "  state INTEGER NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  lease INTEGER NOT NULL DEFAULT 0,"
    "  holder TEXT NOT NULL DEFAULT '',"
    "  lease_expires_ns INTEGER NOT NULL DEFAULT 0,"
    "  claimed_ns INTEGER NOT NULL DEFAULT 0,"
    "  body BLOB NOT NULL);"
    "CREATE INDEX studies_state ON studies(state, idx);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

// How long one of the store's connections (the writer and the readers share
// the file) waits for a lock another holds before failing with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

constexpr char kColumns[] =
    "id, idx, name, request_id, request_fingerprint, spec, dataset_rows, memory_bytes, state,"
    " error, create_ns, start_ns, end_ns, epochs_done, latest, last_seq, lease, owner,"
    " lease_expires_ns, created_by, priority, queued_ns";

Status SqlError(sqlite3* db, const std::string& what) {
  const int code = sqlite3_extended_errcode(db);
  const std::string msg = what + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_FULL) return Status::ResourceExhausted("disk full: " + msg);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
    return Status::DataLoss(msg);
  }
  return Status::Internal(msg);
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  Stmt& Text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // `s` is not copied: it must outlive the statement's next Step().
  Stmt& BlobNoCopy(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
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
  int Step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  // Ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
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
  sqlite3_stmt* stmt_ = nullptr;
};

Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = SqlError(db, "sql");
    sqlite3_free(err);
    return s;
  }
  return Status::Ok();
}

// A read transaction on a read connection for the object's lifetime, so
// that the statements run in it (a job's row, then its labels) see one
// snapshot of the database.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db) : db_(db) { ok_ = Exec(db, "BEGIN").ok(); }
  ~ReadTransaction() {
    // It read only: the reads' results are already taken, and a COMMIT that
    // fails has nothing to undo.
    if (ok_) (void)Exec(db_, "COMMIT");
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  sqlite3* db_;
  bool ok_ = false;
};

// The row at the statement's current result (columns as kColumns, then the
// points when `points_column` is >= 0).
StatusOr<JobRow> ReadRow(Stmt& st, int points_column) {
  JobRow r;
  r.id = st.ColText(0);
  r.index = st.ColInt(1);
  r.name = st.ColText(2);
  r.request_id = st.ColText(3);
  r.request_fingerprint = st.ColBlob(4);
  if (!r.spec.ParseFromString(st.ColBlob(5))) {
    return Status::DataLoss("job " + r.id + ": its stored spec is unreadable");
  }
  r.dataset_rows = st.ColInt(6);
  r.memory_bytes = st.ColInt(7);
  r.state = static_cast<v1::JobState>(st.ColInt(8));
  r.error = st.ColText(9);
  r.create_ns = st.ColInt(10);
  r.start_ns = st.ColInt(11);
  r.end_ns = st.ColInt(12);
  r.epochs_done = st.ColInt(13);
  if (!st.ColNull(14)) {
    r.latest.emplace();
    if (!r.latest->ParseFromString(st.ColBlob(14))) {
      return Status::DataLoss("job " + r.id + ": its latest report is unreadable");
    }
  }
  r.last_seq = st.ColInt(15);
  r.lease = st.ColInt(16);
  r.owner = st.ColText(17);
  r.lease_expires_ns = st.ColInt(18);
  r.created_by = st.ColText(19);
  r.priority = static_cast<int>(st.ColInt(20));
  r.queued_ns = st.ColInt(21);
  if (points_column >= 0 && !st.ColNull(points_column)) {
    if (!r.spec.mutable_dataset()->mutable_points()->ParseFromString(st.ColBlob(points_column))) {
      return Status::DataLoss("job " + r.id + ": its stored points are unreadable");
    }
  }
  return r;
}

// Fills the labels of `rows` from job_labels (one statement, run per row).
Status ReadLabels(sqlite3* db, JobRow* rows, size_t n) {
  if (n == 0) return Status::Ok();
  Stmt st(db, "SELECT key, value FROM job_labels WHERE job_id = ?");
  for (size_t i = 0; i < n; ++i) {
    st.Reset();
    st.Text(1, rows[i].id);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) rows[i].labels[st.ColText(0)] = st.ColText(1);
    if (rc != SQLITE_DONE) return SqlError(db, "reading the labels of job " + rows[i].id);
  }
  return Status::Ok();
}

// Every row the statement yields (columns as kColumns, no points), with
// its labels.
StatusOr<std::vector<JobRow>> ReadRows(Stmt& st, sqlite3* db, const char* what) {
  std::vector<JobRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    auto row = ReadRow(st, -1);
    if (!row.ok()) return row.status();
    out.push_back(std::move(row).value());
  }
  if (rc != SQLITE_DONE) return SqlError(db, what);
  GANTRY_RETURN_IF_ERROR(ReadLabels(db, out.data(), out.size()));
  return out;
}

std::string EpochName(const char* prefix, int64_t epoch, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%08lld%s", prefix, static_cast<long long>(epoch), suffix);
  return buf;
}

const char* BlobPrefix(BlobKind kind) {
  return kind == BlobKind::kCheckpoint ? "checkpoint-" : "snapshot-";
}
const char* BlobSuffix(BlobKind kind) { return kind == BlobKind::kCheckpoint ? ".ckpt" : ".snap"; }

// Version 3 keeps a USER dataset's points in their own column, and the
// derived sizes in the row: 0 (not recorded) for the jobs it migrates, so
// that what a migration stores never depends on the server that ran it
// (their memory is not counted at admission; they were admitted by the
// server that stored them).
// Request fingerprints become SHA-256s of what they were (the serialized
// spec, user points included, and the name), which is what gantryd now
// stores for new jobs.
Status MoveOutPoints(sqlite3* db) {
  std::vector<std::string> ids;
  {
    Stmt st(db, "SELECT id FROM jobs");
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) ids.push_back(st.ColText(0));
    if (rc != SQLITE_DONE) return SqlError(db, "reading jobs to migrate");
  }
  for (const std::string& id : ids) {  // one job's spec in memory at a time
    std::string bytes, fingerprint;
    {
      Stmt st(db, "SELECT spec, request_fingerprint, request_id FROM jobs WHERE id = ?");
      st.Text(1, id);
      if (st.Step() != SQLITE_ROW) return SqlError(db, "reading job " + id + " to migrate");
      bytes = st.ColBlob(0);
      fingerprint = st.ColText(2).empty() ? "" : Sha256(st.ColBlob(1));
    }
    v1::JobSpec spec;
    if (!spec.ParseFromString(bytes)) return Status::DataLoss("job " + id + ": unreadable spec");
    Stmt st(db,
            "UPDATE jobs SET spec = ?, points = ?, dataset_rows = ?, memory_bytes = ?,"
            " request_fingerprint = ? WHERE id = ?");
    st.Blob(1, WithoutPoints(spec).SerializeAsString());
    if (spec.dataset().kind() == v1::DATASET_KIND_USER) {
      st.Blob(2, spec.dataset().points().SerializeAsString());
    } else {
      st.Null(2);
    }
    st.Int(3, 0).Int(4, 0).Blob(5, fingerprint).Text(6, id);
    if (st.Step() != SQLITE_DONE) return SqlError(db, "migrating job " + id);
  }
  return Status::Ok();
}

}  // namespace

// The analysis cannot name a lock picked at run time, so the constructor
// and destructor are not checked: db() is the connection whose lock the
// Reader holds from its constructor to its destructor.
class SqliteStore::Reader {
 public:
  explicit Reader(const SqliteStore& store) NO_THREAD_SAFETY_ANALYSIS {
    for (auto& r : store.readers_) {
      if (r.mu.TryLock()) {
        held_ = &r;
        db_ = r.db;
        return;
      }
    }
    held_ = &store.readers_[store.next_reader_.fetch_add(1) % kReaders];
    held_->mu.Lock();
    db_ = held_->db;
  }
  ~Reader() NO_THREAD_SAFETY_ANALYSIS { held_->mu.Unlock(); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  sqlite3* db() const { return db_; }

 private:
  ReadConnection* held_ = nullptr;
  sqlite3* db_ = nullptr;
};

template <typename Fn>
Status SqliteStore::Transaction(Fn&& body) {
  GANTRY_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = Exec(db_, "COMMIT");
  if (!s.ok()) (void)Exec(db_, "ROLLBACK");  // the body's or COMMIT's error is the one to report
  return s;
}

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& dir, Sync sync) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "jobs", ec);
  if (ec) return Status::Internal("--data-dir " + dir + ": cannot create it: " + ec.message());
  // The directory holds users' points and generators: the server's user
  // only, whatever the umask (and an older, wider directory is narrowed).
  for (const fs::path& p : {fs::path(dir), fs::path(dir) / "jobs"}) {
    fs::permissions(p, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) {
      return Status::Internal("--data-dir " + p.string() +
                              ": cannot make it private: " + ec.message());
    }
  }
  std::unique_ptr<SqliteStore> s(new SqliteStore());
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
  std::vector<sqlite3**> connections = {&s->db_};
  for (auto& r : s->readers_) connections.push_back(&r.db);
  for (sqlite3** db : connections) {
    if (sqlite3_open_v2(db_path.c_str(), db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      return SqlError(*db, "opening " + db_path);
    }
    sqlite3_busy_timeout(*db, kBusyTimeoutMs);
  }
  {
    MutexLock lock(&s->write_mu_);
    GANTRY_RETURN_IF_ERROR(
        Exec(s->db_, std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                         (sync == Sync::kFull ? "FULL" : "NORMAL") + ";"));
  }
  GANTRY_RETURN_IF_ERROR(s->Migrate());
  return s;
}

SqliteStore::~SqliteStore() {
  for (auto& r : readers_) {
    if (r.db != nullptr) sqlite3_close(r.db);
  }
  if (db_ != nullptr) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string SqliteStore::Describe() const { return "SQLite " + dir_ + "/gantry.db"; }

Status SqliteStore::Migrate() {
  MutexLock lock(&write_mu_);
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
    Status s = Transaction([&]() REQUIRES(write_mu_) {
      GANTRY_RETURN_IF_ERROR(Exec(db_, kMigrations[v]));
      if (v + 1 == 3) GANTRY_RETURN_IF_ERROR(MoveOutPoints(db_));
      return Exec(db_, "PRAGMA user_version = " + std::to_string(v + 1));
    });
    if (!s.ok()) {
      return Status(s.code(), "migrating the schema to version " + std::to_string(v + 1) + ": " +
                                  s.message());
    }
  }
  return Status::Ok();
}

StatusOr<JobRow> SqliteStore::GetJobLocked(sqlite3* db, const std::string& id,
                                           ReadPoints points) const {
  Stmt st(db, std::string("SELECT ") + kColumns + (points == ReadPoints::kYes ? ", points" : "") +
                  " FROM jobs WHERE id = ?");
  st.Text(1, id);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return Status::NotFound("job " + id + " not found");
  if (rc != SQLITE_ROW) return SqlError(db, "reading job " + id);
  auto row = ReadRow(st, points == ReadPoints::kYes ? 22 : -1);
  if (!row.ok()) return row;
  GANTRY_RETURN_IF_ERROR(ReadLabels(db, &row.value(), 1));
  return row;
}

StatusOr<InsertResult> SqliteStore::InsertJob(const JobRow& row, const v1::JobEvent& first,
                                              const Quota& quota) {
  MutexLock lock(&write_mu_);
  InsertResult out;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    if (!row.request_id.empty()) {
      Stmt st(db_, "SELECT id FROM jobs WHERE request_id = ?");
      st.Text(1, row.request_id);
      const int rc = st.Step();
      if (rc == SQLITE_ROW) {
        auto existing = GetJobLocked(db_, st.ColText(0), ReadPoints::kNo);
        if (!existing.ok()) return existing.status();
        out.row = std::move(existing).value();
        out.inserted = false;
        return Status::Ok();
      }
      if (rc != SQLITE_DONE) return SqlError(db_, "looking up request_id");
    }
    if (quota.any() && !row.created_by.empty()) {
      // In the write transaction: no other insert or claim runs meanwhile.
      Stmt st(db_,
              "SELECT COALESCE(SUM(state = 1), 0), COALESCE(SUM(memory_bytes), 0) FROM jobs"
              " WHERE created_by = ? AND created_by != '' AND state IN (1, 2)");
      st.Text(1, row.created_by);
      if (st.Step() != SQLITE_ROW) return SqlError(db_, "counting the jobs of " + row.created_by);
      GANTRY_RETURN_IF_ERROR(CheckQuota(row.created_by, quota, QuotaUse{st.ColInt(0), st.ColInt(1)},
                                        row.memory_bytes));
    }
    const std::string& table_id = TableIdOf(row.spec);
    if (!table_id.empty()) {
      Stmt st(db_, "SELECT 1 FROM tables WHERE id = ?");
      st.Text(1, table_id);
      const int rc = st.Step();
      if (rc == SQLITE_DONE) return JobTableNotFound(table_id);
      if (rc != SQLITE_ROW) return SqlError(db_, "looking up table " + table_id);
    }
    int64_t index = 1;
    {
      Stmt st(db_, "SELECT COALESCE(MAX(idx), 0) + 1 FROM jobs");
      if (st.Step() != SQLITE_ROW) return SqlError(db_, "numbering job " + row.id);
      index = st.ColInt(0);
    }
    Stmt st(db_,
            "INSERT INTO jobs (id, idx, name, request_id, request_fingerprint, spec, points,"
            " dataset_rows, memory_bytes, state, error, create_ns, start_ns, end_ns, epochs_done,"
            " latest, last_seq, lease, owner, lease_expires_ns, table_id, created_by, priority,"
            " queued_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, NULL, ?, 0, '', 0, ?, ?, ?, ?)");
    st.Text(1, row.id).Int(2, index).Text(3, row.name).Text(4, row.request_id);
    st.Blob(5, row.request_fingerprint).Blob(6, WithoutPoints(row.spec).SerializeAsString());
    if (row.spec.dataset().kind() == v1::DATASET_KIND_USER) {
      st.Blob(7, row.spec.dataset().points().SerializeAsString());
    } else {
      st.Null(7);
    }
    st.Int(8, row.dataset_rows).Int(9, row.memory_bytes).Int(10, row.state).Text(11, row.error);
    st.Int(12, row.create_ns).Int(13, first.seq()).Text(14, table_id).Text(15, row.created_by);
    st.Int(16, row.priority).Int(17, row.queued_ns);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing job " + row.id);
    Stmt ev(db_, "INSERT INTO events (job_id, seq, event) VALUES (?, ?, ?)");
    ev.Text(1, row.id).Int(2, first.seq()).Blob(3, first.SerializeAsString());
    if (ev.Step() != SQLITE_DONE) return SqlError(db_, "storing the first event of " + row.id);
    if (!row.labels.empty()) {
      Stmt label(db_, "INSERT INTO job_labels (job_id, key, value) VALUES (?, ?, ?)");
      for (const auto& [key, value] : row.labels) {
        label.Reset();
        label.Text(1, row.id).Text(2, key).Text(3, value);
        if (label.Step() != SQLITE_DONE) return SqlError(db_, "storing the labels of " + row.id);
      }
    }
    out.row = row;
    out.row.index = index;
    out.row.last_seq = first.seq();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<JobRow> SqliteStore::GetJob(const std::string& id, ReadPoints points) const {
  Reader reader(*this);
  ReadTransaction txn(reader.db());
  return GetJobLocked(reader.db(), id, points);
}

StatusOr<std::vector<JobRow>> SqliteStore::ListJobs(const ListQuery& q) const {
  Reader reader(*this);
  ReadTransaction txn(reader.db());
  std::string sql = std::string("SELECT ") + kColumns + " FROM jobs WHERE idx < ?";
  if (q.state != v1::JOB_STATE_UNSPECIFIED) sql += " AND state = ?";
  // (The != '' lets SQLite use the partial index jobs_created_by.)
  if (!q.created_by.empty()) sql += " AND created_by = ? AND created_by != ''";
  // Each pair from the (key, value) index.
  for (size_t n = 0; n < q.labels.size(); ++n) {
    sql += " AND id IN (SELECT job_id FROM job_labels WHERE key = ? AND value = ?)";
  }
  sql += " ORDER BY idx DESC LIMIT ?";
  Stmt st(reader.db(), sql);
  int i = 1;
  st.Int(i++, q.before_index > 0 ? q.before_index : INT64_MAX);
  if (q.state != v1::JOB_STATE_UNSPECIFIED) st.Int(i++, q.state);
  if (!q.created_by.empty()) st.Text(i++, q.created_by);
  for (const auto& [key, value] : q.labels) {
    st.Text(i++, key);
    st.Text(i++, value);
  }
  st.Int(i++, q.limit);
  return ReadRows(st, reader.db(), "listing jobs");
}

StatusOr<std::vector<JobRow>> SqliteStore::ActiveJobs() const {
  Reader reader(*this);
  ReadTransaction txn(reader.db());
  Stmt st(reader.db(),
          std::string("SELECT ") + kColumns + " FROM jobs WHERE state IN (1, 2) ORDER BY idx");
  return ReadRows(st, reader.db(), "listing active jobs");
}

StatusOr<std::vector<std::string>> SqliteStore::ExpiredJobs(int64_t ended_before_ns,
                                                            int64_t keep_newest, int limit) const {
  Reader reader(*this);
  // Newest ended first; skip the kept ones unless they are too old.
  Stmt st(reader.db(),
          "SELECT id, end_ns FROM jobs WHERE state >= 3 ORDER BY end_ns DESC, idx DESC");
  std::vector<std::string> out;
  int64_t n = 0;
  int rc = SQLITE_DONE;
  while (static_cast<int>(out.size()) < limit && (rc = st.Step()) == SQLITE_ROW) {
    const bool too_many = keep_newest > 0 && n >= keep_newest;
    const bool too_old = ended_before_ns > 0 && st.ColInt(1) < ended_before_ns;
    if (too_many || too_old) out.push_back(st.ColText(0));
    ++n;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(reader.db(), "listing ended jobs");
  return out;
}

Status SqliteStore::DeleteJob(const std::string& id) {
  {
    MutexLock lock(&write_mu_);
    GANTRY_RETURN_IF_ERROR(Transaction([&]() REQUIRES(write_mu_) -> Status {
      auto row = GetJobLocked(db_, id, ReadPoints::kNo);
      if (!row.ok()) return row.status();
      if (!IsTerminalState(row->state)) {
        return Status::FailedPrecondition("job " + id + " has not ended");
      }
      Stmt a(db_, "DELETE FROM events WHERE job_id = ?");
      a.Text(1, id);
      Stmt b(db_, "DELETE FROM job_labels WHERE job_id = ?");
      b.Text(1, id);
      Stmt c(db_, "DELETE FROM jobs WHERE id = ?");
      c.Text(1, id);
      if (a.Step() != SQLITE_DONE || b.Step() != SQLITE_DONE || c.Step() != SQLITE_DONE) {
        return SqlError(db_, "deleting job " + id);
      }
      return Status::Ok();
    }));
  }
  std::error_code ec;
  fs::remove_all(JobDir(id), ec);
  return Status::Ok();
}

Status SqliteStore::AppendEvent(const JobRow& r, const v1::JobEvent& event) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    {
      Stmt st(db_, "SELECT lease, last_seq FROM jobs WHERE id = ?");
      st.Text(1, r.id);
      const int rc = st.Step();
      if (rc == SQLITE_DONE) return Status::NotFound("job " + r.id + " not found");
      if (rc != SQLITE_ROW) return SqlError(db_, "reading job " + r.id);
      if (st.ColInt(0) != r.lease) {
        return Status::FailedPrecondition("job " + r.id + ": lease " + std::to_string(r.lease) +
                                          " is no longer held (now " +
                                          std::to_string(st.ColInt(0)) + ")");
      }
      if (event.seq() <= st.ColInt(1)) {
        return Status::AlreadyExists("job " + r.id + ": event " + std::to_string(event.seq()) +
                                     " is stored already");
      }
      if (event.seq() != st.ColInt(1) + 1) {
        return Status::FailedPrecondition("job " + r.id + ": event " + std::to_string(event.seq()) +
                                          " would leave a gap after " +
                                          std::to_string(st.ColInt(1)));
      }
    }
    Stmt ev(db_, "INSERT INTO events (job_id, seq, event) VALUES (?, ?, ?)");
    ev.Text(1, r.id).Int(2, event.seq()).Blob(3, event.SerializeAsString());
    if (ev.Step() != SQLITE_DONE) return SqlError(db_, "storing an event of job " + r.id);
    Stmt st(db_,
            "UPDATE jobs SET state = ?, error = ?, start_ns = ?, end_ns = ?, epochs_done = ?,"
            " latest = ?, last_seq = ?, queued_ns = ? WHERE id = ?");
    st.Int(1, r.state).Text(2, r.error).Int(3, r.start_ns).Int(4, r.end_ns).Int(5, r.epochs_done);
    if (r.latest) {
      st.Blob(6, r.latest->SerializeAsString());
    } else {
      st.Null(6);
    }
    st.Int(7, event.seq()).Int(8, r.queued_ns).Text(9, r.id);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "updating job " + r.id);
    return StoreDeliveries(r, event);
  });
}

StatusOr<std::vector<v1::JobEvent>> SqliteStore::ReadEvents(const std::string& id, int64_t from_seq,
                                                            int limit) const {
  Reader reader(*this);
  Stmt st(reader.db(),
          "SELECT seq, event FROM events WHERE job_id = ? AND seq >= ? ORDER BY seq LIMIT ?");
  st.Text(1, id).Int(2, from_seq).Int(3, limit);
  std::vector<v1::JobEvent> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    v1::JobEvent ev;
    if (!ev.ParseFromString(st.ColBlob(1)) || ev.seq() != st.ColInt(0)) {
      return Status::DataLoss("job " + id + ": event " + std::to_string(st.ColInt(0)) +
                              " is unreadable");
    }
    out.push_back(std::move(ev));
  }
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "reading events of " + id);
  return out;
}

StatusOr<std::optional<JobRow>> SqliteStore::ClaimNext(const std::string& owner,
                                                       int64_t max_memory_bytes, int64_t lease_ns,
                                                       const ClaimPolicy& policy) {
  MutexLock lock(&write_mu_);
  const RunningLimits& limits = policy.running;
  // The queued job of the highest aged priority (?2: the aging, 0 for
  // none), the oldest among equals, whose creator is under its running limit.
  std::string queued = "SELECT id, memory_bytes FROM jobs WHERE state = 1 AND ?1 IS NOT NULL";
  for (size_t i = 0; i < limits.size(); ++i) {
    const std::string name = "?" + std::to_string(2 * i + 3), limit = "?" + std::to_string(2 * i + 4);
    queued += " AND NOT (created_by = " + name +
              " AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 2 AND r.created_by = " + name +
              ") >= " + limit + ")";
  }
  queued += " ORDER BY MIN(3, priority + CASE WHEN ?2 > 0 AND ?1 > queued_ns THEN (?1 - queued_ns) / ?2"
            " ELSE 0 END) DESC, idx LIMIT 1";
  std::optional<JobRow> out;
  const int64_t now = NowNs();
  bool corrupt = true;
  Status s;
  // A job whose row is unreadable is failed and skipped (bounded).
  for (int tries = 0; corrupt && tries < 100; ++tries) {
    corrupt = false;
    s = Transaction([&]() REQUIRES(write_mu_) -> Status {
      std::string id;
      int64_t memory = 0;
      // The previous holder's running jobs first, then one whose lease
      // expired (its replica died), then the oldest queued one.
      while (!orphans_.empty() && id.empty()) {
        Stmt st(db_, "SELECT memory_bytes FROM jobs WHERE id = ? AND state = 2");
        st.Text(1, orphans_.front());
        const int rc = st.Step();
        if (rc == SQLITE_ROW) {
          id = orphans_.front();
          memory = st.ColInt(0);
        } else if (rc == SQLITE_DONE) {
          orphans_.erase(orphans_.begin());  // ended or deleted meanwhile
        } else {
          return SqlError(db_, "claiming a job");
        }
      }
      const std::string expired =
          "SELECT id, memory_bytes FROM jobs WHERE state = 2 AND lease_expires_ns < ?1"
          " ORDER BY idx LIMIT 1";
      for (const std::string* sql : std::initializer_list<const std::string*>{&expired, &queued}) {
        if (!id.empty()) break;
        Stmt st(db_, *sql);
        st.Int(1, now);
        if (sql == &queued) {
          st.Int(2, policy.priority_aging_ns);
          int i = 3;
          for (const auto& [name, limit] : limits) {
            st.Text(i++, name);
            st.Int(i++, limit);
          }
        }
        const int rc = st.Step();
        if (rc == SQLITE_ROW) {
          id = st.ColText(0);
          memory = st.ColInt(1);
          break;
        }
        if (rc != SQLITE_DONE) return SqlError(db_, "claiming a job");
      }
      if (id.empty() || (max_memory_bytes >= 0 && memory > max_memory_bytes)) return Status::Ok();
      Stmt st(db_,
              "UPDATE jobs SET start_ns = CASE WHEN start_ns = 0 THEN ? ELSE start_ns END, state = 2,"
              " owner = ?, lease = lease + 1, lease_expires_ns = ? WHERE id = ?");
      st.Int(1, now).Text(2, owner).Int(3, now + lease_ns).Text(4, id);
      if (st.Step() != SQLITE_DONE) return SqlError(db_, "claiming job " + id);
      auto row = GetJobLocked(db_, id, ReadPoints::kYes);
      if (row.status().code() == StatusCode::kDataLoss) {
        // An unreadable row must not stall the queue: that job fails, the
        // next claim takes the next one.
        Stmt fail(db_, "UPDATE jobs SET state = 4, error = ?, end_ns = ? WHERE id = ?");
        fail.Text(1, "its stored row is unreadable: " + row.status().message())
            .Int(2, now)
            .Text(3, id);
        if (fail.Step() != SQLITE_DONE) return SqlError(db_, "failing job " + id);
        corrupt = true;
        return Status::Ok();
      }
      if (!row.ok()) return row.status();
      out = std::move(row).value();
      return Status::Ok();
    });
    if (!s.ok()) return s;
    if (corrupt) spdlog::error("a job's stored row is unreadable; it was marked FAILED");
  }
  if (out && !orphans_.empty() && orphans_.front() == out->id) orphans_.erase(orphans_.begin());
  return out;
}

Status SqliteStore::RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) {
  MutexLock lock(&write_mu_);
  Stmt st(db_, "UPDATE jobs SET lease_expires_ns = ? WHERE id = ? AND lease = ? AND state = 2");
  st.Int(1, NowNs() + lease_ns).Text(2, id).Int(3, lease);
  if (st.Step() != SQLITE_DONE) return SqlError(db_, "renewing the lease of job " + id);
  if (sqlite3_changes(db_) == 0) {
    return Status::FailedPrecondition("job " + id + ": lease " + std::to_string(lease) +
                                      " is no longer held");
  }
  return Status::Ok();
}

Status SqliteStore::ExpireAllLeases() {
  MutexLock lock(&write_mu_);
  Stmt st(db_, "SELECT id FROM jobs WHERE state = 2 ORDER BY idx");
  orphans_.clear();
  deliveries_dead_before_ns_ = NowNs();
  studies_dead_before_ns_ = deliveries_dead_before_ns_;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) orphans_.push_back(st.ColText(0));
  if (rc != SQLITE_DONE) return SqlError(db_, "listing running jobs");
  return Status::Ok();
}

std::string SqliteStore::JobDir(const std::string& id) const {
  return (fs::path(dir_) / "jobs" / id).string();
}

std::string SqliteStore::BlobPath(const BlobKey& key) const {
  return (fs::path(JobDir(key.job_id)) /
          EpochName(BlobPrefix(key.kind), key.epoch, BlobSuffix(key.kind)))
      .string();
}

Status SqliteStore::PutBlob(const BlobKey& key, const std::string& bytes) {
  const std::string dir = JobDir(key.job_id);
  std::error_code ec;
  if (fs::create_directories(dir, ec)) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  return WriteFramedFile(BlobPath(key), bytes);
}

StatusOr<std::string> SqliteStore::GetBlob(const BlobKey& key) const {
  const std::string path = BlobPath(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::NotFound(std::string(BlobKindName(key.kind)) + " of job " + key.job_id +
                            " for epoch " + std::to_string(key.epoch) + " not found");
  }
  auto bytes = ReadFile(path);
  if (!bytes.ok())
    return Status::DataLoss(BlobKindName(key.kind) + std::string(" ") + path + ": " +
                            bytes.status().message());
  return Unframe(std::move(bytes).value(), std::string(BlobKindName(key.kind)) + " " + path);
}

StatusOr<std::vector<int64_t>> SqliteStore::ListBlobs(const std::string& job_id,
                                                      BlobKind kind) const {
  const std::string prefix = BlobPrefix(kind), suffix = BlobSuffix(kind);
  std::vector<int64_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(JobDir(job_id), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 18 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    out.push_back(std::stoll(digits));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status SqliteStore::DeleteBlob(const BlobKey& key) {
  std::error_code ec;
  fs::remove(BlobPath(key), ec);
  if (ec) return Status::Internal("cannot delete " + BlobPath(key) + ": " + ec.message());
  return Status::Ok();
}

}  // namespace gantry

namespace gantry {

StatusOr<std::map<v1::JobState, int64_t>> SqliteStore::CountJobs() const {
  Reader reader(*this);
  Stmt st(reader.db(), "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::map<v1::JobState, int64_t> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW)
    out[static_cast<v1::JobState>(st.ColInt(0))] = st.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "counting jobs");
  return out;
}

}  // namespace gantry

namespace gantry {

StatusOr<std::optional<JobRow>> SqliteStore::FindRequest(const std::string& request_id) const {
  Reader reader(*this);
  ReadTransaction txn(reader.db());
  Stmt st(reader.db(), std::string("SELECT ") + kColumns + " FROM jobs WHERE request_id = ?");
  st.Text(1, request_id);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return std::optional<JobRow>();
  if (rc != SQLITE_ROW) return SqlError(reader.db(), "looking up request_id");
  auto row = ReadRow(st, -1);
  if (!row.ok()) return row.status();
  GANTRY_RETURN_IF_ERROR(ReadLabels(reader.db(), &row.value(), 1));
  return std::optional<JobRow>(std::move(row).value());
}

}  // namespace gantry

namespace gantry {
namespace {

constexpr char kTableColumns[] = "id, idx, name, size_bytes, schema, create_ns";

// The table row at the statement's current result (columns as kTableColumns).
StatusOr<TableRow> ReadTableRow(Stmt& st) {
  TableRow r;
  r.id = st.ColText(0);
  r.index = st.ColInt(1);
  r.name = st.ColText(2);
  r.size_bytes = st.ColInt(3);
  if (!r.schema.ParseFromString(st.ColBlob(4))) {
    return Status::DataLoss("table " + r.id + ": its stored schema is unreadable");
  }
  r.create_ns = st.ColInt(5);
  return r;
}

StatusOr<TableRow> GetTableIn(sqlite3* db, const std::string& id) {
  Stmt st(db, std::string("SELECT ") + kTableColumns + " FROM tables WHERE id = ?");
  st.Text(1, id);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return TableNotFound(id);
  if (rc != SQLITE_ROW) return SqlError(db, "reading table " + id);
  return ReadTableRow(st);
}

}  // namespace

StatusOr<PutTableResult> SqliteStore::PutTable(const TableRow& row, const std::string& bytes) {
  GANTRY_RETURN_IF_ERROR(CheckTableRow(row, bytes));
  MutexLock lock(&write_mu_);
  PutTableResult out;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    auto existing = GetTableIn(db_, row.id);
    if (existing.ok()) {
      out.row = std::move(existing).value();
      out.inserted = false;
      return Status::Ok();
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    int64_t index = 1;
    {
      Stmt st(db_, "SELECT COALESCE(MAX(idx), 0) + 1 FROM tables");
      if (st.Step() != SQLITE_ROW) return SqlError(db_, "numbering table " + row.id);
      index = st.ColInt(0);
    }
    Stmt st(db_,
            "INSERT INTO tables (id, idx, name, size_bytes, schema, create_ns, bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)");
    st.Text(1, row.id).Int(2, index).Text(3, row.name).Int(4, row.size_bytes);
    st.Blob(5, row.schema.SerializeAsString()).Int(6, row.create_ns).BlobNoCopy(7, bytes);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing table " + row.id);
    out.row = row;
    out.row.index = index;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<TableRow> SqliteStore::GetTable(const std::string& id) const {
  Reader reader(*this);
  return GetTableIn(reader.db(), id);
}

StatusOr<std::string> SqliteStore::ReadTableBytes(const std::string& id) const {
  std::string bytes;
  {
    Reader reader(*this);
    Stmt st(reader.db(), "SELECT bytes FROM tables WHERE id = ?");
    st.Text(1, id);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return TableNotFound(id);
    if (rc != SQLITE_ROW) return SqlError(reader.db(), "reading the bytes of table " + id);
    bytes = st.ColBlob(0);
  }
  GANTRY_RETURN_IF_ERROR(CheckTableBytes(id, bytes));
  return bytes;
}

StatusOr<std::vector<TableRow>> SqliteStore::ListTables(const TableListQuery& q) const {
  Reader reader(*this);
  Stmt st(reader.db(), std::string("SELECT ") + kTableColumns +
                           " FROM tables WHERE idx < ? ORDER BY idx DESC LIMIT ?");
  st.Int(1, q.before_index > 0 ? q.before_index : INT64_MAX).Int(2, q.limit);
  std::vector<TableRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    auto row = ReadTableRow(st);
    if (!row.ok()) return row.status();
    out.push_back(std::move(row).value());
  }
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "listing tables");
  return out;
}

Status SqliteStore::DeleteTable(const std::string& id) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    {
      Stmt st(db_, "SELECT 1 FROM tables WHERE id = ?");
      st.Text(1, id);
      const int rc = st.Step();
      if (rc == SQLITE_DONE) return TableNotFound(id);
      if (rc != SQLITE_ROW) return SqlError(db_, "reading table " + id);
    }
    {
      Stmt st(db_,
              "SELECT id, state FROM jobs WHERE table_id = ? AND state IN (1, 2)"
              " ORDER BY idx LIMIT 1");
      st.Text(1, id);
      const int rc = st.Step();
      if (rc == SQLITE_ROW) {
        return TableInUse(id, st.ColText(0), static_cast<v1::JobState>(st.ColInt(1)));
      }
      if (rc != SQLITE_DONE) return SqlError(db_, "finding the jobs of table " + id);
    }
    Stmt st(db_, "DELETE FROM tables WHERE id = ?");
    st.Text(1, id);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "deleting table " + id);
    return Status::Ok();
  });
}

Status SqliteStore::PutSession(const SessionRow& row) {
  GANTRY_RETURN_IF_ERROR(CheckSessionRow(row));
  MutexLock lock(&write_mu_);
  Stmt st(db_, "INSERT INTO sessions (id_hash, create_ns, expires_ns, principal) VALUES (?, ?, ?, ?)");
  st.Text(1, row.id_hash).Int(2, row.create_ns).Int(3, row.expires_ns).Text(4, row.principal);
  if (st.Step() != SQLITE_DONE) {
    Status s = SqlError(db_, "storing a session");
    if (s.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("session: this id is stored already");
    }
    return s;
  }
  return Status::Ok();
}

StatusOr<SessionRow> SqliteStore::GetSession(const std::string& id_hash) const {
  Reader reader(*this);
  Stmt st(reader.db(), "SELECT create_ns, expires_ns, principal FROM sessions WHERE id_hash = ?");
  st.Text(1, id_hash);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return SessionNotFound();
  if (rc != SQLITE_ROW) return SqlError(reader.db(), "reading a session");
  SessionRow row;
  row.id_hash = id_hash;
  row.create_ns = st.ColInt(0);
  row.expires_ns = st.ColInt(1);
  row.principal = st.ColText(2);
  return row;
}

Status SqliteStore::DeleteSession(const std::string& id_hash) {
  MutexLock lock(&write_mu_);
  Stmt st(db_, "DELETE FROM sessions WHERE id_hash = ?");
  st.Text(1, id_hash);
  if (st.Step() != SQLITE_DONE) return SqlError(db_, "deleting a session");
  return Status::Ok();
}

StatusOr<int64_t> SqliteStore::DeleteExpiredSessions(int64_t now_ns) {
  MutexLock lock(&write_mu_);
  Stmt st(db_, "DELETE FROM sessions WHERE expires_ns <= ?");
  st.Int(1, now_ns);
  if (st.Step() != SQLITE_DONE) return SqlError(db_, "deleting expired sessions");
  return static_cast<int64_t>(sqlite3_changes(db_));
}

StatusOr<int64_t> SqliteStore::AppendAudit(const AuditRow& row, int64_t keep) {
  MutexLock lock(&write_mu_);
  int64_t seq = 0;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    Stmt st(db_,
            "INSERT INTO audit (time_ns, principal, role, action, target, allowed, code, message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    st.Int(1, row.time_ns).Text(2, row.principal).Text(3, row.role).Text(4, row.action);
    st.Text(5, row.target).Int(6, row.allowed ? 1 : 0).Text(7, row.code).Text(8, row.message);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing an audit entry");
    seq = sqlite3_last_insert_rowid(db_);
    Stmt old(db_, "DELETE FROM audit WHERE seq <= ?");
    old.Int(1, seq - keep);
    if (old.Step() != SQLITE_DONE) return SqlError(db_, "deleting old audit entries");
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return seq;
}

StatusOr<std::vector<AuditRow>> SqliteStore::ListAudit(const AuditQuery& q) const {
  Reader reader(*this);
  std::string sql =
      "SELECT seq, time_ns, principal, role, action, target, allowed, code, message FROM audit"
      " WHERE seq < ?";
  if (!q.principal.empty()) sql += " AND principal = ?";
  if (!q.target.empty()) sql += " AND target = ? AND target != ''";  // the partial index
  sql += " ORDER BY seq DESC LIMIT ?";
  Stmt st(reader.db(), sql);
  int i = 1;
  st.Int(i++, q.before_seq > 0 ? q.before_seq : INT64_MAX);
  if (!q.principal.empty()) st.Text(i++, q.principal);
  if (!q.target.empty()) st.Text(i++, q.target);
  st.Int(i++, q.limit);
  std::vector<AuditRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    AuditRow& r = out.emplace_back();
    r.seq = st.ColInt(0);
    r.time_ns = st.ColInt(1);
    r.principal = st.ColText(2);
    r.role = st.ColText(3);
    r.action = st.ColText(4);
    r.target = st.ColText(5);
    r.allowed = st.ColInt(6) != 0;
    r.code = st.ColText(7);
    r.message = st.ColText(8);
  }
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "reading the audit log");
  return out;
}

// --- webhooks ---

namespace {

constexpr char kWebhookColumns[] =
    "id, idx, principal, url, secret, events, job_id, label_selector, owner, create_ns";

WebhookRow ReadWebhook(Stmt& st) {
  WebhookRow w;
  w.id = st.ColText(0);
  w.index = st.ColInt(1);
  w.principal = st.ColText(2);
  w.url = st.ColText(3);
  w.secret = st.ColText(4);
  w.events = static_cast<uint32_t>(st.ColInt(5));
  w.job_id = st.ColText(6);
  w.label_selector = st.ColText(7);
  w.owner = st.ColText(8);
  w.create_ns = st.ColInt(9);
  return w;
}

constexpr char kDeliveryColumns[] =
    "seq, webhook_id, key, type, job_id, event_seq, payload, state, attempts, last_status,"
    " last_error, create_ns, last_attempt_ns, next_attempt_ns";

// The same, qualified (a query that joins webhooks).
constexpr char kDeliveryColumnsOfD[] =
    "d.seq, d.webhook_id, d.key, d.type, d.job_id, d.event_seq, d.payload, d.state, d.attempts,"
    " d.last_status, d.last_error, d.create_ns, d.last_attempt_ns, d.next_attempt_ns";

DeliveryRow ReadDelivery(Stmt& st) {
  DeliveryRow d;
  d.seq = st.ColInt(0);
  d.webhook_id = st.ColText(1);
  d.key = st.ColText(2);
  d.type = static_cast<int>(st.ColInt(3));
  d.job_id = st.ColText(4);
  d.event_seq = st.ColInt(5);
  d.payload = st.ColText(6);
  d.state = static_cast<int>(st.ColInt(7));
  d.attempts = static_cast<int>(st.ColInt(8));
  d.last_status = static_cast<int>(st.ColInt(9));
  d.last_error = st.ColText(10);
  d.create_ns = st.ColInt(11);
  d.last_attempt_ns = st.ColInt(12);
  d.next_attempt_ns = st.ColInt(13);
  return d;
}

// Deletes the webhook's ended deliveries beyond the newest kKeepEndedDeliveries.
Status TrimDeliveries(sqlite3* db, const std::string& webhook_id) {
  Stmt trim(db,
            "DELETE FROM deliveries WHERE webhook_id = ?1 AND state != 1 AND seq <="
            " (SELECT seq FROM deliveries WHERE webhook_id = ?1 AND state != 1"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?2)");
  trim.Text(1, webhook_id).Int(2, kKeepEndedDeliveries);
  if (trim.Step() != SQLITE_DONE) return SqlError(db, "trimming the delivery log");
  return Status::Ok();
}

}  // namespace

Status SqliteStore::StoreDeliveries(const JobRow& r, const v1::JobEvent& event) {
  if (!MayNotifyWebhooks(event)) return Status::Ok();
  std::vector<WebhookRow> hooks;
  {
    Stmt st(db_, std::string("SELECT ") + kWebhookColumns + " FROM webhooks ORDER BY idx");
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) hooks.push_back(ReadWebhook(st));
    if (rc != SQLITE_DONE) return SqlError(db_, "reading webhooks");
  }
  if (hooks.empty()) return Status::Ok();
  // The payload names the job as stored: its name, creator and labels.
  JobRow row = r;
  {
    Stmt st(db_, "SELECT name, created_by FROM jobs WHERE id = ?");
    st.Text(1, r.id);
    if (st.Step() != SQLITE_ROW) return SqlError(db_, "reading job " + r.id);
    row.name = st.ColText(0);
    row.created_by = st.ColText(1);
  }
  row.labels.clear();
  GANTRY_RETURN_IF_ERROR(ReadLabels(db_, &row, 1));
  for (DeliveryRow& d : WebhookDeliveries(hooks, row, event, NowNs())) {
    Stmt count(db_, "SELECT COUNT(*) FROM deliveries WHERE webhook_id = ? AND state = 1");
    count.Text(1, d.webhook_id);
    if (count.Step() != SQLITE_ROW) return SqlError(db_, "counting deliveries");
    if (count.ColInt(0) >= kMaxPendingDeliveries) MarkBacklogFull(&d);
    Stmt st(db_,
            "INSERT INTO deliveries (webhook_id, key, type, job_id, event_seq, payload, state,"
            " last_error, create_ns, next_attempt_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Text(1, d.webhook_id).Text(2, d.key).Int(3, d.type).Text(4, d.job_id).Int(5, d.event_seq);
    st.Text(6, d.payload).Int(7, d.state).Text(8, d.last_error).Int(9, d.create_ns);
    st.Int(10, d.next_attempt_ns);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing a webhook delivery");
    if (d.state != v1::DELIVERY_STATE_PENDING) GANTRY_RETURN_IF_ERROR(TrimDeliveries(db_, d.webhook_id));
  }
  return Status::Ok();
}

Status SqliteStore::PutWebhook(const WebhookRow& row) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    Stmt count(db_, "SELECT COUNT(*), (SELECT COALESCE(MAX(idx), 0) FROM webhooks) FROM webhooks"
                    " WHERE principal = ?");
    count.Text(1, row.principal);
    if (count.Step() != SQLITE_ROW) return SqlError(db_, "counting webhooks");
    GANTRY_RETURN_IF_ERROR(CheckWebhookCount(row.principal, count.ColInt(0)));
    Stmt st(db_, std::string("INSERT INTO webhooks (") + kWebhookColumns +
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Text(1, row.id).Int(2, count.ColInt(1) + 1).Text(3, row.principal).Text(4, row.url);
    st.Text(5, row.secret).Int(6, row.events).Text(7, row.job_id).Text(8, row.label_selector);
    st.Text(9, row.owner).Int(10, row.create_ns);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing webhook " + row.id);
    return Status::Ok();
  });
}

StatusOr<WebhookRow> SqliteStore::GetWebhook(const std::string& id) const {
  Reader reader(*this);
  Stmt st(reader.db(), std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE id = ?");
  st.Text(1, id);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return WebhookNotFound(id);
  if (rc != SQLITE_ROW) return SqlError(reader.db(), "reading webhook " + id);
  return ReadWebhook(st);
}

StatusOr<std::vector<WebhookRow>> SqliteStore::ListWebhooks(const std::string& principal) const {
  Reader reader(*this);
  std::string sql = std::string("SELECT ") + kWebhookColumns +
                    ", (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = webhooks.id"
                    " AND d.state = 1) FROM webhooks";
  if (!principal.empty()) sql += " WHERE principal = ?";
  sql += " ORDER BY idx";
  Stmt st(reader.db(), sql);
  if (!principal.empty()) st.Text(1, principal);
  std::vector<WebhookRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    out.push_back(ReadWebhook(st));
    out.back().pending = st.ColInt(10);
  }
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "listing webhooks");
  return out;
}

Status SqliteStore::DeleteWebhook(const std::string& id) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    Stmt st(db_, "DELETE FROM webhooks WHERE id = ?");
    st.Text(1, id);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "deleting webhook " + id);
    if (sqlite3_changes(db_) == 0) return WebhookNotFound(id);
    Stmt d(db_, "DELETE FROM deliveries WHERE webhook_id = ?");
    d.Text(1, id);
    if (d.Step() != SQLITE_DONE) return SqlError(db_, "deleting the deliveries of " + id);
    return Status::Ok();
  });
}

StatusOr<std::vector<DeliveryRow>> SqliteStore::ListDeliveries(const std::string& webhook_id,
                                                               int64_t before_seq,
                                                               int limit) const {
  Reader reader(*this);
  Stmt st(reader.db(), std::string("SELECT ") + kDeliveryColumns +
                           " FROM deliveries WHERE webhook_id = ? AND seq < ?"
                           " ORDER BY seq DESC LIMIT ?");
  st.Text(1, webhook_id).Int(2, before_seq > 0 ? before_seq : INT64_MAX).Int(3, limit);
  std::vector<DeliveryRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadDelivery(st));
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "reading deliveries of " + webhook_id);
  return out;
}

StatusOr<std::vector<DeliveryRow>> SqliteStore::ClaimDeliveries(
    int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) {
  MutexLock lock(&write_mu_);
  std::vector<DeliveryRow> out;
  const int64_t now = NowNs();
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    out.clear();
    std::string skip;
    for (size_t i = 0; i < skip_webhooks.size(); ++i) {
      skip += (i == 0 ? " AND d.webhook_id NOT IN (?" : ", ?") + std::to_string(i + 4);
    }
    if (!skip.empty()) skip += ")";
    Stmt st(db_, std::string("SELECT ") + kDeliveryColumnsOfD +
                     ", w.url, w.secret, w.principal FROM deliveries d"
                     " JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 1"
                     " AND d.next_attempt_ns <= ?1"
                     " AND (d.lease_expires_ns <= ?1 OR d.last_attempt_ns < ?2)" + skip +
                     " ORDER BY d.next_attempt_ns, d.seq LIMIT ?3");
    st.Int(1, now).Int(2, deliveries_dead_before_ns_).Int(3, limit);
    for (size_t i = 0; i < skip_webhooks.size(); ++i) st.Text(static_cast<int>(i + 4), skip_webhooks[i]);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      DeliveryRow& d = out.emplace_back(ReadDelivery(st));
      d.url = st.ColText(14);
      d.secret = st.ColText(15);
      d.principal = st.ColText(16);
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "finding due deliveries");
    Stmt claim(db_,
               "UPDATE deliveries SET attempts = attempts + 1, last_attempt_ns = ?,"
               " lease_expires_ns = ? WHERE seq = ?");
    for (DeliveryRow& d : out) {
      claim.Reset();
      claim.Int(1, now).Int(2, now + lease_ns).Int(3, d.seq);
      if (claim.Step() != SQLITE_DONE) return SqlError(db_, "claiming a delivery");
      d.attempts += 1;
      d.last_attempt_ns = now;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<int> SqliteStore::FinishDelivery(const DeliveryOutcome& o) {
  MutexLock lock(&write_mu_);
  int state = v1::DELIVERY_STATE_UNSPECIFIED;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    state = v1::DELIVERY_STATE_UNSPECIFIED;
    Stmt st(db_, "SELECT webhook_id, attempts, state, create_ns FROM deliveries WHERE seq = ?");
    st.Int(1, o.seq);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return Status::Ok();  // its webhook was deleted
    if (rc != SQLITE_ROW) return SqlError(db_, "reading a delivery");
    if (st.ColInt(1) != o.attempts || st.ColInt(2) != v1::DELIVERY_STATE_PENDING) {
      return Status::Ok();  // claimed again since
    }
    const std::string webhook_id = st.ColText(0);
    const DeliveryRow next = NextDeliveryState(o, st.ColInt(3), NowNs());
    Stmt up(db_,
            "UPDATE deliveries SET state = ?, last_status = ?, last_error = ?,"
            " next_attempt_ns = ?, lease_expires_ns = 0 WHERE seq = ?");
    up.Int(1, next.state).Int(2, next.last_status).Text(3, next.last_error);
    up.Int(4, next.next_attempt_ns).Int(5, o.seq);
    if (up.Step() != SQLITE_DONE) return SqlError(db_, "recording a delivery");
    state = next.state;
    if (next.state == v1::DELIVERY_STATE_PENDING) return Status::Ok();
    return TrimDeliveries(db_, webhook_id);
  });
  if (!s.ok()) return s;
  return state;
}

// --- studies ---

namespace {

constexpr char kStudyColumns[] = "id, idx, state, owner, lease, holder, lease_expires_ns, body";

// The row at the statement's current result (columns as kStudyColumns);
// DATA_LOSS when the body is unreadable or disagrees with the columns.
StatusOr<StudyRow> ReadStudy(Stmt& st) {
  StudyRow r;
  const std::string id = st.ColText(0);
  if (!r.study.ParseFromString(st.ColBlob(7)) || r.study.id() != id ||
      r.study.state() != st.ColInt(2)) {
    return Status::DataLoss("study " + id + ": its stored row is unreadable");
  }
  r.index = st.ColInt(1);
  r.lease = st.ColInt(4);
  r.holder = st.ColText(5);
  r.lease_expires_ns = st.ColInt(6);
  return r;
}

StatusOr<StudyRow> GetStudyIn(sqlite3* db, const std::string& id) {
  Stmt st(db, std::string("SELECT ") + kStudyColumns + " FROM studies WHERE id = ?");
  st.Text(1, id);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return StudyNotFound(id);
  if (rc != SQLITE_ROW) return SqlError(db, "reading study " + id);
  return ReadStudy(st);
}

// Stores row.study's state and body (the columns and the body agree).
Status WriteStudy(sqlite3* db, const StudyRow& row, const char* also = "") {
  Stmt st(db, std::string("UPDATE studies SET state = ?, body = ?") + also + " WHERE id = ?");
  st.Int(1, row.study.state()).Blob(2, StudyBody(row.study)).Text(3, row.study.id());
  if (st.Step() != SQLITE_DONE) return SqlError(db, "updating study " + row.study.id());
  return Status::Ok();
}

}  // namespace

StatusOr<StudyRow> SqliteStore::InsertStudy(const StudyRow& row) {
  MutexLock lock(&write_mu_);
  const std::string& id = row.study.id();
  StudyRow out;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    auto existing = GetStudyIn(db_, id);
    if (existing.ok()) return Status::AlreadyExists("study " + id + " exists");
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    // In the write transaction: the count is the insert's.
    Stmt count(db_, "SELECT COALESCE(SUM(state = 2), 0), COALESCE(MAX(idx), 0) FROM studies");
    if (count.Step() != SQLITE_ROW) return SqlError(db_, "counting studies");
    if (count.ColInt(0) >= kMaxRunningStudies) return TooManyStudies(count.ColInt(0));
    out = StudyRow();
    out.study = row.study;
    out.study.clear_trials();
    out.study.set_state(v1::JOB_STATE_RUNNING);
    out.index = count.ColInt(1) + 1;
    Stmt st(db_, "INSERT INTO studies (id, idx, state, owner, body) VALUES (?, ?, ?, ?, ?)");
    st.Text(1, id).Int(2, out.index).Int(3, out.study.state()).Text(4, out.study.owner());
    st.Blob(5, StudyBody(out.study));
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "storing study " + id);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<StudyRow> SqliteStore::GetStudy(const std::string& id) const {
  Reader reader(*this);
  return GetStudyIn(reader.db(), id);
}

StatusOr<std::vector<StudyRow>> SqliteStore::ListStudies(const StudyQuery& q) const {
  Reader reader(*this);
  std::string sql = std::string("SELECT ") + kStudyColumns + " FROM studies WHERE idx < ?";
  if (!q.owner.empty()) sql += " AND owner = ?";
  sql += " ORDER BY idx DESC LIMIT ?";
  Stmt st(reader.db(), sql);
  int i = 1;
  st.Int(i++, q.before_index > 0 ? q.before_index : INT64_MAX);
  if (!q.owner.empty()) st.Text(i++, q.owner);
  st.Int(i++, q.limit);
  std::vector<StudyRow> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    auto row = ReadStudy(st);
    if (!row.ok()) return row.status();
    out.push_back(std::move(row).value());
  }
  if (rc != SQLITE_DONE) return SqlError(reader.db(), "listing studies");
  return out;
}

StatusOr<std::optional<StudyRow>> SqliteStore::ClaimStudy(const std::string& holder,
                                                          int64_t lease_ns,
                                                          const std::vector<std::string>& skip) {
  MutexLock lock(&write_mu_);
  std::optional<StudyRow> out;
  const int64_t now = NowNs();
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    out.reset();
    std::string passed;
    for (size_t i = 0; i < skip.size(); ++i) {
      passed += (i == 0 ? " AND id NOT IN (?" : ", ?") + std::to_string(i + 3);
    }
    if (!passed.empty()) passed += ")";
    {
      // Expired, or claimed by the previous process; a row whose body is
      // unreadable is passed over (it must not stall the others' claims).
      Stmt st(db_, std::string("SELECT ") + kStudyColumns +
                       " FROM studies WHERE state = 2"
                       " AND (lease_expires_ns < ?1 OR claimed_ns < ?2)" +
                       passed + " ORDER BY idx");
      st.Int(1, now).Int(2, studies_dead_before_ns_);
      for (size_t i = 0; i < skip.size(); ++i) st.Text(static_cast<int>(i + 3), skip[i]);
      int rc = SQLITE_DONE;
      while (!out && (rc = st.Step()) == SQLITE_ROW) {
        auto row = ReadStudy(st);
        if (row.ok()) {
          out = std::move(row).value();
        } else {
          spdlog::error("{}; it is not claimed", row.status().message());
        }
      }
      if (!out) return rc == SQLITE_DONE ? Status::Ok() : SqlError(db_, "claiming a study");
    }
    out->lease += 1;
    out->holder = holder;
    out->lease_expires_ns = now + lease_ns;
    Stmt claim(db_,
               "UPDATE studies SET lease = ?, holder = ?, lease_expires_ns = ?, claimed_ns = ?"
               " WHERE id = ?");
    claim.Int(1, out->lease).Text(2, holder).Int(3, out->lease_expires_ns).Int(4, now);
    claim.Text(5, out->study.id());
    if (claim.Step() != SQLITE_DONE) return SqlError(db_, "claiming study " + out->study.id());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<StudyRow> SqliteStore::HeldStudy(const std::string& id, int64_t lease) {
  auto row = GetStudyIn(db_, id);
  if (!row.ok()) return row;
  GANTRY_RETURN_IF_ERROR(CheckStudyHeld(*row, lease));
  return row;
}

Status SqliteStore::RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    auto held = HeldStudy(id, lease);
    if (!held.ok()) return held.status();
    Stmt st(db_, "UPDATE studies SET lease_expires_ns = ? WHERE id = ?");
    st.Int(1, NowNs() + lease_ns).Text(2, id);
    if (st.Step() != SQLITE_DONE) return SqlError(db_, "renewing the lease of study " + id);
    return Status::Ok();
  });
}

Status SqliteStore::UpdateStudy(const StudyRow& row) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    auto held = HeldStudy(row.study.id(), row.lease);
    if (!held.ok()) return held.status();
    v1::Study& study = held->study;
    ApplyStudyUpdate(row.study, &study);
    return WriteStudy(db_, *held);
  });
}

StatusOr<StudyRow> SqliteStore::EndStudy(const std::string& id, v1::JobState state,
                                         const std::string& error, int64_t end_ns) {
  MutexLock lock(&write_mu_);
  StudyRow out;
  Status s = Transaction([&]() REQUIRES(write_mu_) -> Status {
    auto row = GetStudyIn(db_, id);
    if (!row.ok()) return row.status();
    if (IsTerminalState(row->study.state())) return StudyEnded(id, row->study.state());
    out = std::move(row).value();
    EndStudyRow(state, error, end_ns, &out);
    return WriteStudy(db_, out, ", lease = lease + 1");
  });
  if (!s.ok()) return s;
  return out;
}

Status SqliteStore::DeleteStudy(const std::string& id) {
  MutexLock lock(&write_mu_);
  return Transaction([&]() REQUIRES(write_mu_) -> Status {
    Stmt st(db_, "SELECT state FROM studies WHERE id = ?");
    st.Text(1, id);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return StudyNotFound(id);
    if (rc != SQLITE_ROW) return SqlError(db_, "reading study " + id);
    const auto state = static_cast<v1::JobState>(st.ColInt(0));
    if (!IsTerminalState(state)) return StudyNotEnded(id, state);
    Stmt del(db_, "DELETE FROM studies WHERE id = ?");
    del.Text(1, id);
    if (del.Step() != SQLITE_DONE) return SqlError(db_, "deleting study " + id);
    return Status::Ok();
  });
}

}  // namespace gantry
