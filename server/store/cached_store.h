// CachedStore: a Store that passes every call to another and keeps the job
// rows GetJob read (without points) in memory, so that GetJob of an ended
// job, or of a RUNNING one whose row was read before, answers without store
// I/O; and the epochs ListBlobs found (Sample and ExportGenerator list a
// job's snapshots on every call).
//
// - Bounded by entries and bytes: at most max_rows rows (and kMaxBytes of
//   them; a row over kMaxRowBytes, a large preview or table schema, is
//   never kept) and max_rows blob lists, least recently read out first. Rows read with points (ReadPoints::kYes:
//   a USER dataset's values, up to megabytes) are never kept.
// - A job's blob lists are dropped by every PutBlob or DeleteBlob of its
//   (whatever the outcome) and by DeleteJob.
// - Kept current by every write of the job that goes through it: a stored
//   event (AppendEvent) updates the kept row as the store updated its own
//   (the fields store.h lists), when the kept row is the one the event
//   follows (its last_seq is the event's seq - 1); any other write, a
//   refused event included, drops the job's row whatever its outcome
//   (InsertJob, DeleteJob, RenewLease, RequestCancel, ClaimCancelled), and
//   ExpireAllLeases (or a ClaimCancelled that failed without saying which
//   job) drops every row. ClaimNext drops the row of every job that has not
//   ended, whatever its outcome: a claim may write more jobs than the one it
//   returns (SqliteStore marks a job whose stored row is unreadable FAILED
//   and goes on to the next, and says nothing of it), and only a job that
//   has not ended is claimable. So a RUNNING job's row, once read, stays in
//   memory through its epochs (until the next claim), and an ended job's
//   until it is deleted. A write that reaches the wrapped store some other
//   way is not seen: wrap the store that every part of the server writes
//   through.
// - A row (or blob list) read while a write of its job was in flight is not
//   kept, so a row a write dropped or updated is never replaced by a read
//   that started before the write ended. Writes of other jobs do not stop
//   a read from being kept: the writes are recorded per job, only while
//   reads are in flight, and at most kMaxTrackedWrites of them (past that
//   the record counts as a write of every job, so that it never grows with
//   the jobs a busy server writes).
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
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/store/forwarding_store.h"
#include "server/store/store.h"
#include "server/util/mutex.h"
#include "server/util/thread_annotations.h"

namespace gantry {

class CachedStore final : public ForwardingStore {
 public:
  // A row without points is a few hundred bytes to a few KiB (a table job's
  // schema with many categorical levels: more), so 1024 rows stay within a
  // few MiB while covering every job a dashboard or a sweep polls.
  static constexpr size_t kDefaultMaxRows = 1024;
  // A row's estimated memory (RowBytes) at most, and all rows' together: a
  // job may ask for 4096 preview points of 64 dimensions (a MiB a row).
  static constexpr size_t kMaxRowBytes = 64 << 10;
  static constexpr size_t kMaxBytes = 32 << 20;
  // Writes recorded for the reads in flight (one entry a job), at most.
  static constexpr size_t kMaxTrackedWrites = 4096;

  // Takes `inner` over; max_rows >= 1.
  explicit CachedStore(std::unique_ptr<Store> inner, size_t max_rows = kDefaultMaxRows);
  CachedStore(const CachedStore&) = delete;
  CachedStore& operator=(const CachedStore&) = delete;

  // GetJob and ListBlobs calls answered from memory, and those that read
  // the wrapped store (the shared store's pass-through counts as neither).
  int64_t hits() const EXCLUDES(mu_);
  int64_t misses() const EXCLUDES(mu_);
  size_t rows() const EXCLUDES(mu_);        // rows kept now
  size_t blob_lists() const EXCLUDES(mu_);  // blob lists kept now
  size_t tracked_writes() const EXCLUDES(mu_);  // jobs' writes recorded now

  // The calls this decorator changes; every other passes through.
  using Store::ClaimNext;
  using Store::InsertJob;
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first,
                                   const Quota& quota) override;
  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override;
  Status DeleteJob(const std::string& id) override;
  Status AppendEvent(const JobRow& row, const v1::JobEvent& event) override;
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns, const ClaimPolicy& policy) override;
  Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) override;
  Status ExpireAllLeases() override;
  Status PutBlob(const BlobKey& key, const std::string& bytes) override;
  StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id, BlobKind kind) const override;
  Status DeleteBlob(const BlobKey& key) override;
  Status RequestCancel(const std::string& id) override;
  StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id, const std::string& owner,
                                                 int64_t lease_ns) override;

 private:
  struct Entry {
    JobRow row;
    std::list<std::string>::iterator lru;
    size_t bytes;  // RowBytes(row)
  };
  // The memory a kept row holds, about.
  static size_t RowBytes(const JobRow& row);
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it) const REQUIRES(mu_);
  // Drops the least recently read rows while over max_rows_ or kMaxBytes.
  void EvictLocked() const REQUIRES(mu_);
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
  void InvalidateBlobs(const std::string& id, std::optional<BlobKind> kind) EXCLUDES(mu_);
  // Drops the job's row; InvalidateAll drops every row and blob list, and
  // InvalidateUnended the row of every job that has not ended. Each (and
  // InvalidateBlobs) ends the chance of the reads in flight of the jobs it
  // names (of every job: InvalidateAll and InvalidateUnended) to keep what
  // they read.
  void Invalidate(const std::string& id) EXCLUDES(mu_);
  void InvalidateAll() EXCLUDES(mu_);
  void InvalidateUnended() EXCLUDES(mu_);

  // A read of the wrapped store begins: the write clock then.
  uint64_t BeginReadLocked() const REQUIRES(mu_);
  // The read of job `id` that began at `began` is over: whether what it
  // read may be kept (no write of the job, nor of every job, since).
  bool EndReadLocked(const std::string& id, uint64_t began) const REQUIRES(mu_);
  // A write of job `id`, or of every job.
  void WroteLocked(const std::string& id) REQUIRES(mu_);
  void WroteAllLocked() REQUIRES(mu_);

  const std::unique_ptr<Store> owned_;  // inner_ (ForwardingStore's)
  const bool shared_;
  const size_t max_rows_;
  mutable Mutex mu_;
  // The rows, and their ids, most recently read first.
  mutable std::unordered_map<std::string, Entry> rows_ GUARDED_BY(mu_);
  mutable std::list<std::string> lru_ GUARDED_BY(mu_);
  mutable size_t bytes_ GUARDED_BY(mu_) = 0;  // the kept rows' RowBytes
  // Counts the writes (invalidations); a read keeps what it read only if
  // neither all_written_ nor its job's written_ entry passed the count it
  // began at. written_ holds the jobs written while reads were in flight
  // (reading_ > 0), emptied when none is, at most kMaxTrackedWrites.
  uint64_t clock_ GUARDED_BY(mu_) = 0;
  uint64_t all_written_ GUARDED_BY(mu_) = 0;
  mutable std::unordered_map<std::string, uint64_t> written_ GUARDED_BY(mu_);
  mutable int reading_ GUARDED_BY(mu_) = 0;
  // The blob lists, most recently read first.
  mutable std::unordered_map<BlobsKey, Blobs, BlobsKeyHash> blobs_ GUARDED_BY(mu_);
  mutable std::list<BlobsKey> blobs_lru_ GUARDED_BY(mu_);
  mutable int64_t hits_ GUARDED_BY(mu_) = 0;
  mutable int64_t misses_ GUARDED_BY(mu_) = 0;
};

}  // namespace gantry
