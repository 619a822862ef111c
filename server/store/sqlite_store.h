// SqliteStore: the embedded default Store, in --data-dir.
//
// Layout:
//   DIR/LOCK                      held (flock) by the one gantryd using DIR; holds its pid
//   DIR/gantry.db                 SQLite (WAL): jobs, their labels, events and leases;
//                                 uploaded tables with their bytes; login sessions
//                                 (their ids' hashes); webhooks and their deliveries;
//                                 studies (their rows and leases)
//   DIR/jobs/<id>/checkpoint-<epoch>.ckpt   blobs: full trainer state
//   DIR/jobs/<id>/snapshot-<epoch>.snap     blobs: generator weights
//
// The schema is versioned (PRAGMA user_version) and migrated forward on open;
// a database from a newer gantryd is refused. Blob files are replaced
// atomically (fsynced, renamed, directory fsynced) and checksummed.
//
// Durability: with Sync::kFull (synchronous=FULL) a commit is fsynced before
// it returns, so what was acknowledged survives power loss too. With
// Sync::kNormal (synchronous=NORMAL) a commit survives the process being
// killed at any moment, but a power loss or kernel crash may lose the last
// commits (never corrupting the database). Blob files are always fsynced.
//
// DIR and its folders are 0700 and every file 0600, whatever the umask.
//
// Thread-safety: every method is safe from any thread. Writes share one
// connection (under write_mu_); reads use kReaders other connections (each
// under its own mutex), so a read never waits for a write's fsync, and a
// long read (a page of events, a user dataset) holds up only one of them.
// No method holds two of these locks at once.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/store/store.h"
#include "server/util/mutex.h"

struct sqlite3;

namespace gantry {

inline constexpr int kSchemaVersion = 10;

class SqliteStore final : public Store {
 public:
  enum class Sync { kNormal, kFull };
  // Takes DIR/LOCK (FAILED_PRECONDITION naming the directory and the pid
  // that holds it), opens or creates the database and migrates it.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& dir,
                                                     Sync sync = Sync::kNormal);
  ~SqliteStore() override;

  std::string Describe() const override;
  const std::string& dir() const { return dir_; }

  using Store::ClaimNext;
  using Store::InsertJob;
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first,
                                   const Quota& quota) override;
  StatusOr<std::optional<JobRow>> FindRequest(const std::string& request_id) const override;
  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override;
  StatusOr<std::vector<JobRow>> ListJobs(const ListQuery& query) const override;
  StatusOr<std::vector<JobRow>> ActiveJobs() const override;
  StatusOr<std::vector<std::string>> ExpiredJobs(int64_t ended_before_ns, int64_t keep_newest,
                                                 int limit) const override;
  StatusOr<std::map<v1::JobState, int64_t>> CountJobs() const override;
  Status DeleteJob(const std::string& id) override;
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override;
  StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                 int limit) const override;
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns, const ClaimPolicy& policy) override;
  Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) override;
  Status ExpireAllLeases() override;
  Status PutBlob(const BlobKey& key, const std::string& bytes) override;
  StatusOr<std::string> GetBlob(const BlobKey& key) const override;
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id, BlobKind kind) const override;
  Status DeleteBlob(const BlobKey& key) override;
  StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) override;
  StatusOr<TableRow> GetTable(const std::string& id) const override;
  StatusOr<std::string> ReadTableBytes(const std::string& id) const override;
  StatusOr<std::vector<TableRow>> ListTables(const TableListQuery& query) const override;
  Status DeleteTable(const std::string& id) override;
  Status PutSession(const SessionRow& row) override;
  StatusOr<SessionRow> GetSession(const std::string& id_hash) const override;
  Status DeleteSession(const std::string& id_hash) override;
  StatusOr<int64_t> DeleteExpiredSessions(int64_t now_ns) override;
  StatusOr<int64_t> AppendAudit(const AuditRow& row, int64_t keep) override;
  StatusOr<std::vector<AuditRow>> ListAudit(const AuditQuery& query) const override;
  Status PutWebhook(const WebhookRow& row) override;
  StatusOr<WebhookRow> GetWebhook(const std::string& id) const override;
  StatusOr<std::vector<WebhookRow>> ListWebhooks(const std::string& principal) const override;
  Status DeleteWebhook(const std::string& id) override;
  StatusOr<std::vector<DeliveryRow>> ListDeliveries(const std::string& webhook_id,
                                                    int64_t before_seq, int limit) const override;
  StatusOr<std::vector<DeliveryRow>> ClaimDeliveries(
      int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) override;
  StatusOr<int> FinishDelivery(const DeliveryOutcome& outcome) override;
  StatusOr<StudyRow> InsertStudy(const StudyRow& row) override;
  StatusOr<StudyRow> GetStudy(const std::string& id) const override;
  StatusOr<std::vector<StudyRow>> ListStudies(const StudyQuery& query) const override;
  StatusOr<std::optional<StudyRow>> ClaimStudy(const std::string& holder, int64_t lease_ns,
                                               const std::vector<std::string>& skip) override;
  Status RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) override;
  Status UpdateStudy(const StudyRow& row) override;
  StatusOr<StudyRow> EndStudy(const std::string& id, v1::JobState state, const std::string& error,
                              int64_t end_ns) override;
  Status DeleteStudy(const std::string& id) override;

  // The file that holds a blob (for tests and operators).
  std::string BlobPath(const BlobKey& key) const;

 private:
  SqliteStore() = default;
  Status Migrate() EXCLUDES(write_mu_);
  std::string JobDir(const std::string& id) const;
  StatusOr<JobRow> GetJobLocked(sqlite3* db, const std::string& id, ReadPoints points) const;
  // Runs `body` in one write transaction on db_: committed when it returns
  // OK, rolled back otherwise. The body is a lambda that says
  // REQUIRES(write_mu_), so the analysis checks it as running under the lock.
  template <typename Fn>
  Status Transaction(Fn&& body) REQUIRES(write_mu_);

  std::string dir_;
  int lock_fd_ = -1;
  Mutex write_mu_;
  sqlite3* db_ GUARDED_BY(write_mu_) = nullptr;
  // RUNNING jobs of the previous holder (ExpireAllLeases), oldest first:
  // claimable before any lease expires.
  std::vector<std::string> orphans_ GUARDED_BY(write_mu_);
  // Webhook deliveries claimed before this moment (ExpireAllLeases: by the
  // previous holder) are claimable at once.
  int64_t deliveries_dead_before_ns_ GUARDED_BY(write_mu_) = 0;
  // Studies claimed before this moment (ExpireAllLeases: by the previous
  // holder) are claimable at once.
  int64_t studies_dead_before_ns_ GUARDED_BY(write_mu_) = 0;
  // In a write transaction: the RUNNING study `id` whose lease is still
  // `lease` (NOT_FOUND, or FAILED_PRECONDITION: ended, or taken over).
  StatusOr<StudyRow> HeldStudy(const std::string& id, int64_t lease) REQUIRES(write_mu_);
  // AppendEvent's outbox: the deliveries `event` causes, stored with it.
  Status StoreDeliveries(const JobRow& row, const v1::JobEvent& event) REQUIRES(write_mu_);
  static constexpr int kReaders = 4;
  struct ReadConnection {
    Mutex mu;
    sqlite3* db GUARDED_BY(mu) = nullptr;
  };
  // A free read connection (or, when all are busy, one to wait for), held
  // for its lifetime.
  class Reader;
  mutable ReadConnection readers_[kReaders];
  mutable std::atomic<unsigned> next_reader_{0};
};

}  // namespace gantry
