// CachedStore: a Store that passes every call to another and keeps the job
// rows GetJob read (without points) in memory, so that GetJob of an ended
// job, or of a RUNNING one whose row was read before, answers without store
// I/O; and the epochs ListBlobs found (Sample and ExportGenerator list a
// job's snapshots on every call).
//
// - Bounded by entries: at most max_rows rows and max_rows blob lists,
//   least recently read out first. Rows read with points (ReadPoints::kYes:
//   a USER dataset's values, up to megabytes) are never kept.
// - A job's blob lists are dropped by every PutBlob or DeleteBlob of its
//   (whatever the outcome) and by DeleteJob.
// - Kept current by every write of the job that goes through it: a stored
//   event (AppendEvent) updates the kept row as the store updated its own
//   (the fields store.h lists), when the kept row is the one the event
//   follows (its last_seq is the event's seq - 1); any other write, a
//   refused event included, drops the job's row whatever its outcome
//   (InsertJob, DeleteJob, ClaimNext: the job it claimed, RenewLease,
//   RequestCancel, ClaimCancelled), and ExpireAllLeases (or a ClaimNext or
//   ClaimCancelled that failed without saying which job) drops every row.
//   So a RUNNING job's row, once read, stays in memory through its epochs.
//   A write that reaches the wrapped store some other way is not seen: wrap
//   the store that every part of the server writes through.
// - A row read while a write was in flight is not kept (a generation count
//   taken before the read must still hold after it), so a row a write
//   dropped or updated is never replaced by a read that started before the
//   write ended.
// - Shared stores (Shared(): other replicas write to the same PostgreSQL)
//   are passed through uncached. Their changes reach this process only as
//   notifications (Subscribe) that come after the other replica's write was
//   acknowledged to its client, that can be lost (kResync), and that do not
//   cover every change of a row (claims, lease renewals and deletes are not
//   notified): a row invalidated by them would be served stale after
//   another replica's write. Reading the database is the only way to be
//   current there.
//
// Thread-safety: every method is safe from any thread, as the wrapped store;
// the cache has its own lock, never held during the wrapped store's I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/store/store.h"

namespace gantry {

class CachedStore final : public Store {
 public:
  // A row without points is a few hundred bytes to a few KiB (a table job's
  // schema with many categorical levels: more), so 1024 rows stay within a
  // few MiB while covering every job a dashboard or a sweep polls.
  static constexpr size_t kDefaultMaxRows = 1024;

  // Takes `inner` over; max_rows >= 1.
  explicit CachedStore(std::unique_ptr<Store> inner, size_t max_rows = kDefaultMaxRows);
  CachedStore(const CachedStore&) = delete;
  CachedStore& operator=(const CachedStore&) = delete;

  // GetJob and ListBlobs calls answered from memory, and those that read
  // the wrapped store (the shared store's pass-through counts as neither).
  int64_t hits() const;
  int64_t misses() const;
  size_t rows() const;        // rows kept now
  size_t blob_lists() const;  // blob lists kept now

  std::string Describe() const override { return inner_->Describe(); }
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first) override;
  StatusOr<std::optional<JobRow>> FindRequest(const std::string& request_id) const override {
    return inner_->FindRequest(request_id);
  }
  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override;
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
  Status DeleteJob(const std::string& id) override;
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override;
  StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                 int limit) const override {
    return inner_->ReadEvents(id, from_seq, limit);
  }
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns) override;
  Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) override;
  Status ExpireAllLeases() override;
  Status PutBlob(const BlobKey& key, const std::string& bytes) override;
  StatusOr<std::string> GetBlob(const BlobKey& key) const override { return inner_->GetBlob(key); }
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id, BlobKind kind) const override;
  Status DeleteBlob(const BlobKey& key) override;
  StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) override {
    return inner_->PutTable(row, bytes);
  }
  StatusOr<TableRow> GetTable(const std::string& id) const override { return inner_->GetTable(id); }
  StatusOr<std::string> ReadTableBytes(const std::string& id) const override {
    return inner_->ReadTableBytes(id);
  }
  StatusOr<std::vector<TableRow>> ListTables(const TableListQuery& query) const override {
    return inner_->ListTables(query);
  }
  Status DeleteTable(const std::string& id) override { return inner_->DeleteTable(id); }
  bool Shared() const override { return shared_; }
  Status Ping() const override { return inner_->Ping(); }
  Status RequestCancel(const std::string& id) override;
  StatusOr<std::vector<std::string>> CancelRequests(const std::string& owner) const override {
    return inner_->CancelRequests(owner);
  }
  StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id, const std::string& owner,
                                                 int64_t lease_ns) override;
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

 private:
  struct Entry {
    JobRow row;
    std::list<std::string>::iterator lru;
  };
  using BlobsKey = std::pair<std::string, BlobKind>;
  struct BlobsKeyHash {
    size_t operator()(const BlobsKey& k) const {
      return std::hash<std::string>()(k.first) * 31 + static_cast<size_t>(k.second);
    }
  };
  struct Blobs {
    std::vector<int64_t> epochs;
    std::list<BlobsKey>::iterator lru;
  };
  // Drops the job's blob list of `kind`, or of every kind (kind unset).
  void InvalidateBlobs(const std::string& id, std::optional<BlobKind> kind);
  // Drops the job's row; InvalidateAll drops every row and blob list. Both
  // (and InvalidateBlobs) end every read in flight's chance to keep what it
  // read.
  void Invalidate(const std::string& id);
  void InvalidateAll();
  // Invalidates the claimed job, or everything when the claim failed
  // without saying which job it touched.
  void AfterClaim(const StatusOr<std::optional<JobRow>>& claimed);

  const std::unique_ptr<Store> inner_;
  const bool shared_;
  const size_t max_rows_;
  mutable std::mutex mu_;
  // Guarded by mu_: the rows, and their ids, most recently read first.
  mutable std::unordered_map<std::string, Entry> rows_;
  mutable std::list<std::string> lru_;
  // Guarded by mu_: incremented by every invalidation.
  uint64_t generation_ = 0;
  // Guarded by mu_: the blob lists, most recently read first.
  mutable std::unordered_map<BlobsKey, Blobs, BlobsKeyHash> blobs_;
  mutable std::list<BlobsKey> blobs_lru_;
  mutable int64_t hits_ = 0, misses_ = 0;  // Guarded by mu_.
};

}  // namespace gantry
