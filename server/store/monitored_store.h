// MonitoredStore: a Store that passes every call to another (ForwardingStore)
// and remembers
// whether its writes are failing, for health checks: Trouble() is the last
// failed write's error while a write failed within the last kRecentSeconds
// (writes that fail now and then), or the last write failed within the
// last kTroubleSeconds and none has succeeded since (a disk that is full,
// failing or gone, and a server with little to write).
// Refusals that are answers, not trouble (a fenced lease, a duplicate seq,
// a job that is not found or has not ended), do not count.
//
// Thread-safety: as the wrapped store; the trouble state has its own lock.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "server/store/forwarding_store.h"
#include "server/util/mutex.h"

namespace gantry {

class MonitoredStore final : public ForwardingStore {
 public:
  static constexpr int kTroubleSeconds = 30;
  static constexpr int kRecentSeconds = 5;

  explicit MonitoredStore(Store* inner) : ForwardingStore(inner) {}

  // The failing write's error, while the store is in trouble.
  std::optional<std::string> Trouble() const EXCLUDES(mu_);

  using Store::ClaimNext;
  using Store::InsertJob;
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first,
                                   const Quota& quota) override {
    auto inserted = inner_->InsertJob(row, first, quota);
    if (IsQuotaRefusal(inserted.status())) return inserted;  // an answer: the store works
    return Record(std::move(inserted));
  }
  Status DeleteJob(const std::string& id) override { return Record(inner_->DeleteJob(id)); }
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override {
    return Record(inner_->AppendEvent(row, event));
  }
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns, const ClaimPolicy& policy) override {
    return Record(inner_->ClaimNext(owner, max_memory_bytes, lease_ns, policy));
  }
  Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) override {
    return Record(inner_->RenewLease(id, lease, lease_ns));
  }
  Status PutBlob(const BlobKey& key, const std::string& bytes) override {
    return Record(inner_->PutBlob(key, bytes));
  }
  Status DeleteBlob(const BlobKey& key) override { return Record(inner_->DeleteBlob(key)); }
  StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) override {
    return Record(inner_->PutTable(row, bytes));
  }
  Status DeleteTable(const std::string& id) override { return Record(inner_->DeleteTable(id)); }
  // A failed ping is trouble too: the store is unreachable.
  Status Ping() const override { return const_cast<MonitoredStore*>(this)->Record(inner_->Ping()); }
  Status RequestCancel(const std::string& id) override {
    return Record(inner_->RequestCancel(id));
  }
  StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id, const std::string& owner,
                                                 int64_t lease_ns) override {
    return Record(inner_->ClaimCancelled(id, owner, lease_ns));
  }
  Status PutSession(const SessionRow& row) override { return Record(inner_->PutSession(row)); }
  Status DeleteSession(const std::string& id_hash) override {
    return Record(inner_->DeleteSession(id_hash));
  }
  StatusOr<int64_t> DeleteExpiredSessions(int64_t now_ns) override {
    return Record(inner_->DeleteExpiredSessions(now_ns));
  }
  StatusOr<int64_t> AppendAudit(const AuditRow& row, int64_t keep) override {
    return Record(inner_->AppendAudit(row, keep));
  }
  Status PutWebhook(const WebhookRow& row) override {
    Status put = inner_->PutWebhook(row);
    if (IsQuotaRefusal(put)) return put;  // an answer: the store works
    return Record(std::move(put));
  }
  Status DeleteWebhook(const std::string& id) override { return Record(inner_->DeleteWebhook(id)); }
  // Only a failure counts: an idle claim writes nothing, so its success
  // says nothing about the store's writes (it must not end trouble).
  StatusOr<std::vector<DeliveryRow>> ClaimDeliveries(
      int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) override {
    auto claimed = inner_->ClaimDeliveries(lease_ns, limit, skip_webhooks);
    if (!claimed.ok()) Note(claimed.status());
    return claimed;
  }
  StatusOr<int> FinishDelivery(const DeliveryOutcome& outcome) override {
    return Record(inner_->FinishDelivery(outcome));
  }
  StatusOr<StudyRow> InsertStudy(const StudyRow& row) override {
    auto inserted = inner_->InsertStudy(row);
    if (IsQuotaRefusal(inserted.status())) return inserted;  // an answer: the store works
    return Record(std::move(inserted));
  }
  // A claim that found nothing wrote nothing: it says nothing about the
  // store's writes (as ClaimDeliveries).
  StatusOr<std::optional<StudyRow>> ClaimStudy(const std::string& holder, int64_t lease_ns,
                                               const std::vector<std::string>& skip) override {
    auto claimed = inner_->ClaimStudy(holder, lease_ns, skip);
    if (!claimed.ok() || claimed->has_value()) Note(claimed.status());
    return claimed;
  }
  Status RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) override {
    return Record(inner_->RenewStudy(id, lease, lease_ns));
  }
  Status UpdateStudy(const StudyRow& row) override { return Record(inner_->UpdateStudy(row)); }
  StatusOr<StudyRow> EndStudy(const std::string& id, v1::JobState state, const std::string& error,
                              int64_t end_ns) override {
    return Record(inner_->EndStudy(id, state, error, end_ns));
  }
  Status DeleteStudy(const std::string& id) override { return Record(inner_->DeleteStudy(id)); }

 private:
  using Clock = std::chrono::steady_clock;
  void Note(const Status& status) EXCLUDES(mu_);
  Status Record(Status status) {
    Note(status);
    return status;
  }
  template <typename T>
  StatusOr<T> Record(StatusOr<T> result) {
    Note(result.status());
    return result;
  }

  // Taken after the inner store's call returned.
  mutable Mutex mu_;
  std::optional<std::string> error_ GUARDED_BY(mu_);  // the last failure's
  Clock::time_point when_ GUARDED_BY(mu_);
  bool failing_ GUARDED_BY(mu_) = false;  // no success since
};

}  // namespace gantry
