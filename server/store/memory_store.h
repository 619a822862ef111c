// MemoryStore: a Store in this process's memory. Nothing survives the
// process; what it holds grows with the jobs and events stored until jobs
// are deleted (retention applies as with any store), and with the tables
// uploaded until they are deleted, and with sessions until they expire. Used when gantryd runs
// without --data-dir, and by tests.
//
// Thread-safety: every method is safe from any thread (one mutex).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

class MemoryStore final : public Store {
 public:
  std::string Describe() const override { return "memory (nothing survives the process)"; }

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

 private:
  struct Job {
    JobRow row;         // without a user dataset's values, which are in `points`
    v1::Points points;  // (copied only for ReadPoints::kYes)
    std::vector<v1::JobEvent> events;  // seq 1, 2, ...
    std::map<std::pair<BlobKind, int64_t>, std::string> blobs;
  };
  static JobRow Copy(const Job& job, ReadPoints points);
  struct Table {
    TableRow row;
    std::string bytes;
  };

  // Every method takes mu_ for its whole call (and calls no other method).
  mutable Mutex mu_;
  std::map<std::string, Job> jobs_ GUARDED_BY(mu_);
  std::map<int64_t, std::string> by_index_ GUARDED_BY(mu_);
  std::map<std::string, std::string> request_ids_ GUARDED_BY(mu_);
  std::map<std::string, Table> tables_ GUARDED_BY(mu_);
  std::map<int64_t, std::string> tables_by_index_ GUARDED_BY(mu_);
  std::map<int64_t, AuditRow> audit_ GUARDED_BY(mu_);  // by seq
  int64_t audit_seq_ GUARDED_BY(mu_) = 0;
  int64_t last_table_index_ GUARDED_BY(mu_) = 0;
  std::map<std::string, SessionRow> sessions_ GUARDED_BY(mu_);  // by id_hash
  std::map<std::string, WebhookRow> webhooks_ GUARDED_BY(mu_);    // by id
  int64_t last_webhook_index_ GUARDED_BY(mu_) = 0;
  struct Delivery {
    DeliveryRow row;
    int64_t lease_expires_ns = 0;
  };
  std::map<int64_t, Delivery> deliveries_ GUARDED_BY(mu_);  // by seq
  int64_t delivery_seq_ GUARDED_BY(mu_) = 0;
  // Deletes the webhook's ended deliveries beyond the newest kKeepEndedDeliveries.
  void TrimDeliveries(const std::string& webhook_id) REQUIRES(mu_);
  std::map<std::string, StudyRow> studies_ GUARDED_BY(mu_);       // by id
  std::map<int64_t, std::string> studies_by_index_ GUARDED_BY(mu_);
  int64_t last_study_index_ GUARDED_BY(mu_) = 0;
  // The RUNNING study `id` whose lease is still `lease`: NOT_FOUND, or
  // FAILED_PRECONDITION (ended, or taken over).
  StatusOr<StudyRow*> HeldStudy(const std::string& id, int64_t lease) REQUIRES(mu_);
};

}  // namespace gantry
