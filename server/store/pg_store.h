// PgStore: a Store in PostgreSQL (15), shared by any number of gantryd
// replicas: jobs, labels, events, leases, blobs (checkpoints, generator
// snapshots), uploaded tables and login sessions (their ids' hashes) are
// all in the database, so a replica needs no shared disk, and a session
// made on one replica is accepted by every other.
//
// Client: libpq, the C library every PostgreSQL client is built on (Debian's
// libpq5). It gives binary parameters and results (protobuf bytes and
// checkpoints travel as bytea with no escaping) and the connection's socket
// for LISTEN/NOTIFY, with no C++ ABI to match.
//
// Schema: versioned in gantry_schema, created and migrated on open under an
// advisory lock (replicas starting together migrate once); a database of a
// newer gantryd is refused.
//
// Leases: ClaimNext takes the next claimable job with SELECT ... FOR UPDATE
// SKIP LOCKED, so replicas claiming at once never take the same job and
// never wait for each other (ClaimStudy and ClaimDeliveries claim studies
// and deliveries the same way); lease times are the database's clock
// (clock_timestamp()), never a replica's. Every write of a job's progress is
// conditional on its lease number (events, state, blobs named with a
// lease), in the transaction that writes it; a study's writes likewise.
//
// Changes: AppendEvent, InsertJob and RequestCancel NOTIFY (channels
// gantry_events "JOB SEQ", gantry_jobs "JOB", gantry_cancel "JOB"; delivered
// at commit); Subscribe LISTENs on a connection of its own and reconnects,
// reporting kResync when notifications may have been lost.
//
// Tables: a job's insert takes a share lock on its table's row and a
// table's delete an update lock before it looks for the jobs that use it,
// so a job is never stored beside a deleted table.
//
// Outages: a call that cannot reach the database returns UNAVAILABLE naming
// the server; connections are re-established on the next call.
//
// Thread-safety: every method is safe from any thread. Calls share
// kConnections connections, each used by one call at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

inline constexpr int kPgSchemaVersion = 7;

class PgStore final : public Store {
 public:
  // Connects to `uri` (postgresql://USER:PASSWORD@HOST:PORT/DB?...) and
  // creates or migrates the schema. UNAVAILABLE when the server cannot be
  // reached, FAILED_PRECONDITION for a newer schema.
  static StatusOr<std::unique_ptr<PgStore>> Open(const std::string& uri);
  ~PgStore() override;

  // "PostgreSQL HOST:PORT/DB" (no password).
  std::string Describe() const override;

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
  // Does nothing: other replicas' jobs are not known to be dead.
  Status ExpireAllLeases() override { return Status::Ok(); }
  Status PutBlob(const BlobKey& key, const std::string& bytes) override;
  StatusOr<std::string> GetBlob(const BlobKey& key) const override;
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id, BlobKind kind) const override;
  Status DeleteBlob(const BlobKey& key) override;
  StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) override;
  StatusOr<TableRow> GetTable(const std::string& id) const override;
  StatusOr<std::string> ReadTableBytes(const std::string& id) const override;
  StatusOr<std::vector<TableRow>> ListTables(const TableListQuery& query) const override;
  Status DeleteTable(const std::string& id) override;

  bool Shared() const override { return true; }
  Status Ping() const override;
  Status RequestCancel(const std::string& id) override;
  StatusOr<std::vector<std::string>> CancelRequests(const std::string& owner) const override;
  StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id, const std::string& owner,
                                                 int64_t lease_ns) override;
  void Subscribe(std::function<void(const StoreChange&)> fn) override EXCLUDES(listener_mu_);
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

  static constexpr int kConnections = 6;

  class Conn;  // one libpq connection (pg_store.cc)

 private:
  PgStore() = default;
  // A free connection (or, when all are busy, one to wait for), held for
  // the lifetime of the returned lock, connected (UNAVAILABLE if it cannot
  // be).
  class Lease;
  Status Migrate();
  void ListenLoop() EXCLUDES(listener_mu_);
  void Tell(const StoreChange& change) EXCLUDES(listener_mu_);

  std::string uri_;
  std::string describe_;
  std::vector<std::unique_ptr<Conn>> conns_;
  mutable std::atomic<unsigned> next_conn_{0};
  Mutex listener_mu_;  // held while listener_ runs
  std::function<void(const StoreChange&)> listener_ GUARDED_BY(listener_mu_);
  std::atomic<bool> stop_{false};
  std::thread listen_thread_;
};

}  // namespace gantry
