// ForwardingStore: a Store that passes every call to another (`inner`), the
// base of the decorators (UnstoredOverlay, ...), which override only the
// calls they change.
//
// Thread-safety: as the wrapped store.
#pragma once

#include "server/store/store.h"

namespace gantry {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store* inner) : inner_(inner) {}

  std::string Describe() const override { return inner_->Describe(); }
  using Store::ClaimNext;
  using Store::InsertJob;
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first,
                                   const Quota& quota) override {
    return inner_->InsertJob(row, first, quota);
  }
  StatusOr<std::optional<JobRow>> FindRequest(const std::string& request_id) const override {
    return inner_->FindRequest(request_id);
  }
  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override {
    return inner_->GetJob(id, points);
  }
  StatusOr<std::vector<JobRow>> ListJobs(const ListQuery& query) const override {
    return inner_->ListJobs(query);
  }
  StatusOr<std::vector<JobRow>> ActiveJobs() const override { return inner_->ActiveJobs(); }
  StatusOr<std::vector<std::string>> ExpiredJobs(int64_t ended_before_ns, int64_t keep_newest,
                                                 int limit) const override {
    return inner_->ExpiredJobs(ended_before_ns, keep_newest, limit);
  }
  StatusOr<std::map<v1::JobState, int64_t>> CountJobs() const override {
    return inner_->CountJobs();
  }
  Status DeleteJob(const std::string& id) override { return inner_->DeleteJob(id); }
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override {
    return inner_->AppendEvent(row, event);
  }
  StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                 int limit) const override {
    return inner_->ReadEvents(id, from_seq, limit);
  }
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns, const ClaimPolicy& policy) override {
    return inner_->ClaimNext(owner, max_memory_bytes, lease_ns, policy);
  }
  Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) override {
    return inner_->RenewLease(id, lease, lease_ns);
  }
  Status ExpireAllLeases() override { return inner_->ExpireAllLeases(); }
  Status PutBlob(const BlobKey& key, const std::string& bytes) override {
    return inner_->PutBlob(key, bytes);
  }
  StatusOr<std::string> GetBlob(const BlobKey& key) const override { return inner_->GetBlob(key); }
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id,
                                           BlobKind kind) const override {
    return inner_->ListBlobs(job_id, kind);
  }
  Status DeleteBlob(const BlobKey& key) override { return inner_->DeleteBlob(key); }
  StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) override {
    return inner_->PutTable(row, bytes);
  }
  StatusOr<TableRow> GetTable(const std::string& id) const override {
    return inner_->GetTable(id);
  }
  StatusOr<std::string> ReadTableBytes(const std::string& id) const override {
    return inner_->ReadTableBytes(id);
  }
  StatusOr<std::vector<TableRow>> ListTables(const TableListQuery& query) const override {
    return inner_->ListTables(query);
  }
  Status DeleteTable(const std::string& id) override { return inner_->DeleteTable(id); }
  bool Shared() const override { return inner_->Shared(); }
  Status Ping() const override { return inner_->Ping(); }
  Status RequestCancel(const std::string& id) override {
    return inner_->RequestCancel(id);
  }
  StatusOr<std::vector<std::string>> CancelRequests(const std::string& owner) const override {
    return inner_->CancelRequests(owner);
  }
  StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id, const std::string& owner,
                                                 int64_t lease_ns) override {
    return inner_->ClaimCancelled(id, owner, lease_ns);
  }
  void Subscribe(std::function<void(const StoreChange&)> fn) override {
    inner_->Subscribe(std::move(fn));
  }
  Status PutSession(const SessionRow& row) override { return inner_->PutSession(row); }
  StatusOr<SessionRow> GetSession(const std::string& id_hash) const override {
    return inner_->GetSession(id_hash);
  }
  Status DeleteSession(const std::string& id_hash) override {
    return inner_->DeleteSession(id_hash);
  }
  StatusOr<int64_t> DeleteExpiredSessions(int64_t now_ns) override {
    return inner_->DeleteExpiredSessions(now_ns);
  }
  StatusOr<int64_t> AppendAudit(const AuditRow& row, int64_t keep) override {
    return inner_->AppendAudit(row, keep);
  }
  StatusOr<std::vector<AuditRow>> ListAudit(const AuditQuery& query) const override {
    return inner_->ListAudit(query);
  }
  Status PutWebhook(const WebhookRow& row) override { return inner_->PutWebhook(row); }
  StatusOr<WebhookRow> GetWebhook(const std::string& id) const override {
    return inner_->GetWebhook(id);
  }
  StatusOr<std::vector<WebhookRow>> ListWebhooks(const std::string& principal) const override {
    return inner_->ListWebhooks(principal);
  }
  Status DeleteWebhook(const std::string& id) override { return inner_->DeleteWebhook(id); }
  StatusOr<std::vector<DeliveryRow>> ListDeliveries(const std::string& webhook_id,
                                                    int64_t before_seq, int limit) const override {
    return inner_->ListDeliveries(webhook_id, before_seq, limit);
  }
  StatusOr<std::vector<DeliveryRow>> ClaimDeliveries(
      int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) override {
    return inner_->ClaimDeliveries(lease_ns, limit, skip_webhooks);
  }
  StatusOr<int> FinishDelivery(const DeliveryOutcome& outcome) override {
    return inner_->FinishDelivery(outcome);
  }
  StatusOr<StudyRow> InsertStudy(const StudyRow& row) override { return inner_->InsertStudy(row); }
  StatusOr<StudyRow> GetStudy(const std::string& id) const override {
    return inner_->GetStudy(id);
  }
  StatusOr<std::vector<StudyRow>> ListStudies(const StudyQuery& query) const override {
    return inner_->ListStudies(query);
  }
  StatusOr<std::optional<StudyRow>> ClaimStudy(const std::string& holder, int64_t lease_ns,
                                               const std::vector<std::string>& skip) override {
    return inner_->ClaimStudy(holder, lease_ns, skip);
  }
  Status RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) override {
    return inner_->RenewStudy(id, lease, lease_ns);
  }
  Status UpdateStudy(const StudyRow& row) override { return inner_->UpdateStudy(row); }
  StatusOr<StudyRow> EndStudy(const std::string& id, v1::JobState state, const std::string& error,
                              int64_t end_ns) override {
    return inner_->EndStudy(id, state, error, end_ns);
  }
  Status DeleteStudy(const std::string& id) override { return inner_->DeleteStudy(id); }

 protected:
  Store* const inner_;
};

}  // namespace gantry
