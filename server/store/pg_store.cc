#include "server/store/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <algorithm>
#include <cstring>
#include <set>

#include "server/jobs/convert.h"
#include "server/util/clock.h"
#include "server/util/sha256.h"

namespace gantry {
namespace {

// Type oids of the binary parameters (pg_type.h).
constexpr Oid kInt8 = 20, kText = 25, kBytea = 17;

// A transaction the database refuses with a serialization failure or a
// deadlock is run again, at most this many times in all.
constexpr int kTransactionAttempts = 3;
// The notification listener: how long it waits before reconnecting, how
// often it looks at stop_ while it waits, and how long one poll of its
// socket lasts (so Stop() is seen within it).
constexpr auto kListenReconnectAfter = std::chrono::seconds(1);
constexpr auto kListenStopCheckEvery = std::chrono::milliseconds(100);
constexpr int kListenPollMs = 200;
// Nanoseconds on the database's clock.
constexpr char kNowNs[] = "(extract(epoch from clock_timestamp()) * 1000000000)::bigint";

// Migrations, in order: migration i brings the schema from version i to i+1.
const char* const kMigrations[] = {
    // 0 -> 1: everything.
    "CREATE TABLE jobs ("
    "  id text PRIMARY KEY,"
    "  idx bigint NOT NULL UNIQUE,"
    "  name text NOT NULL,"
    "  request_id text NOT NULL DEFAULT '',"
    "  request_fingerprint bytea NOT NULL,"
    "  spec bytea NOT NULL,"
    "  points bytea,"
    "  dataset_rows bigint NOT NULL DEFAULT 0,"
    "  memory_bytes bigint NOT NULL DEFAULT 0,"
    "  state bigint NOT NULL,"
    "  error text NOT NULL DEFAULT '',"
    "  create_ns bigint NOT NULL,"
    "  start_ns bigint NOT NULL DEFAULT 0,"
    "  end_ns bigint NOT NULL DEFAULT 0,"
    "  epochs_done bigint NOT NULL DEFAULT 0,"
    "  latest bytea,"
    "  last_seq bigint NOT NULL DEFAULT 0,"
    "  lease bigint NOT NULL DEFAULT 0,"
    "  owner text NOT NULL DEFAULT '',"
    "  lease_expires_ns bigint NOT NULL DEFAULT 0,"
    "  cancel_requested bigint NOT NULL DEFAULT 0);"
    "CREATE SEQUENCE jobs_idx;"
    "CREATE UNIQUE INDEX jobs_request_id ON jobs(request_id) WHERE request_id <> '';"
    "CREATE INDEX jobs_state ON jobs(state, idx);"
    "CREATE INDEX jobs_ended ON jobs(end_ns) WHERE state >= 3;"
    "CREATE INDEX jobs_owner ON jobs(owner) WHERE state = 2;"
    "CREATE TABLE job_labels ("
    "  job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  key text NOT NULL,"
    "  value text NOT NULL,"
    "  PRIMARY KEY (job_id, key));"
    "CREATE INDEX job_labels_key_value ON job_labels(key, value);"
    // lease: the lease the event was written under (an audit of fencing).
    "CREATE TABLE events ("
    "  job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  seq bigint NOT NULL,"
    "  lease bigint NOT NULL,"
    "  event bytea NOT NULL,"
    "  PRIMARY KEY (job_id, seq));"
    "CREATE TABLE blobs ("
    "  job_id text NOT NULL,"
    "  kind bigint NOT NULL,"
    "  epoch bigint NOT NULL,"
    "  sha256 bytea NOT NULL,"
    "  bytes bytea NOT NULL,"
    "  PRIMARY KEY (job_id, kind, epoch));",
    // 1 -> 2: uploaded tables, and the table a job uses (no job before
    // version 2 used one).
    "CREATE TABLE tables ("
    "  id text PRIMARY KEY,"
    "  idx bigint NOT NULL UNIQUE,"
    "  name text NOT NULL,"
    "  size_bytes bigint NOT NULL,"
    "  schema bytea NOT NULL,"
    "  create_ns bigint NOT NULL,"
    "  bytes bytea NOT NULL);"
    "CREATE SEQUENCE tables_idx;"
    "ALTER TABLE jobs ADD COLUMN table_id text NOT NULL DEFAULT '';"
    "CREATE INDEX jobs_table_id ON jobs(table_id, state) WHERE table_id <> '';",
    // 2 -> 3: dashboard login sessions, by the hash of their id
    // (server/api/sessions.h); the index finds the expired ones.
    "CREATE TABLE sessions ("
    "  id_hash text PRIMARY KEY,"
    "  create_ns bigint NOT NULL,"
    "  expires_ns bigint NOT NULL);"
    "CREATE INDEX sessions_expires ON sessions(expires_ns);",
    // 3 -> 4: principals (server/api/principals.h): who created each job and
    // whose each session is, and the audit log of state-changing calls.
    "ALTER TABLE jobs ADD COLUMN created_by text NOT NULL DEFAULT '';"
    "CREATE INDEX jobs_created_by ON jobs(created_by, idx) WHERE created_by <> '';"
    "ALTER TABLE sessions ADD COLUMN principal text NOT NULL DEFAULT '';"
    "CREATE TABLE audit ("
    "  seq bigserial PRIMARY KEY,"
    "  time_ns bigint NOT NULL,"
    "  principal text NOT NULL,"
    "  role text NOT NULL,"
    "  action text NOT NULL,"
    "  target text NOT NULL,"
    "  allowed boolean NOT NULL,"
    "  code text NOT NULL,"
    "  message text NOT NULL);"
    "CREATE INDEX audit_principal ON audit(principal, seq);"
    "CREATE INDEX audit_target ON audit(target, seq) WHERE target <> '';",
    // 4 -> 5: priorities (v1::Priority; NORMAL for the jobs before) and
    // when a job last entered QUEUED, for aging.
    "ALTER TABLE jobs ADD COLUMN priority bigint NOT NULL DEFAULT 2;"
    "ALTER TABLE jobs ADD COLUMN queued_ns bigint NOT NULL DEFAULT 0;"
    "UPDATE jobs SET queued_ns = create_ns;",
    // 5 -> 6: webhooks and their deliveries (the outbox and the delivery
    // log, server/webhooks/README.md).
    "CREATE TABLE webhooks ("
    "  id text PRIMARY KEY,"
    "  idx bigserial UNIQUE,"
    "  principal text NOT NULL,"
    "  url text NOT NULL,"
    "  secret text NOT NULL,"
    "  events bigint NOT NULL,"
    "  job_id text NOT NULL,"
    "  label_selector text NOT NULL,"
    "  owner text NOT NULL,"
    "  create_ns bigint NOT NULL);"
    "CREATE INDEX webhooks_principal ON webhooks(principal, idx);"
    "CREATE TABLE deliveries ("
    "  seq bigserial PRIMARY KEY,"
    "  webhook_id text NOT NULL,"
    "  key text NOT NULL,"
    "  type bigint NOT NULL,"
    "  job_id text NOT NULL,"
    "  event_seq bigint NOT NULL,"
    "  payload text NOT NULL,"
    "  state bigint NOT NULL,"
    "  attempts bigint NOT NULL DEFAULT 0,"
    "  last_status bigint NOT NULL DEFAULT 0,"
    "  last_error text NOT NULL DEFAULT '',"
    "  create_ns bigint NOT NULL,"
    "  last_attempt_ns bigint NOT NULL DEFAULT 0,"
    "  next_attempt_ns bigint NOT NULL,"
    "  lease_expires_ns bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX deliveries_due ON deliveries(next_attempt_ns, seq) WHERE state = 1;"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, state, seq);",
    // 6 -> 7: studies (server/studies/README.md): the API form without
    // trials (body), its id, state and owner also in columns (for the claim
    // and ListStudies' filter), and the lease of the replica that takes its
    // decisions.
    "CREATE TABLE studies ("
    "  id text PRIMARY KEY,"
    "  idx bigint NOT NULL UNIQUE,"
    "  state bigint NOT NULL,"
    "  owner text NOT NULL,"
    "  lease bigint NOT NULL DEFAULT 0,"
    "  holder text NOT NULL DEFAULT '',"
    "  lease_expires_ns bigint NOT NULL DEFAULT 0,"
    "  claimed_ns bigint NOT NULL DEFAULT 0,"
    "  body bytea NOT NULL);"
    "CREATE SEQUENCE studies_idx;"
    "CREATE INDEX studies_state ON studies(state, idx);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kPgSchemaVersion);

constexpr char kColumns[] =
    "id, idx, name, request_id, request_fingerprint, spec, dataset_rows, memory_bytes, state,"
    " error, create_ns, start_ns, end_ns, epochs_done, latest, last_seq, lease, owner,"
    " lease_expires_ns, cancel_requested, created_by, priority, queued_ns";
constexpr int kPointsColumn = 23;  // after kColumns, when asked for
// The advisory lock that quota-checked inserts and claims under running
// limits take in turn (pg_advisory_xact_lock; "gantry-q" in ASCII).
constexpr int64_t kQuotaLock = 0x67616e7472792d71;
// The advisory lock that InsertStudy takes, so that replicas count the
// RUNNING studies and insert one in turn ("gantry-s").
constexpr int64_t kStudyLock = 0x67616e7472792d73;

// Binary parameters of one statement.
class Params {
 public:
  Params& Int(int64_t v) {
    std::string b(8, '\0');
    const uint64_t u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(u >> (56 - 8 * i));
    return Add(kInt8, std::move(b));
  }
  Params& Text(const std::string& s) { return Add(kText, s); }
  Params& Bytes(const std::string& s) { return Add(kBytea, s); }
  // `s` is not copied: it must outlive the statement (a table's bytes).
  Params& BytesNoCopy(const std::string& s) {
    Add(kBytea, "");
    refs_.back() = &s;
    return *this;
  }
  Params& NullBytes() {
    values_.emplace_back();
    refs_.push_back(nullptr);
    types_.push_back(kBytea);
    null_.push_back(true);
    return *this;
  }
  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into the values; valid while this object is unchanged.
  void Fill(std::vector<const char*>* ptrs, std::vector<int>* lengths,
            std::vector<int>* formats) const {
    for (size_t i = 0; i < values_.size(); ++i) {
      const std::string& v = refs_[i] != nullptr ? *refs_[i] : values_[i];
      ptrs->push_back(null_[i] ? nullptr : v.data());
      lengths->push_back(static_cast<int>(v.size()));
      formats->push_back(1);
    }
  }

 private:
  Params& Add(Oid type, std::string value) {
    values_.push_back(std::move(value));
    refs_.push_back(nullptr);
    types_.push_back(type);
    null_.push_back(false);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<const std::string*> refs_;  // non-null: the value, not copied
  std::vector<Oid> types_;
  std::vector<bool> null_;
};

// A result in binary format, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r = nullptr) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  const PGresult* raw() const { return r_; }
  int rows() const { return PQntuples(r_); }
  int64_t affected() const {
    const char* n = PQcmdTuples(r_);
    return n && *n ? std::atoll(n) : 0;
  }
  bool Null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Str(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t Int(int row, int col) const {
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
    const int n = PQgetlength(r_, row, col);
    uint64_t u = 0;
    for (int i = 0; i < n; ++i) u = (u << 8) | p[i];
    if (n == 4) return static_cast<int32_t>(u);
    return static_cast<int64_t>(u);
  }

 private:
  PGresult* r_;
};

bool IsConnectionError(const char* sqlstate) {
  if (sqlstate == nullptr) return true;  // no server answer: the connection failed
  return std::strncmp(sqlstate, "08", 2) == 0 || std::strcmp(sqlstate, "57P01") == 0 ||
         std::strcmp(sqlstate, "57P02") == 0 || std::strcmp(sqlstate, "57P03") == 0;
}

}  // namespace

namespace {

// Maps a failed statement (r, or the connection's error when r is null) to
// a Status; sets *retry for failures a retried transaction may not meet.
Status PgError(PGconn* pg, const PGresult* r, const std::string& what, const std::string& server,
               bool* retry) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = r ? PQresultErrorMessage(r) : "";
  if (msg.empty()) msg = PQerrorMessage(pg);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (PQstatus(pg) != CONNECTION_OK || IsConnectionError(state)) {
    return Status::Unavailable("the PostgreSQL store (" + server + ") is unreachable: " + what +
                               ": " + msg);
  }
  if (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0) *retry = true;
  if (std::strcmp(state, "23505") == 0) return Status::AlreadyExists(what + ": " + msg);
  if (std::strcmp(state, "55P03") == 0 || std::strcmp(state, "25P03") == 0) {  // lock / idle timeout
    return Status::Unavailable("the PostgreSQL store (" + server + "): " + what + ": " + msg);
  }
  if (std::strcmp(state, "53100") == 0) {
    return Status::ResourceExhausted("disk full: " + what + ": " + msg);
  }
  // Insufficient resources, or the server going down: try again later.
  if (std::strncmp(state, "53", 2) == 0 || std::strncmp(state, "57", 2) == 0) {
    return Status::Unavailable("the PostgreSQL store (" + server + "): " + what + ": " + msg);
  }
  return Status::Internal(what + ": " + msg);
}

std::string TrimMessage(const char* m) {
  std::string s = m ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// One connection, used by one call at a time: only through a Lease, which
// holds mu for its whole life (the analysis cannot name a lock picked at
// run time, so the members are not annotated; mu guards all of them).
class PgStore::Conn {
 public:
  Conn(std::string uri, std::string server) : uri_(std::move(uri)), server_(std::move(server)) {}
  ~Conn() {
    if (pg_ != nullptr) PQfinish(pg_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Mutex mu;

  // Connected, or UNAVAILABLE naming why not.
  Status Ensure() {
    if (pg_ != nullptr && PQstatus(pg_) == CONNECTION_OK) return Status::Ok();
    if (pg_ != nullptr) PQfinish(pg_);
    pg_ = Connect(uri_);
    if (PQstatus(pg_) != CONNECTION_OK) {
      const std::string why = TrimMessage(PQerrorMessage(pg_));
      PQfinish(pg_);
      pg_ = nullptr;
      return Status::Unavailable("the PostgreSQL store (" + server_ + ") is unreachable: " + why);
    }
    // A client that stalls inside a transaction (SIGSTOP, a dead host)
    // must not hold a job's row lock past a lease: its session ends; and a
    // lock wait fails (UNAVAILABLE, retried) instead of hanging a call.
    Result quiet(PQexec(pg_,
                        "SET client_min_messages = warning;"
                        " SET idle_in_transaction_session_timeout = '5s'; SET lock_timeout = '5s'"));
    return Status::Ok();
  }

  static PGconn* Connect(const std::string& uri) {
    // The URI's own settings win over these defaults (later keywords
    // override earlier ones).
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "gantryd", uri.c_str(), nullptr};
    return PQconnectdbParams(keys, values, 1);
  }

  // Runs one statement with binary parameters and results.
  StatusOr<Result> Exec(const std::string& what, const char* sql, const Params& p = Params()) {
    std::vector<const char*> ptrs;
    std::vector<int> lengths, formats;
    p.Fill(&ptrs, &lengths, &formats);
    Result r(PQexecParams(pg_, sql, p.size(), p.types(), ptrs.data(), lengths.data(),
                          formats.data(), 1));
    const ExecStatusType st = PQresultStatus(r.raw());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    return PgError(pg_, r.raw(), what, server_, &retry_);
  }

  // Runs statements without parameters (text protocol: several at once).
  Status Script(const std::string& what, const char* sql) {
    Result r(PQexec(pg_, sql));
    const ExecStatusType st = PQresultStatus(r.raw());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::Ok();
    return PgError(pg_, r.raw(), what, server_, &retry_);
  }

  // Runs `body` in a transaction: committed when it returns OK, rolled back
  // otherwise; run again (kTransactionAttempts in all) when the database
  // asks for it (serialization failure, deadlock).
  template <typename Fn>
  Status Transaction(const std::string& what, Fn&& body) {
    Status s;
    for (int attempt = 0; attempt < kTransactionAttempts; ++attempt) {
      retry_ = false;
      // READ COMMITTED whatever the database's default: every statement sees
      // what committed before it (the quotas' lock-then-count needs it).
      s = Script(what, "BEGIN ISOLATION LEVEL READ COMMITTED");
      if (!s.ok()) return s;
      s = body();
      if (s.ok()) s = Script(what, "COMMIT");
      if (s.ok()) return s;
      if (PQstatus(pg_) == CONNECTION_OK) Result rollback(PQexec(pg_, "ROLLBACK"));
      if (!retry_) return s;
    }
    return s;
  }

  PGconn* pg() { return pg_; }

 private:
  const std::string uri_;
  const std::string server_;
  PGconn* pg_ = nullptr;
  bool retry_ = false;
};

// A connection held for one call.
class PgStore::Lease {
 public:
  explicit Lease(const PgStore& store) NO_THREAD_SAFETY_ANALYSIS {
    const size_t n = store.conns_.size();
    const unsigned start = store.next_conn_++;
    for (size_t i = 0; i < n && conn_ == nullptr; ++i) {
      Conn* c = store.conns_[(start + i) % n].get();
      if (c->mu.TryLock()) conn_ = c;
    }
    if (conn_ == nullptr) {
      conn_ = store.conns_[start % n].get();
      conn_->mu.Lock();
    }
    status_ = conn_->Ensure();
  }
  ~Lease() NO_THREAD_SAFETY_ANALYSIS { conn_->mu.Unlock(); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  const Status& status() const { return status_; }
  Conn* operator->() { return conn_; }
  Conn& conn() { return *conn_; }

 private:
  Conn* conn_ = nullptr;
  Status status_;
};

namespace {

// The row at `i` (columns as kColumns, then the points when `points`).
StatusOr<JobRow> ReadRow(const Result& r, int i, bool points) {
  JobRow row;
  row.id = r.Str(i, 0);
  row.index = r.Int(i, 1);
  row.name = r.Str(i, 2);
  row.request_id = r.Str(i, 3);
  row.request_fingerprint = r.Str(i, 4);
  if (!row.spec.ParseFromString(r.Str(i, 5))) {
    return Status::DataLoss("job " + row.id + ": its stored spec is unreadable");
  }
  row.dataset_rows = r.Int(i, 6);
  row.memory_bytes = r.Int(i, 7);
  row.state = static_cast<v1::JobState>(r.Int(i, 8));
  row.error = r.Str(i, 9);
  row.create_ns = r.Int(i, 10);
  row.start_ns = r.Int(i, 11);
  row.end_ns = r.Int(i, 12);
  row.epochs_done = r.Int(i, 13);
  if (!r.Null(i, 14)) {
    row.latest.emplace();
    if (!row.latest->ParseFromString(r.Str(i, 14))) {
      return Status::DataLoss("job " + row.id + ": its latest report is unreadable");
    }
  }
  row.last_seq = r.Int(i, 15);
  row.lease = r.Int(i, 16);
  row.owner = r.Str(i, 17);
  row.lease_expires_ns = r.Int(i, 18);
  row.cancel_requested = r.Int(i, 19) != 0;
  row.created_by = r.Str(i, 20);
  row.priority = static_cast<int>(r.Int(i, 21));
  row.queued_ns = r.Int(i, 22);
  if (points && !r.Null(i, kPointsColumn)) {
    if (!row.spec.mutable_dataset()->mutable_points()->ParseFromString(r.Str(i, kPointsColumn))) {
      return Status::DataLoss("job " + row.id + ": its stored points are unreadable");
    }
  }
  return row;
}

// The rows of `r` with their labels (one more statement for all of them).
StatusOr<std::vector<JobRow>> ReadRows(PgStore::Conn& c, const Result& r, bool points) {
  std::vector<JobRow> out;
  std::map<std::string, size_t> at;
  for (int i = 0; i < r.rows(); ++i) {
    auto row = ReadRow(r, i, points);
    if (!row.ok()) return row.status();
    at[row->id] = out.size();
    out.push_back(std::move(row).value());
  }
  if (out.empty()) return out;
  std::string ids = "{";  // a text array literal of the ids, each quoted
  for (const JobRow& row : out) {
    if (ids.size() > 1) ids += ',';
    ids += '"';
    for (char ch : row.id) {
      if (ch == '"' || ch == '\\') ids += '\\';
      ids += ch;
    }
    ids += '"';
  }
  ids += "}";
  auto labels = c.Exec("reading labels",
                       "SELECT job_id, key, value FROM job_labels WHERE job_id = ANY($1::text[])",
                       Params().Text(ids));
  if (!labels.ok()) return labels.status();
  for (int i = 0; i < labels->rows(); ++i) {
    auto it = at.find(labels->Str(i, 0));
    if (it != at.end()) out[it->second].labels[labels->Str(i, 1)] = labels->Str(i, 2);
  }
  return out;
}

StatusOr<JobRow> GetRow(PgStore::Conn& c, const std::string& id, ReadPoints points,
                        bool for_update = false) {
  std::string sql = std::string("SELECT ") + kColumns +
                    (points == ReadPoints::kYes ? ", points" : "") + " FROM jobs WHERE id = $1" +
                    (for_update ? " FOR UPDATE" : "");
  auto r = c.Exec("reading job " + id, sql.c_str(), Params().Text(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("job " + id + " not found");
  auto rows = ReadRows(c, *r, points == ReadPoints::kYes);
  if (!rows.ok()) return rows.status();
  return std::move((*rows)[0]);
}

}  // namespace

StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& uri) {
  std::unique_ptr<PgStore> s(new PgStore());
  s->uri_ = uri;
  {
    PGconn* probe = Conn::Connect(uri);
    const std::string host = PQhost(probe) ? PQhost(probe) : "";
    const std::string port = PQport(probe) ? PQport(probe) : "";
    const std::string db = PQdb(probe) ? PQdb(probe) : "";
    s->describe_ = (host.empty() || host[0] == '/' ? "socket " + host : host) + ":" + port + "/" + db;
    const bool ok = PQstatus(probe) == CONNECTION_OK;
    const std::string why = TrimMessage(PQerrorMessage(probe));
    PQfinish(probe);
    if (!ok) {
      return Status::Unavailable("--store: the PostgreSQL server " + s->describe_ +
                                 " is unreachable: " + why);
    }
  }
  for (int i = 0; i < kConnections; ++i) {
    s->conns_.push_back(std::make_unique<Conn>(uri, s->describe_));
  }
  GANTRY_RETURN_IF_ERROR(s->Migrate());
  return s;
}

PgStore::~PgStore() {
  stop_ = true;
  if (listen_thread_.joinable()) listen_thread_.join();
}

std::string PgStore::Describe() const { return "PostgreSQL " + describe_; }

Status PgStore::Migrate() {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("migrating the schema", [&]() -> Status {
    // Replicas starting together: one migrates, the others wait and see it done.
    GANTRY_RETURN_IF_ERROR(c->Script("locking the schema",
                                     "SELECT pg_advisory_xact_lock(7346298136712)"));
    GANTRY_RETURN_IF_ERROR(c->Script(
        "reading the schema version",
        "CREATE TABLE IF NOT EXISTS gantry_schema (version bigint NOT NULL);"));
    auto v = c->Exec("reading the schema version", "SELECT version FROM gantry_schema");
    if (!v.ok()) return v.status();
    int64_t version = 0;
    if (v->rows() == 0) {
      auto ins = c->Exec("writing the schema version",
                         "INSERT INTO gantry_schema (version) VALUES (0)");
      if (!ins.ok()) return ins.status();
    } else {
      version = v->Int(0, 0);
    }
    if (version > kPgSchemaVersion) {
      return Status::FailedPrecondition(
          "--store: the PostgreSQL database " + describe_ + " has schema version " +
          std::to_string(version) + ", newer than this gantryd's " +
          std::to_string(kPgSchemaVersion) + "; run a newer gantryd");
    }
    for (int64_t i = version; i < kPgSchemaVersion; ++i) {
      GANTRY_RETURN_IF_ERROR(c->Script("migrating the schema", kMigrations[i]));
      spdlog::info("PostgreSQL store {}: schema migrated to version {}", describe_, i + 1);
    }
    auto set = c->Exec("writing the schema version", "UPDATE gantry_schema SET version = $1",
                       Params().Int(kPgSchemaVersion));
    return set.ok() ? Status::Ok() : set.status();
  });
}

StatusOr<InsertResult> PgStore::InsertJob(const JobRow& row, const v1::JobEvent& first,
                                          const Quota& quota) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  InsertResult out;
  const Status s = c->Transaction("storing job " + row.id, [&]() -> Status {
    const bool user = row.spec.dataset().kind() == v1::DATASET_KIND_USER;
    Params p;
    p.Text(row.id).Text(row.name).Text(row.request_id).Bytes(row.request_fingerprint);
    p.Bytes(WithoutPoints(row.spec).SerializeAsString());
    if (user) {
      p.Bytes(row.spec.dataset().points().SerializeAsString());
    } else {
      p.NullBytes();
    }
    p.Int(row.dataset_rows).Int(row.memory_bytes).Int(row.state).Text(row.error);
    const std::string& table_id = TableIdOf(row.spec);
    p.Int(row.create_ns).Int(first.seq()).Text(table_id).Text(row.created_by);
    p.Int(row.priority).Int(row.queued_ns);
    if (quota.any() && !row.created_by.empty()) {
      // Quota-checked inserts and claims under running limits take turns
      // (kQuotaLock; READ COMMITTED: the count sees the last holder's
      // commit), so no two replicas count the same free place. A retry of a
      // stored request is answered by the insert below.
      bool retry = false;
      if (!row.request_id.empty()) {
        auto known = c->Exec("looking up request_id", "SELECT 1 FROM jobs WHERE request_id = $1",
                             Params().Text(row.request_id));
        if (!known.ok()) return known.status();
        retry = known->rows() > 0;
      }
      if (!retry) {
        auto lock = c->Exec("waiting for the quota lock", "SELECT pg_advisory_xact_lock($1)",
                            Params().Int(kQuotaLock));
        if (!lock.ok()) return lock.status();
        auto use = c->Exec("counting the jobs of " + row.created_by,
                           "SELECT COUNT(*) FILTER (WHERE state = 1), COALESCE(SUM(memory_bytes), 0)"
                           " FROM jobs WHERE created_by = $1 AND state IN (1, 2)",
                           Params().Text(row.created_by));
        if (!use.ok()) return use.status();
        GANTRY_RETURN_IF_ERROR(CheckQuota(row.created_by, quota, QuotaUse{use->Int(0, 0), use->Int(0, 1)},
                                          row.memory_bytes));
      }
    }
    // A repeated request_id inserts nothing (ON CONFLICT on its unique index).
    auto ins = c->Exec(
        "storing job " + row.id,
        "INSERT INTO jobs (id, idx, name, request_id, request_fingerprint, spec, points,"
        " dataset_rows, memory_bytes, state, error, create_ns, last_seq, table_id, created_by,"
        " priority, queued_ns)"
        " VALUES ($1, nextval('jobs_idx'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
        " $15, $16)"
        " ON CONFLICT (request_id) WHERE request_id <> '' DO NOTHING RETURNING idx",
        p);
    if (!ins.ok()) return ins.status();
    if (ins->rows() == 0) {
      auto existing = c->Exec(
          "looking up request_id",
          (std::string("SELECT ") + kColumns + " FROM jobs WHERE request_id = $1").c_str(),
          Params().Text(row.request_id));
      if (!existing.ok()) return existing.status();
      if (existing->rows() == 0) {
        return Status::Unavailable("request_id " + row.request_id + " is being stored; retry");
      }
      auto rows = ReadRows(c.conn(), *existing, false);
      if (!rows.ok()) return rows.status();
      out.row = std::move((*rows)[0]);
      out.inserted = false;
      return Status::Ok();
    }
    const int64_t index = ins->Int(0, 0);
    if (!table_id.empty()) {
      // The lock is held until the commit: the table cannot be deleted
      // meanwhile. Without the table the insert is rolled back.
      auto t = c->Exec("looking up table " + table_id,
                       "SELECT 1 FROM tables WHERE id = $1 FOR SHARE", Params().Text(table_id));
      if (!t.ok()) return t.status();
      if (t->rows() == 0) return JobTableNotFound(table_id);
    }
    auto ev = c->Exec("storing the first event of " + row.id,
                      "INSERT INTO events (job_id, seq, lease, event) VALUES ($1, $2, 0, $3)",
                      Params().Text(row.id).Int(first.seq()).Bytes(first.SerializeAsString()));
    if (!ev.ok()) return ev.status();
    for (const auto& [key, value] : row.labels) {
      auto l = c->Exec("storing the labels of " + row.id,
                       "INSERT INTO job_labels (job_id, key, value) VALUES ($1, $2, $3)",
                       Params().Text(row.id).Text(key).Text(value));
      if (!l.ok()) return l.status();
    }
    auto n = c->Exec("notifying", "SELECT pg_notify('gantry_jobs', $1)", Params().Text(row.id));
    if (!n.ok()) return n.status();
    out.row = row;
    out.row.index = index;
    out.row.last_seq = first.seq();
    out.inserted = true;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::optional<JobRow>> PgStore::FindRequest(const std::string& request_id) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("looking up request_id",
                   (std::string("SELECT ") + kColumns + " FROM jobs WHERE request_id = $1").c_str(),
                   Params().Text(request_id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<JobRow>();
  auto rows = ReadRows(c.conn(), *r, false);
  if (!rows.ok()) return rows.status();
  return std::optional<JobRow>(std::move((*rows)[0]));
}

StatusOr<JobRow> PgStore::GetJob(const std::string& id, ReadPoints points) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  // One snapshot for the row and its labels.
  StatusOr<JobRow> out = Status::Internal("unreachable");
  const Status s = c->Transaction("reading job " + id, [&]() -> Status {
    out = GetRow(c.conn(), id, points);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<JobRow>> PgStore::ListJobs(const ListQuery& q) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::string sql = std::string("SELECT ") + kColumns + " FROM jobs WHERE idx < $1";
  Params p;
  p.Int(q.before_index > 0 ? q.before_index : INT64_MAX);
  int n = 2;
  if (q.state != v1::JOB_STATE_UNSPECIFIED) {
    sql += " AND state = $" + std::to_string(n++);
    p.Int(q.state);
  }
  if (!q.created_by.empty()) {
    sql += " AND created_by = $" + std::to_string(n++);
    p.Text(q.created_by);
  }
  for (const auto& [key, value] : q.labels) {
    sql += " AND id IN (SELECT job_id FROM job_labels WHERE key = $" + std::to_string(n) +
           " AND value = $" + std::to_string(n + 1) + ")";
    n += 2;
    p.Text(key).Text(value);
  }
  sql += " ORDER BY idx DESC LIMIT $" + std::to_string(n++);
  p.Int(q.limit);
  StatusOr<std::vector<JobRow>> out = Status::Internal("unreachable");
  const Status s = c->Transaction("listing jobs", [&]() -> Status {
    auto r = c->Exec("listing jobs", sql.c_str(), p);
    if (!r.ok()) return r.status();
    out = ReadRows(c.conn(), *r, false);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<JobRow>> PgStore::ActiveJobs() const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  StatusOr<std::vector<JobRow>> out = Status::Internal("unreachable");
  const Status s = c->Transaction("listing active jobs", [&]() -> Status {
    auto r = c->Exec("listing active jobs",
                     (std::string("SELECT ") + kColumns +
                      " FROM jobs WHERE state IN (1, 2) ORDER BY idx")
                         .c_str());
    if (!r.ok()) return r.status();
    out = ReadRows(c.conn(), *r, false);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<std::string>> PgStore::ExpiredJobs(int64_t ended_before_ns,
                                                        int64_t keep_newest, int limit) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  // Newest ended first; the kept ones are skipped unless too old.
  auto r = c->Exec(
      "listing ended jobs",
      "SELECT id FROM (SELECT id, end_ns, row_number() OVER (ORDER BY end_ns DESC, idx DESC) AS n"
      " FROM jobs WHERE state >= 3) e"
      " WHERE ($1 > 0 AND n > $1) OR ($2 > 0 AND end_ns < $2) ORDER BY n LIMIT $3",
      Params().Int(keep_newest).Int(ended_before_ns).Int(limit));
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Str(i, 0));
  return out;
}

StatusOr<std::map<v1::JobState, int64_t>> PgStore::CountJobs() const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("counting jobs", "SELECT state, count(*) FROM jobs GROUP BY state");
  if (!r.ok()) return r.status();
  std::map<v1::JobState, int64_t> out;
  for (int i = 0; i < r->rows(); ++i) out[static_cast<v1::JobState>(r->Int(i, 0))] = r->Int(i, 1);
  return out;
}

Status PgStore::DeleteJob(const std::string& id) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("deleting job " + id, [&]() -> Status {
    auto row = GetRow(c.conn(), id, ReadPoints::kNo, /*for_update=*/true);
    if (!row.ok()) return row.status();
    if (!IsTerminalState(row->state)) {
      return Status::FailedPrecondition("job " + id + " has not ended");
    }
    auto b = c->Exec("deleting job " + id, "DELETE FROM blobs WHERE job_id = $1", Params().Text(id));
    if (!b.ok()) return b.status();
    // Events and labels go with the row (ON DELETE CASCADE).
    auto j = c->Exec("deleting job " + id, "DELETE FROM jobs WHERE id = $1", Params().Text(id));
    return j.ok() ? Status::Ok() : j.status();
  });
}

namespace {

constexpr char kWebhookColumns[] =
    "id, idx, principal, url, secret, events, job_id, label_selector, owner, create_ns";

WebhookRow ReadWebhook(const Result& r, int i) {
  WebhookRow w;
  w.id = r.Str(i, 0);
  w.index = r.Int(i, 1);
  w.principal = r.Str(i, 2);
  w.url = r.Str(i, 3);
  w.secret = r.Str(i, 4);
  w.events = static_cast<uint32_t>(r.Int(i, 5));
  w.job_id = r.Str(i, 6);
  w.label_selector = r.Str(i, 7);
  w.owner = r.Str(i, 8);
  w.create_ns = r.Int(i, 9);
  return w;
}

constexpr char kDeliveryColumns[] =
    "seq, webhook_id, key, type, job_id, event_seq, payload, state, attempts, last_status,"
    " last_error, create_ns, last_attempt_ns, next_attempt_ns";

DeliveryRow ReadDelivery(const Result& r, int i) {
  DeliveryRow d;
  d.seq = r.Int(i, 0);
  d.webhook_id = r.Str(i, 1);
  d.key = r.Str(i, 2);
  d.type = static_cast<int>(r.Int(i, 3));
  d.job_id = r.Str(i, 4);
  d.event_seq = r.Int(i, 5);
  d.payload = r.Str(i, 6);
  d.state = static_cast<int>(r.Int(i, 7));
  d.attempts = static_cast<int>(r.Int(i, 8));
  d.last_status = static_cast<int>(r.Int(i, 9));
  d.last_error = r.Str(i, 10);
  d.create_ns = r.Int(i, 11);
  d.last_attempt_ns = r.Int(i, 12);
  d.next_attempt_ns = r.Int(i, 13);
  return d;
}

// Deletes the webhook's ended deliveries beyond the newest kKeepEndedDeliveries.
Status TrimDeliveries(PgStore::Conn& c, const std::string& webhook_id) {
  auto trim = c.Exec("trimming the delivery log",
                     "DELETE FROM deliveries WHERE webhook_id = $1 AND state <> 1 AND seq <="
                     " (SELECT seq FROM deliveries WHERE webhook_id = $1 AND state <> 1"
                     " ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                     Params().Text(webhook_id).Int(kKeepEndedDeliveries));
  return trim.ok() ? Status::Ok() : trim.status();
}

// AppendEvent's outbox: the deliveries `event` causes, stored in its
// transaction (times on the database's clock).
Status StoreDeliveries(PgStore::Conn& c, const JobRow& r, const v1::JobEvent& event) {
  if (!MayNotifyWebhooks(event)) return Status::Ok();
  auto hooks = c.Exec("reading webhooks",
                      (std::string("SELECT ") + kWebhookColumns + " FROM webhooks ORDER BY idx").c_str());
  if (!hooks.ok()) return hooks.status();
  if (hooks->rows() == 0) return Status::Ok();
  std::vector<WebhookRow> rows;
  for (int i = 0; i < hooks->rows(); ++i) rows.push_back(ReadWebhook(*hooks, i));
  // The payload names the job as stored: its name, creator and labels.
  JobRow row = r;
  auto job = c.Exec("reading job " + r.id,
                    ("SELECT name, created_by, " + std::string(kNowNs) + " FROM jobs WHERE id = $1").c_str(),
                    Params().Text(r.id));
  if (!job.ok()) return job.status();
  if (job->rows() == 0) return Status::NotFound("job " + r.id + " not found");
  row.name = job->Str(0, 0);
  row.created_by = job->Str(0, 1);
  const int64_t now = job->Int(0, 2);
  auto labels = c.Exec("reading the labels of " + r.id,
                       "SELECT key, value FROM job_labels WHERE job_id = $1", Params().Text(r.id));
  if (!labels.ok()) return labels.status();
  row.labels.clear();
  for (int i = 0; i < labels->rows(); ++i) row.labels[labels->Str(i, 0)] = labels->Str(i, 1);
  std::vector<DeliveryRow> deliveries = WebhookDeliveries(rows, row, event, now);
  if (deliveries.empty()) return Status::Ok();
  // The webhooks that get one, FOR SHARE: a DeleteWebhook waits for this
  // transaction, so its delete of the webhook's deliveries sees the ones
  // stored here; one deleted since it was read is left out.
  std::string ids = "{";
  for (const DeliveryRow& d : deliveries) ids += (ids.size() > 1 ? ",\"" : "\"") + d.webhook_id + "\"";
  ids += "}";
  auto live = c.Exec("locking webhooks",
                     "SELECT id FROM webhooks WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE",
                     Params().Text(ids));
  if (!live.ok()) return live.status();
  std::set<std::string> kept;
  for (int i = 0; i < live->rows(); ++i) kept.insert(live->Str(i, 0));
  for (DeliveryRow& d : deliveries) {
    if (kept.count(d.webhook_id) == 0) continue;
    auto count = c.Exec("counting deliveries",
                        "SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 AND state = 1",
                        Params().Text(d.webhook_id));
    if (!count.ok()) return count.status();
    if (count->Int(0, 0) >= kMaxPendingDeliveries) MarkBacklogFull(&d);
    auto in = c.Exec("storing a webhook delivery",
                     "INSERT INTO deliveries (webhook_id, key, type, job_id, event_seq, payload,"
                     " state, last_error, create_ns, next_attempt_ns)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                     Params()
                         .Text(d.webhook_id)
                         .Text(d.key)
                         .Int(d.type)
                         .Text(d.job_id)
                         .Int(d.event_seq)
                         .Text(d.payload)
                         .Int(d.state)
                         .Text(d.last_error)
                         .Int(d.create_ns)
                         .Int(d.next_attempt_ns));
    if (!in.ok()) return in.status();
    if (d.state != v1::DELIVERY_STATE_PENDING) GANTRY_RETURN_IF_ERROR(TrimDeliveries(c, d.webhook_id));
  }
  return Status::Ok();
}

}  // namespace

Status PgStore::AppendEvent(const JobRow& r, const v1::JobEvent& event) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("storing an event of job " + r.id, [&]() -> Status {
    auto cur = c->Exec("reading job " + r.id,
                       "SELECT lease, last_seq FROM jobs WHERE id = $1 FOR UPDATE",
                       Params().Text(r.id));
    if (!cur.ok()) return cur.status();
    if (cur->rows() == 0) return Status::NotFound("job " + r.id + " not found");
    const int64_t lease = cur->Int(0, 0), last = cur->Int(0, 1);
    if (lease != r.lease) {
      return Status::FailedPrecondition("job " + r.id + ": lease " + std::to_string(r.lease) +
                                        " is no longer held (now " + std::to_string(lease) + ")");
    }
    if (event.seq() <= last) {
      return Status::AlreadyExists("job " + r.id + ": event " + std::to_string(event.seq()) +
                                   " is stored already");
    }
    if (event.seq() != last + 1) {
      return Status::FailedPrecondition("job " + r.id + ": event " + std::to_string(event.seq()) +
                                        " would leave a gap after " + std::to_string(last));
    }
    auto ev = c->Exec("storing an event of job " + r.id,
                      "INSERT INTO events (job_id, seq, lease, event) VALUES ($1, $2, $3, $4)",
                      Params().Text(r.id).Int(event.seq()).Int(r.lease).Bytes(
                          event.SerializeAsString()));
    if (!ev.ok()) return ev.status();
    Params p;
    p.Int(r.state).Text(r.error).Int(r.start_ns).Int(r.end_ns).Int(r.epochs_done);
    if (r.latest) {
      p.Bytes(r.latest->SerializeAsString());
    } else {
      p.NullBytes();
    }
    p.Int(event.seq()).Text(r.id).Int(r.queued_ns);
    auto up = c->Exec("updating job " + r.id,
                      "UPDATE jobs SET state = $1, error = $2, start_ns = $3, end_ns = $4,"
                      " epochs_done = $5, latest = $6, last_seq = $7, queued_ns = $9 WHERE id = $8",
                      p);
    if (!up.ok()) return up.status();
    GANTRY_RETURN_IF_ERROR(StoreDeliveries(c.conn(), r, event));
    auto n = c->Exec("notifying", "SELECT pg_notify('gantry_events', $1)",
                     Params().Text(r.id + " " + std::to_string(event.seq())));
    return n.ok() ? Status::Ok() : n.status();
  });
}

StatusOr<std::vector<v1::JobEvent>> PgStore::ReadEvents(const std::string& id, int64_t from_seq,
                                                        int limit) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading events of " + id,
                   "SELECT seq, event FROM events WHERE job_id = $1 AND seq >= $2"
                   " ORDER BY seq LIMIT $3",
                   Params().Text(id).Int(from_seq).Int(limit));
  if (!r.ok()) return r.status();
  std::vector<v1::JobEvent> out;
  for (int i = 0; i < r->rows(); ++i) {
    v1::JobEvent ev;
    if (!ev.ParseFromString(r->Str(i, 1)) || ev.seq() != r->Int(i, 0)) {
      return Status::DataLoss("job " + id + ": event " + std::to_string(r->Int(i, 0)) +
                              " is unreadable");
    }
    out.push_back(std::move(ev));
  }
  return out;
}

StatusOr<std::optional<JobRow>> PgStore::ClaimNext(const std::string& owner,
                                                   int64_t max_memory_bytes, int64_t lease_ns,
                                                   const ClaimPolicy& policy) {
  const RunningLimits& limits = policy.running;
  // The queued job of the highest aged priority ($1: the aging, 0 for
  // none), the oldest among equals, whose creator is under its running limit.
  std::string queued = "SELECT id, memory_bytes FROM jobs WHERE state = 1";
  Params queued_params;
  queued_params.Int(policy.priority_aging_ns);
  int n = 2;
  for (const auto& [name, limit] : limits) {
    const std::string who = "$" + std::to_string(n), most = "$" + std::to_string(n + 1);
    n += 2;
    queued += " AND NOT (created_by = " + who +
              " AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 2 AND r.created_by = " + who +
              ") >= " + most + ")";
    queued_params.Text(name).Int(limit);
  }
  queued += std::string(" ORDER BY LEAST(3, priority + CASE WHEN $1 > 0 AND ") + kNowNs +
            " > queued_ns THEN (" + kNowNs + " - queued_ns) / $1 ELSE 0 END) DESC, idx"
            " LIMIT 1 FOR UPDATE SKIP LOCKED";
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::optional<JobRow> out;
  bool corrupt = true;
  // A job whose row is unreadable is failed and skipped (bounded).
  for (int tries = 0; corrupt && tries < 100; ++tries) {
    corrupt = false;
    const Status s = c->Transaction("claiming a job", [&]() -> Status {
      // One whose lease expired (its replica died) first, then the oldest
      // queued one; rows another replica is claiming are skipped, not
      // waited for.
      std::string id;
      int64_t memory = 0;
      if (!limits.empty()) {
        // Counting running jobs and claiming one is atomic only if claims
        // under limits, and quota-checked inserts, take turns.
        auto lock = c->Exec("waiting for the quota lock", "SELECT pg_advisory_xact_lock($1)",
                            Params().Int(kQuotaLock));
        if (!lock.ok()) return lock.status();
      }
      const std::string expired =
          std::string("SELECT id, memory_bytes FROM jobs WHERE state = 2 AND lease_expires_ns < ") +
          kNowNs + " ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED";
      for (const std::string* sql : std::initializer_list<const std::string*>{&expired, &queued}) {
        auto r = sql == &queued ? c->Exec("claiming a job", sql->c_str(), queued_params)
                                : c->Exec("claiming a job", sql->c_str());
        if (!r.ok()) return r.status();
        if (r->rows() > 0) {
          id = r->Str(0, 0);
          memory = r->Int(0, 1);
          break;
        }
      }
      if (id.empty() || (max_memory_bytes >= 0 && memory > max_memory_bytes)) return Status::Ok();
      auto up = c->Exec("claiming job " + id,
                        (std::string("UPDATE jobs SET start_ns = CASE WHEN start_ns = 0 THEN $1"
                                     " ELSE start_ns END, state = 2, owner = $2, lease = lease + 1,"
                                     " lease_expires_ns = ") +
                         kNowNs + " + $3 WHERE id = $4")
                            .c_str(),
                        Params()
                            .Int(NowNs())
                            .Text(owner)
                            .Int(lease_ns)
                            .Text(id));
      if (!up.ok()) return up.status();
      auto row = GetRow(c.conn(), id, ReadPoints::kYes);
      if (row.status().code() == StatusCode::kDataLoss) {
        auto fail = c->Exec("failing job " + id,
                            "UPDATE jobs SET state = 4, error = $1 WHERE id = $2",
                            Params()
                                .Text("its stored row is unreadable: " + row.status().message())
                                .Text(id));
        if (!fail.ok()) return fail.status();
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
  return out;
}

Status PgStore::RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("renewing the lease of job " + id,
                   (std::string("UPDATE jobs SET lease_expires_ns = ") + kNowNs +
                    " + $1 WHERE id = $2 AND lease = $3 AND state = 2")
                       .c_str(),
                   Params().Int(lease_ns).Text(id).Int(lease));
  if (!r.ok()) return r.status();
  if (r->affected() == 0) {
    return Status::FailedPrecondition("job " + id + ": lease " + std::to_string(lease) +
                                      " is no longer held");
  }
  return Status::Ok();
}

namespace {

// Blob fencing: in the transaction that writes or deletes a blob, the job's
// row is locked (FOR UPDATE, as AppendEvent does), then its lease checked.
// A claim's UPDATE of the row therefore waits for the blob's commit, or the
// check (re-reading the row once the claim committed) sees the new lease: a
// stale holder's write never lands after a takeover. `running`: the job must
// also still be RUNNING (a blob written after the job ended would outlive
// it; its deletions come after the terminal event and need not).
Status LockLease(PgStore::Conn& c, const BlobKey& key, const std::string& what, bool running) {
  if (key.lease == 0) return Status::Ok();  // unfenced: an ended job's blobs, deleted with it
  auto r = c.Exec(what.c_str(), "SELECT lease, state FROM jobs WHERE id = $1 FOR UPDATE",
                  Params().Text(key.job_id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::FailedPrecondition(what + ": the job is gone");
  const int64_t lease = r->Int(0, 0);
  if (lease != key.lease) {
    return Status::FailedPrecondition(what + ": lease " + std::to_string(key.lease) +
                                      " is no longer held (now " + std::to_string(lease) + ")");
  }
  if (running && r->Int(0, 1) != v1::JOB_STATE_RUNNING) {
    return Status::FailedPrecondition(what + ": the job is no longer running (" +
                                      v1::JobState_Name(static_cast<v1::JobState>(r->Int(0, 1))) + ")");
  }
  return Status::Ok();
}

}  // namespace

Status PgStore::PutBlob(const BlobKey& key, const std::string& bytes) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  const std::string what = std::string("storing the ") + BlobKindName(key.kind) + " of job " +
                           key.job_id + " for epoch " + std::to_string(key.epoch);
  return c->Transaction(what, [&]() -> Status {
    GANTRY_RETURN_IF_ERROR(LockLease(c.conn(), key, what, /*running=*/true));
    auto r = c->Exec(what.c_str(),
                     "INSERT INTO blobs (job_id, kind, epoch, sha256, bytes)"
                     " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, kind, epoch) DO UPDATE"
                     " SET sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes",
                     Params()
                         .Text(key.job_id)
                         .Int(static_cast<int64_t>(key.kind))
                         .Int(key.epoch)
                         .Bytes(Sha256(bytes))
                         .Bytes(bytes));
    return r.ok() ? Status::Ok() : r.status();
  });
}

StatusOr<std::string> PgStore::GetBlob(const BlobKey& key) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  const std::string what = std::string(BlobKindName(key.kind)) + " of job " + key.job_id +
                           " for epoch " + std::to_string(key.epoch);
  auto r = c->Exec("reading the " + what,
                   "SELECT sha256, bytes FROM blobs WHERE job_id = $1 AND kind = $2 AND epoch = $3",
                   Params().Text(key.job_id).Int(static_cast<int64_t>(key.kind)).Int(key.epoch));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound(what + " not found");
  std::string bytes = r->Str(0, 1);
  if (Sha256(bytes) != r->Str(0, 0)) {
    return Status::DataLoss(what + ": its checksum does not match (corrupted)");
  }
  return bytes;
}

StatusOr<std::vector<int64_t>> PgStore::ListBlobs(const std::string& job_id, BlobKind kind) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("listing blobs of " + job_id,
                   "SELECT epoch FROM blobs WHERE job_id = $1 AND kind = $2 ORDER BY epoch",
                   Params().Text(job_id).Int(static_cast<int64_t>(kind)));
  if (!r.ok()) return r.status();
  std::vector<int64_t> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Int(i, 0));
  return out;
}

Status PgStore::DeleteBlob(const BlobKey& key) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  const std::string what = std::string("deleting the ") + BlobKindName(key.kind) + " of job " +
                           key.job_id + " for epoch " + std::to_string(key.epoch);
  return c->Transaction(what, [&]() -> Status {
    // Fenced like a write: a replica that lost the job deletes nothing.
    GANTRY_RETURN_IF_ERROR(LockLease(c.conn(), key, what, /*running=*/false));
    auto r = c->Exec(what.c_str(),
                     "DELETE FROM blobs WHERE job_id = $1 AND kind = $2 AND epoch = $3",
                     Params().Text(key.job_id).Int(static_cast<int64_t>(key.kind)).Int(key.epoch));
    return r.ok() ? Status::Ok() : r.status();
  });
}

Status PgStore::Ping() const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Script("ping", "SELECT 1");
}

Status PgStore::RequestCancel(const std::string& id) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("requesting the cancel of job " + id, [&]() -> Status {
    auto r = c->Exec("requesting the cancel of job " + id,
                     "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state = 2",
                     Params().Text(id));
    if (!r.ok()) return r.status();
    if (r->affected() == 0) {
      auto row = GetRow(c.conn(), id, ReadPoints::kNo);
      if (!row.ok()) return row.status();
      return Status::FailedPrecondition("job " + id + " is not running (" +
                                        std::to_string(row->state) + ")");
    }
    auto n = c->Exec("notifying", "SELECT pg_notify('gantry_cancel', $1)", Params().Text(id));
    return n.ok() ? Status::Ok() : n.status();
  });
}

StatusOr<std::vector<std::string>> PgStore::CancelRequests(const std::string& owner) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading cancel requests",
                   "SELECT id FROM jobs WHERE state = 2 AND owner = $1 AND cancel_requested = 1",
                   Params().Text(owner));
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Str(i, 0));
  return out;
}

StatusOr<std::optional<JobRow>> PgStore::ClaimCancelled(const std::string& id,
                                                        const std::string& owner,
                                                        int64_t lease_ns) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::optional<JobRow> out;
  const Status s = c->Transaction("claiming a cancelled job", [&]() -> Status {
    out.reset();
    // Rows another replica is claiming are skipped: that claim ends the job.
    auto r = c->Exec("claiming a cancelled job",
                     (std::string("SELECT id FROM jobs WHERE state = 2 AND cancel_requested = 1"
                                  " AND lease_expires_ns < ") +
                      kNowNs + " AND ($1 = '' OR id = $1) ORDER BY idx LIMIT 1"
                               " FOR UPDATE SKIP LOCKED")
                         .c_str(),
                     Params().Text(id));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return Status::Ok();
    const std::string found = r->Str(0, 0);
    auto up = c->Exec("claiming job " + found,
                      (std::string("UPDATE jobs SET owner = $1, lease = lease + 1,"
                                   " lease_expires_ns = ") +
                       kNowNs + " + $2 WHERE id = $3")
                          .c_str(),
                      Params().Text(owner).Int(lease_ns).Text(found));
    if (!up.ok()) return up.status();
    auto row = GetRow(c.conn(), found, ReadPoints::kNo);
    if (!row.ok()) return row.status();
    out = std::move(row).value();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

void PgStore::Subscribe(std::function<void(const StoreChange&)> fn) {
  bool listening;
  {
    MutexLock lock(&listener_mu_);
    listener_ = std::move(fn);
    listening = static_cast<bool>(listener_);
  }
  if (!listen_thread_.joinable() && listening) {
    listen_thread_ = std::thread([this] { ListenLoop(); });
  }
}

void PgStore::Tell(const StoreChange& change) {
  MutexLock lock(&listener_mu_);
  if (listener_) listener_(change);
}

void PgStore::ListenLoop() {
  PGconn* pg = nullptr;
  bool was_connected = false;
  while (!stop_) {
    if (pg == nullptr || PQstatus(pg) != CONNECTION_OK) {
      if (pg != nullptr) PQfinish(pg);
      pg = Conn::Connect(uri_);
      Result listen(PQstatus(pg) == CONNECTION_OK
                        ? PQexec(pg, "LISTEN gantry_events; LISTEN gantry_jobs; LISTEN gantry_cancel")
                        : nullptr);
      if (PQresultStatus(listen.raw()) != PGRES_COMMAND_OK) {
        if (was_connected) {
          spdlog::warn("PostgreSQL store {}: lost the notification connection ({}); retrying",
                       describe_, TrimMessage(PQerrorMessage(pg)));
        }
        was_connected = false;
        PQfinish(pg);
        pg = nullptr;
        for (auto waited = std::chrono::milliseconds(0); waited < kListenReconnectAfter && !stop_;
             waited += kListenStopCheckEvery) {
          std::this_thread::sleep_for(kListenStopCheckEvery);
        }
        continue;
      }
      was_connected = true;
      Tell(StoreChange{StoreChange::kResync, "", 0});  // what came while away
    }
    pollfd fd{PQsocket(pg), POLLIN, 0};
    if (poll(&fd, 1, kListenPollMs) < 0) continue;
    if (PQconsumeInput(pg) == 0) continue;  // the connection broke: reconnect above
    while (PGnotify* n = PQnotifies(pg)) {
      StoreChange change;
      const std::string channel = n->relname, payload = n->extra;
      PQfreemem(n);
      if (channel == "gantry_events") {
        const size_t space = payload.find(' ');
        change.kind = StoreChange::kEvent;
        change.job_id = payload.substr(0, space);
        if (space != std::string::npos) change.seq = std::atoll(payload.c_str() + space + 1);
      } else if (channel == "gantry_jobs") {
        change.kind = StoreChange::kJob;
        change.job_id = payload;
      } else {
        change.kind = StoreChange::kCancel;
        change.job_id = payload;
      }
      Tell(change);
    }
  }
  if (pg != nullptr) PQfinish(pg);
}

}  // namespace gantry

namespace gantry {
namespace {

constexpr char kTableColumns[] = "id, idx, name, size_bytes, schema, create_ns";

StatusOr<TableRow> ReadTableRow(const Result& r, int i) {
  TableRow row;
  row.id = r.Str(i, 0);
  row.index = r.Int(i, 1);
  row.name = r.Str(i, 2);
  row.size_bytes = r.Int(i, 3);
  if (!row.schema.ParseFromString(r.Str(i, 4))) {
    return Status::DataLoss("table " + row.id + ": its stored schema is unreadable");
  }
  row.create_ns = r.Int(i, 5);
  return row;
}

}  // namespace

StatusOr<PutTableResult> PgStore::PutTable(const TableRow& row, const std::string& bytes) {
  GANTRY_RETURN_IF_ERROR(CheckTableRow(row, bytes));
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  PutTableResult out;
  const Status s = c->Transaction("storing table " + row.id, [&]() -> Status {
    // The same bytes stored already (or being stored by another replica,
    // which this insert then waits for) insert nothing.
    auto ins = c->Exec("storing table " + row.id,
                       "INSERT INTO tables (id, idx, name, size_bytes, schema, create_ns, bytes)"
                       " VALUES ($1, nextval('tables_idx'), $2, $3, $4, $5, $6)"
                       " ON CONFLICT (id) DO NOTHING RETURNING idx",
                       Params()
                           .Text(row.id)
                           .Text(row.name)
                           .Int(row.size_bytes)
                           .Bytes(row.schema.SerializeAsString())
                           .Int(row.create_ns)
                           .BytesNoCopy(bytes));
    if (!ins.ok()) return ins.status();
    if (ins->rows() > 0) {
      out.row = row;
      out.row.index = ins->Int(0, 0);
      return Status::Ok();
    }
    auto existing = c->Exec("reading table " + row.id,
                            (std::string("SELECT ") + kTableColumns + " FROM tables WHERE id = $1")
                                .c_str(),
                            Params().Text(row.id));
    if (!existing.ok()) return existing.status();
    if (existing->rows() == 0) {
      return Status::Unavailable("table " + row.id + " was deleted while it was stored; retry");
    }
    auto stored = ReadTableRow(*existing, 0);
    if (!stored.ok()) return stored.status();
    out.row = std::move(stored).value();
    out.inserted = false;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<TableRow> PgStore::GetTable(const std::string& id) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading table " + id,
                   (std::string("SELECT ") + kTableColumns + " FROM tables WHERE id = $1").c_str(),
                   Params().Text(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return TableNotFound(id);
  return ReadTableRow(*r, 0);
}

StatusOr<std::string> PgStore::ReadTableBytes(const std::string& id) const {
  std::string bytes;
  {
    Lease c(*this);
    GANTRY_RETURN_IF_ERROR(c.status());
    auto r = c->Exec("reading the bytes of table " + id, "SELECT bytes FROM tables WHERE id = $1",
                     Params().Text(id));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return TableNotFound(id);
    bytes = r->Str(0, 0);
  }
  GANTRY_RETURN_IF_ERROR(CheckTableBytes(id, bytes));
  return bytes;
}

StatusOr<std::vector<TableRow>> PgStore::ListTables(const TableListQuery& q) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("listing tables",
                   (std::string("SELECT ") + kTableColumns +
                    " FROM tables WHERE idx < $1 ORDER BY idx DESC LIMIT $2")
                       .c_str(),
                   Params().Int(q.before_index > 0 ? q.before_index : INT64_MAX).Int(q.limit));
  if (!r.ok()) return r.status();
  std::vector<TableRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto row = ReadTableRow(*r, i);
    if (!row.ok()) return row.status();
    out.push_back(std::move(row).value());
  }
  return out;
}

Status PgStore::DeleteTable(const std::string& id) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("deleting table " + id, [&]() -> Status {
    // The update lock waits for jobs being inserted with this table (they
    // hold a share lock): once it is held, every job using the table is
    // visible below, and no new one can be stored.
    auto t = c->Exec("deleting table " + id, "SELECT 1 FROM tables WHERE id = $1 FOR UPDATE",
                     Params().Text(id));
    if (!t.ok()) return t.status();
    if (t->rows() == 0) return TableNotFound(id);
    auto jobs = c->Exec("finding the jobs of table " + id,
                        "SELECT id, state FROM jobs WHERE table_id = $1 AND state IN (1, 2)"
                        " ORDER BY idx LIMIT 1",
                        Params().Text(id));
    if (!jobs.ok()) return jobs.status();
    if (jobs->rows() > 0) {
      return TableInUse(id, jobs->Str(0, 0), static_cast<v1::JobState>(jobs->Int(0, 1)));
    }
    auto d = c->Exec("deleting table " + id, "DELETE FROM tables WHERE id = $1", Params().Text(id));
    return d.ok() ? Status::Ok() : d.status();
  });
}

Status PgStore::PutSession(const SessionRow& row) {
  GANTRY_RETURN_IF_ERROR(CheckSessionRow(row));
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("storing a session",
                   "INSERT INTO sessions (id_hash, create_ns, expires_ns, principal)"
                   " VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO NOTHING",
                   Params().Text(row.id_hash).Int(row.create_ns).Int(row.expires_ns).Text(row.principal));
  if (!r.ok()) return r.status();
  if (r->affected() == 0) return Status::AlreadyExists("session: this id is stored already");
  return Status::Ok();
}

StatusOr<SessionRow> PgStore::GetSession(const std::string& id_hash) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading a session",
                   "SELECT create_ns, expires_ns, principal FROM sessions WHERE id_hash = $1",
                   Params().Text(id_hash));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return SessionNotFound();
  SessionRow row;
  row.id_hash = id_hash;
  row.create_ns = r->Int(0, 0);
  row.expires_ns = r->Int(0, 1);
  row.principal = r->Str(0, 2);
  return row;
}

Status PgStore::DeleteSession(const std::string& id_hash) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("deleting a session", "DELETE FROM sessions WHERE id_hash = $1",
                   Params().Text(id_hash));
  return r.ok() ? Status::Ok() : r.status();
}

StatusOr<int64_t> PgStore::DeleteExpiredSessions(int64_t now_ns) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("deleting expired sessions", "DELETE FROM sessions WHERE expires_ns <= $1",
                   Params().Int(now_ns));
  if (!r.ok()) return r.status();
  return r->affected();
}

StatusOr<int64_t> PgStore::AppendAudit(const AuditRow& row, int64_t keep) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  int64_t seq = 0;
  const Status s = c->Transaction("storing an audit entry", [&]() -> Status {
    auto r = c->Exec("storing an audit entry",
                     "INSERT INTO audit (time_ns, principal, role, action, target, allowed, code, message)"
                     " VALUES ($1, $2, $3, $4, $5, $6 <> 0, $7, $8) RETURNING seq",
                     Params()
                         .Int(row.time_ns)
                         .Text(row.principal)
                         .Text(row.role)
                         .Text(row.action)
                         .Text(row.target)
                         .Int(row.allowed ? 1 : 0)
                         .Text(row.code)
                         .Text(row.message));
    if (!r.ok()) return r.status();
    seq = r->Int(0, 0);
    auto d = c->Exec("deleting old audit entries", "DELETE FROM audit WHERE seq <= $1",
                     Params().Int(seq - keep));
    return d.ok() ? Status::Ok() : d.status();
  });
  if (!s.ok()) return s;
  return seq;
}

StatusOr<std::vector<AuditRow>> PgStore::ListAudit(const AuditQuery& q) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::string sql =
      "SELECT seq, time_ns, principal, role, action, target, CASE WHEN allowed THEN 1 ELSE 0 END,"
      " code, message FROM audit WHERE seq < $1";
  Params p;
  p.Int(q.before_seq > 0 ? q.before_seq : INT64_MAX);
  int n = 2;
  if (!q.principal.empty()) {
    sql += " AND principal = $" + std::to_string(n++);
    p.Text(q.principal);
  }
  if (!q.target.empty()) {
    sql += " AND target = $" + std::to_string(n++);
    p.Text(q.target);
  }
  sql += " ORDER BY seq DESC LIMIT $" + std::to_string(n++);
  p.Int(q.limit);
  auto r = c->Exec("reading the audit log", sql.c_str(), p);
  if (!r.ok()) return r.status();
  std::vector<AuditRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    AuditRow& a = out.emplace_back();
    a.seq = r->Int(i, 0);
    a.time_ns = r->Int(i, 1);
    a.principal = r->Str(i, 2);
    a.role = r->Str(i, 3);
    a.action = r->Str(i, 4);
    a.target = r->Str(i, 5);
    a.allowed = r->Int(i, 6) != 0;
    a.code = r->Str(i, 7);
    a.message = r->Str(i, 8);
  }
  return out;
}

// --- webhooks ---

Status PgStore::PutWebhook(const WebhookRow& row) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("storing webhook " + row.id, [&]() -> Status {
    // Replicas count and insert in turn (as quota-checked inserts do).
    auto lock = c->Exec("locking", "SELECT pg_advisory_xact_lock($1)", Params().Int(kQuotaLock));
    if (!lock.ok()) return lock.status();
    auto count = c->Exec("counting webhooks", "SELECT COUNT(*) FROM webhooks WHERE principal = $1",
                         Params().Text(row.principal));
    if (!count.ok()) return count.status();
    GANTRY_RETURN_IF_ERROR(CheckWebhookCount(row.principal, count->Int(0, 0)));
    auto in = c->Exec("storing webhook " + row.id,
                      "INSERT INTO webhooks (id, principal, url, secret, events, job_id,"
                      " label_selector, owner, create_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                      " ON CONFLICT (id) DO NOTHING",
                      Params()
                          .Text(row.id)
                          .Text(row.principal)
                          .Text(row.url)
                          .Text(row.secret)
                          .Int(row.events)
                          .Text(row.job_id)
                          .Text(row.label_selector)
                          .Text(row.owner)
                          .Int(row.create_ns));
    if (!in.ok()) return in.status();
    if (in->affected() == 0) return Status::AlreadyExists("webhook " + row.id + " exists");
    return Status::Ok();
  });
}

StatusOr<WebhookRow> PgStore::GetWebhook(const std::string& id) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading webhook " + id,
                   (std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE id = $1").c_str(),
                   Params().Text(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return WebhookNotFound(id);
  return ReadWebhook(*r, 0);
}

StatusOr<std::vector<WebhookRow>> PgStore::ListWebhooks(const std::string& principal) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::string sql = std::string("SELECT ") + kWebhookColumns +
                    ", (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = webhooks.id"
                    " AND d.state = 1) FROM webhooks";
  Params p;
  if (!principal.empty()) {
    sql += " WHERE principal = $1";
    p.Text(principal);
  }
  sql += " ORDER BY idx";
  auto r = c->Exec("listing webhooks", sql.c_str(), p);
  if (!r.ok()) return r.status();
  std::vector<WebhookRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back(ReadWebhook(*r, i));
    out.back().pending = r->Int(i, 10);
  }
  return out;
}

Status PgStore::DeleteWebhook(const std::string& id) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("deleting webhook " + id, [&]() -> Status {
    auto r = c->Exec("deleting webhook " + id, "DELETE FROM webhooks WHERE id = $1", Params().Text(id));
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return WebhookNotFound(id);
    auto d = c->Exec("deleting the deliveries of " + id, "DELETE FROM deliveries WHERE webhook_id = $1",
                     Params().Text(id));
    return d.ok() ? Status::Ok() : d.status();
  });
}

StatusOr<std::vector<DeliveryRow>> PgStore::ListDeliveries(const std::string& webhook_id,
                                                           int64_t before_seq, int limit) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading deliveries of " + webhook_id,
                   (std::string("SELECT ") + kDeliveryColumns +
                    " FROM deliveries WHERE webhook_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3")
                       .c_str(),
                   Params().Text(webhook_id).Int(before_seq > 0 ? before_seq : INT64_MAX).Int(limit));
  if (!r.ok()) return r.status();
  std::vector<DeliveryRow> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(ReadDelivery(*r, i));
  return out;
}

StatusOr<std::vector<DeliveryRow>> PgStore::ClaimDeliveries(
    int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  // The database's clock, read once (a constant the due index can use),
  // then one statement: the due rows no other replica is claiming (SKIP
  // LOCKED), each counted an attempt and leased.
  auto clock = c->Exec("reading the clock", ("SELECT " + std::string(kNowNs)).c_str());
  if (!clock.ok()) return clock.status();
  const int64_t now = clock->Int(0, 0);
  Params p;
  p.Int(now).Int(lease_ns).Int(limit);
  std::string skip;
  for (size_t i = 0; i < skip_webhooks.size(); ++i) {
    skip += (i == 0 ? " AND webhook_id NOT IN ($" : ", $") + std::to_string(i + 4);
    p.Text(skip_webhooks[i]);
  }
  if (!skip.empty()) skip += ")";
  const std::string sql =
      "UPDATE deliveries SET attempts = attempts + 1, last_attempt_ns = $1,"
      " lease_expires_ns = $1 + $2 WHERE seq IN (SELECT seq FROM deliveries"
      " WHERE state = 1 AND next_attempt_ns <= $1 AND lease_expires_ns <= $1" + skip +
      " AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = deliveries.webhook_id)"
      " ORDER BY next_attempt_ns, seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING " +
      std::string(kDeliveryColumns) +
      ", (SELECT url FROM webhooks w WHERE w.id = deliveries.webhook_id),"
      " (SELECT secret FROM webhooks w WHERE w.id = deliveries.webhook_id),"
      " (SELECT principal FROM webhooks w WHERE w.id = deliveries.webhook_id)";
  auto r = c->Exec("claiming deliveries", sql.c_str(), p);
  if (!r.ok()) return r.status();
  std::vector<DeliveryRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    DeliveryRow& d = out.emplace_back(ReadDelivery(*r, i));
    d.url = r->Str(i, 14);
    d.secret = r->Str(i, 15);
    d.principal = r->Str(i, 16);
  }
  std::sort(out.begin(), out.end(), [](const DeliveryRow& a, const DeliveryRow& b) {
    return a.next_attempt_ns != b.next_attempt_ns ? a.next_attempt_ns < b.next_attempt_ns
                                                  : a.seq < b.seq;
  });
  return out;
}

StatusOr<int> PgStore::FinishDelivery(const DeliveryOutcome& o) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  int state = v1::DELIVERY_STATE_UNSPECIFIED;
  const Status s = c->Transaction("recording a delivery", [&]() -> Status {
    state = v1::DELIVERY_STATE_UNSPECIFIED;
    auto cur = c->Exec("reading a delivery",
                       ("SELECT webhook_id, attempts, state, create_ns, " + std::string(kNowNs) +
                        " FROM deliveries WHERE seq = $1 FOR UPDATE")
                           .c_str(),
                       Params().Int(o.seq));
    if (!cur.ok()) return cur.status();
    if (cur->rows() == 0) return Status::Ok();  // its webhook was deleted
    if (cur->Int(0, 1) != o.attempts || cur->Int(0, 2) != v1::DELIVERY_STATE_PENDING) {
      return Status::Ok();  // claimed again since
    }
    const std::string webhook_id = cur->Str(0, 0);
    const DeliveryRow next = NextDeliveryState(o, cur->Int(0, 3), cur->Int(0, 4));
    auto up = c->Exec("recording a delivery",
                      "UPDATE deliveries SET state = $1, last_status = $2, last_error = $3,"
                      " next_attempt_ns = $4, lease_expires_ns = 0 WHERE seq = $5",
                      Params()
                          .Int(next.state)
                          .Int(next.last_status)
                          .Text(next.last_error)
                          .Int(next.next_attempt_ns)
                          .Int(o.seq));
    if (!up.ok()) return up.status();
    state = next.state;
    if (next.state == v1::DELIVERY_STATE_PENDING) return Status::Ok();
    return TrimDeliveries(c.conn(), webhook_id);
  });
  if (!s.ok()) return s;
  return state;
}

// --- studies ---

namespace {

constexpr char kStudyColumns[] = "id, idx, state, owner, lease, holder, lease_expires_ns, body";

// The row at `i` (columns as kStudyColumns); DATA_LOSS when the body is
// unreadable or disagrees with the columns.
StatusOr<StudyRow> ReadStudy(const Result& r, int i) {
  StudyRow row;
  const std::string id = r.Str(i, 0);
  if (!row.study.ParseFromString(r.Str(i, 7)) || row.study.id() != id ||
      row.study.state() != r.Int(i, 2)) {
    return Status::DataLoss("study " + id + ": its stored row is unreadable");
  }
  row.index = r.Int(i, 1);
  row.lease = r.Int(i, 4);
  row.holder = r.Str(i, 5);
  row.lease_expires_ns = r.Int(i, 6);
  return row;
}

// In a transaction: the study's row, locked until the commit.
StatusOr<StudyRow> LockStudy(PgStore::Conn& c, const std::string& id) {
  auto r = c.Exec("reading study " + id,
                  (std::string("SELECT ") + kStudyColumns + " FROM studies WHERE id = $1 FOR UPDATE")
                      .c_str(),
                  Params().Text(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return StudyNotFound(id);
  return ReadStudy(*r, 0);
}

// Stores row.study's state and body (the columns and the body agree).
Status WriteStudy(PgStore::Conn& c, const StudyRow& row, const char* also = "") {
  auto up = c.Exec("updating study " + row.study.id(),
                   (std::string("UPDATE studies SET state = $1, body = $2") + also + " WHERE id = $3")
                       .c_str(),
                   Params().Int(row.study.state()).Bytes(StudyBody(row.study)).Text(row.study.id()));
  return up.ok() ? Status::Ok() : up.status();
}

}  // namespace

StatusOr<StudyRow> PgStore::InsertStudy(const StudyRow& row) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  const std::string& id = row.study.id();
  StudyRow out;
  const Status s = c->Transaction("storing study " + id, [&]() -> Status {
    // Replicas count and insert in turn (kStudyLock; READ COMMITTED: the
    // count sees the last holder's commit).
    auto lock = c->Exec("locking", "SELECT pg_advisory_xact_lock($1)", Params().Int(kStudyLock));
    if (!lock.ok()) return lock.status();
    auto known = c->Exec("looking up study " + id, "SELECT 1 FROM studies WHERE id = $1",
                         Params().Text(id));
    if (!known.ok()) return known.status();
    if (known->rows() > 0) return Status::AlreadyExists("study " + id + " exists");
    auto count = c->Exec("counting studies", "SELECT COUNT(*) FROM studies WHERE state = 2");
    if (!count.ok()) return count.status();
    if (count->Int(0, 0) >= kMaxRunningStudies) return TooManyStudies(count->Int(0, 0));
    out = StudyRow();
    out.study = row.study;
    out.study.clear_trials();
    out.study.set_state(v1::JOB_STATE_RUNNING);
    auto in = c->Exec("storing study " + id,
                      "INSERT INTO studies (id, idx, state, owner, body)"
                      " VALUES ($1, nextval('studies_idx'), $2, $3, $4) RETURNING idx",
                      Params()
                          .Text(id)
                          .Int(out.study.state())
                          .Text(out.study.owner())
                          .Bytes(StudyBody(out.study)));
    if (!in.ok()) return in.status();
    out.index = in->Int(0, 0);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<StudyRow> PgStore::GetStudy(const std::string& id) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("reading study " + id,
                   (std::string("SELECT ") + kStudyColumns + " FROM studies WHERE id = $1").c_str(),
                   Params().Text(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return StudyNotFound(id);
  return ReadStudy(*r, 0);
}

StatusOr<std::vector<StudyRow>> PgStore::ListStudies(const StudyQuery& q) const {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::string sql = std::string("SELECT ") + kStudyColumns + " FROM studies WHERE idx < $1";
  Params p;
  p.Int(q.before_index > 0 ? q.before_index : INT64_MAX);
  if (!q.owner.empty()) {
    sql += " AND owner = $2";
    p.Text(q.owner);
  }
  sql += " ORDER BY idx DESC LIMIT $" + std::to_string(p.size() + 1);
  p.Int(q.limit);
  auto r = c->Exec("listing studies", sql.c_str(), p);
  if (!r.ok()) return r.status();
  std::vector<StudyRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto row = ReadStudy(*r, i);
    if (!row.ok()) return row.status();
    out.push_back(std::move(row).value());
  }
  return out;
}

StatusOr<std::optional<StudyRow>> PgStore::ClaimStudy(const std::string& holder,
                                                      int64_t lease_ns,
                                                      const std::vector<std::string>& skip) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  std::optional<StudyRow> out;
  const Status s = c->Transaction("claiming a study", [&]() -> Status {
    out.reset();
    // The database's clock, read once; then the oldest expired study no
    // other replica is claiming (SKIP LOCKED). A row whose body is
    // unreadable is passed over (bounded), so it never stalls the others.
    auto clock = c->Exec("reading the clock", ("SELECT " + std::string(kNowNs)).c_str());
    if (!clock.ok()) return clock.status();
    const int64_t now = clock->Int(0, 0);
    std::vector<std::string> passed = skip;
    for (int tries = 0; !out && tries < 100; ++tries) {
      Params p;
      p.Int(now);
      std::string sql = std::string("SELECT ") + kStudyColumns +
                        " FROM studies WHERE state = 2 AND lease_expires_ns < $1";
      for (size_t i = 0; i < passed.size(); ++i) {
        sql += (i == 0 ? " AND id NOT IN ($" : ", $") + std::to_string(i + 2);
        p.Text(passed[i]);
      }
      if (!passed.empty()) sql += ")";
      sql += " ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED";
      auto r = c->Exec("claiming a study", sql.c_str(), p);
      if (!r.ok()) return r.status();
      if (r->rows() == 0) return Status::Ok();
      auto row = ReadStudy(*r, 0);
      if (row.ok()) {
        out = std::move(row).value();
      } else {
        spdlog::error("{}; it is not claimed", row.status().message());
        passed.push_back(r->Str(0, 0));
      }
    }
    if (!out) return Status::Ok();
    out->lease += 1;
    out->holder = holder;
    out->lease_expires_ns = now + lease_ns;
    auto up = c->Exec("claiming study " + out->study.id(),
                      "UPDATE studies SET lease = $1, holder = $2, lease_expires_ns = $3,"
                      " claimed_ns = $4 WHERE id = $5",
                      Params()
                          .Int(out->lease)
                          .Text(holder)
                          .Int(out->lease_expires_ns)
                          .Int(now)
                          .Text(out->study.id()));
    return up.ok() ? Status::Ok() : up.status();
  });
  if (!s.ok()) return s;
  return out;
}

Status PgStore::RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  auto r = c->Exec("renewing the lease of study " + id,
                   (std::string("UPDATE studies SET lease_expires_ns = ") + kNowNs +
                    " + $1 WHERE id = $2 AND lease = $3 AND state = 2")
                       .c_str(),
                   Params().Int(lease_ns).Text(id).Int(lease));
  if (!r.ok()) return r.status();
  if (r->affected() > 0) return Status::Ok();
  // Refused: say why.
  auto now = c->Exec("reading study " + id, "SELECT state, lease FROM studies WHERE id = $1",
                     Params().Text(id));
  if (!now.ok()) return now.status();
  if (now->rows() == 0) return StudyNotFound(id);
  const auto state = static_cast<v1::JobState>(now->Int(0, 0));
  if (IsTerminalState(state)) return StudyEnded(id, state);
  return StudyFenced(id);
}

Status PgStore::UpdateStudy(const StudyRow& row) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("updating study " + row.study.id(), [&]() -> Status {
    auto held = LockStudy(c.conn(), row.study.id());
    if (!held.ok()) return held.status();
    GANTRY_RETURN_IF_ERROR(CheckStudyHeld(*held, row.lease));
    v1::Study& study = held->study;
    ApplyStudyUpdate(row.study, &study);
    return WriteStudy(c.conn(), *held);
  });
}

StatusOr<StudyRow> PgStore::EndStudy(const std::string& id, v1::JobState state,
                                     const std::string& error, int64_t end_ns) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  StudyRow out;
  const Status s = c->Transaction("ending study " + id, [&]() -> Status {
    auto row = LockStudy(c.conn(), id);
    if (!row.ok()) return row.status();
    if (IsTerminalState(row->study.state())) return StudyEnded(id, row->study.state());
    out = std::move(row).value();
    EndStudyRow(state, error, end_ns, &out);
    return WriteStudy(c.conn(), out, ", lease = lease + 1");
  });
  if (!s.ok()) return s;
  return out;
}

Status PgStore::DeleteStudy(const std::string& id) {
  Lease c(*this);
  GANTRY_RETURN_IF_ERROR(c.status());
  return c->Transaction("deleting study " + id, [&]() -> Status {
    auto r = c->Exec("reading study " + id, "SELECT state FROM studies WHERE id = $1 FOR UPDATE",
                     Params().Text(id));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return StudyNotFound(id);
    const auto state = static_cast<v1::JobState>(r->Int(0, 0));
    if (!IsTerminalState(state)) return StudyNotEnded(id, state);
    auto d = c->Exec("deleting study " + id, "DELETE FROM studies WHERE id = $1", Params().Text(id));
    return d.ok() ? Status::Ok() : d.status();
  });
}

}  // namespace gantry
