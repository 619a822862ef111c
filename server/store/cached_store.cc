#include "server/store/cached_store.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "proto/job_state.h"

namespace gantry {

CachedStore::CachedStore(std::unique_ptr<Store> inner, size_t max_rows)
    : ForwardingStore(inner.get()),
      owned_(std::move(inner)),
      shared_(inner_->Shared()),
      max_rows_(std::max<size_t>(1, max_rows)) {}

size_t CachedStore::RowBytes(const JobRow& row) {
  size_t bytes = sizeof(JobRow) + row.id.size() + row.name.size() + row.error.size() +
                 row.owner.size() + row.request_id.size() + row.request_fingerprint.size() +
                 row.spec.SpaceUsedLong();
  if (row.latest) bytes += row.latest->SpaceUsedLong();
  for (const auto& [key, value] : row.labels) bytes += key.size() + value.size() + 64;
  return bytes;
}

void CachedStore::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) const {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  rows_.erase(it);
}

void CachedStore::EvictLocked() const {
  while (!lru_.empty() && (rows_.size() > max_rows_ || bytes_ > kMaxBytes)) {
    EraseLocked(rows_.find(lru_.back()));
  }
}

int64_t CachedStore::hits() const {
  MutexLock lock(&mu_);
  return hits_;
}

int64_t CachedStore::misses() const {
  MutexLock lock(&mu_);
  return misses_;
}

size_t CachedStore::rows() const {
  MutexLock lock(&mu_);
  return rows_.size();
}

size_t CachedStore::tracked_writes() const {
  MutexLock lock(&mu_);
  return written_.size();
}

uint64_t CachedStore::BeginReadLocked() const {
  ++reading_;
  return clock_;
}

bool CachedStore::EndReadLocked(const std::string& id, uint64_t began) const {
  bool keep = all_written_ <= began;
  if (keep) {
    auto it = written_.find(id);
    keep = it == written_.end() || it->second <= began;
  }
  if (--reading_ == 0) written_.clear();  // no read is left to stop
  return keep;
}

void CachedStore::WroteLocked(const std::string& id) {
  ++clock_;
  if (reading_ == 0) return;  // no read in flight to stop
  if (written_.size() >= kMaxTrackedWrites && written_.count(id) == 0) {
    WroteAllLocked();  // bounded: as a write of every job
    return;
  }
  written_[id] = clock_;
}

void CachedStore::WroteAllLocked() {
  ++clock_;
  all_written_ = clock_;
  written_.clear();
}

StatusOr<JobRow> CachedStore::GetJob(const std::string& id, ReadPoints points) const {
  if (shared_ || points == ReadPoints::kYes) return inner_->GetJob(id, points);
  uint64_t began;
  {
    MutexLock lock(&mu_);
    auto it = rows_.find(id);
    if (it != rows_.end()) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.row;
    }
    ++misses_;
    began = BeginReadLocked();
  }
  auto row = inner_->GetJob(id, points);
  MutexLock lock(&mu_);
  // A write of this job since the read began may have come after it: what
  // was read may be stale already.
  if (!EndReadLocked(id, began) || !row.ok() || rows_.count(id) != 0) return row;
  const size_t bytes = RowBytes(*row);
  if (bytes > kMaxRowBytes) return row;  // a large preview or schema: read it each time
  lru_.push_front(id);
  rows_.emplace(id, Entry{*row, lru_.begin(), bytes});
  bytes_ += bytes;
  EvictLocked();
  return row;
}

size_t CachedStore::blob_lists() const {
  MutexLock lock(&mu_);
  return blobs_.size();
}

StatusOr<std::vector<int64_t>> CachedStore::ListBlobs(const std::string& job_id,
                                                      BlobKind kind) const {
  if (shared_) return inner_->ListBlobs(job_id, kind);
  const BlobsKey key{job_id, kind};
  uint64_t began;
  {
    MutexLock lock(&mu_);
    auto it = blobs_.find(key);
    if (it != blobs_.end()) {
      ++hits_;
      blobs_lru_.splice(blobs_lru_.begin(), blobs_lru_, it->second.lru);
      return it->second.epochs;
    }
    ++misses_;
    began = BeginReadLocked();
  }
  auto epochs = inner_->ListBlobs(job_id, kind);
  MutexLock lock(&mu_);
  if (!EndReadLocked(job_id, began) || !epochs.ok() || blobs_.count(key) != 0) return epochs;
  blobs_lru_.push_front(key);
  blobs_.emplace(key, Blobs{*epochs, blobs_lru_.begin()});
  if (blobs_.size() > max_rows_) {
    blobs_.erase(blobs_lru_.back());
    blobs_lru_.pop_back();
  }
  return epochs;
}

Status CachedStore::PutBlob(const BlobKey& key, const std::string& bytes) {
  Status put = inner_->PutBlob(key, bytes);
  InvalidateBlobs(key.job_id, key.kind);
  return put;
}

Status CachedStore::DeleteBlob(const BlobKey& key) {
  Status deleted = inner_->DeleteBlob(key);
  InvalidateBlobs(key.job_id, key.kind);
  return deleted;
}

void CachedStore::InvalidateBlobs(const std::string& id, std::optional<BlobKind> kind) {
  if (shared_) return;
  MutexLock lock(&mu_);
  WroteLocked(id);
  for (BlobKind k : {BlobKind::kCheckpoint, BlobKind::kSnapshot}) {
    if (kind && *kind != k) continue;
    auto it = blobs_.find({id, k});
    if (it == blobs_.end()) continue;
    blobs_lru_.erase(it->second.lru);
    blobs_.erase(it);
  }
}

void CachedStore::Invalidate(const std::string& id) {
  if (shared_) return;
  MutexLock lock(&mu_);
  WroteLocked(id);
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  EraseLocked(it);
}

void CachedStore::InvalidateAll() {
  if (shared_) return;
  MutexLock lock(&mu_);
  WroteAllLocked();
  rows_.clear();
  lru_.clear();
  bytes_ = 0;
  blobs_.clear();
  blobs_lru_.clear();
}

void CachedStore::InvalidateUnended() {
  if (shared_) return;
  MutexLock lock(&mu_);
  WroteAllLocked();
  for (auto it = rows_.begin(); it != rows_.end();) {
    auto next = std::next(it);
    if (!IsTerminalState(it->second.row.state)) EraseLocked(it);
    it = next;
  }
}

StatusOr<InsertResult> CachedStore::InsertJob(const JobRow& row, const v1::JobEvent& first,
                                              const Quota& quota) {
  auto inserted = inner_->InsertJob(row, first, quota);
  Invalidate(row.id);
  return inserted;
}

Status CachedStore::DeleteJob(const std::string& id) {
  Status deleted = inner_->DeleteJob(id);
  Invalidate(id);
  InvalidateBlobs(id, std::nullopt);
  return deleted;
}

Status CachedStore::AppendEvent(const JobRow& row, const v1::JobEvent& event) {
  Status appended = inner_->AppendEvent(row, event);
  if (!appended.ok() || shared_) {
    Invalidate(row.id);
    return appended;
  }
  MutexLock lock(&mu_);
  WroteLocked(row.id);
  auto it = rows_.find(row.id);
  if (it == rows_.end()) return appended;
  JobRow& kept = it->second.row;
  if (kept.last_seq != event.seq() - 1) {
    // Not the row this event follows: another write's, or one read after
    // this event was stored. Only the store knows the row now.
    EraseLocked(it);
    return appended;
  }
  // What AppendEvent stores (store.h), over the row it was stored on.
  kept.state = row.state;
  kept.error = row.error;
  kept.start_ns = row.start_ns;
  kept.end_ns = row.end_ns;
  kept.queued_ns = row.queued_ns;
  kept.epochs_done = row.epochs_done;
  kept.latest = row.latest;
  kept.last_seq = event.seq();
  // The new report may be larger (a preview, metrics): account for it.
  bytes_ -= it->second.bytes;
  it->second.bytes = RowBytes(kept);
  bytes_ += it->second.bytes;
  if (it->second.bytes > kMaxRowBytes) EraseLocked(it);
  EvictLocked();
  return appended;
}

StatusOr<std::optional<JobRow>> CachedStore::ClaimNext(const std::string& owner,
                                                       int64_t max_memory_bytes, int64_t lease_ns,
                                                       const ClaimPolicy& policy) {
  auto claimed = inner_->ClaimNext(owner, max_memory_bytes, lease_ns, policy);
  InvalidateUnended();  // the claimed job, and any the claim failed on the way
  return claimed;
}

Status CachedStore::RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) {
  Status renewed = inner_->RenewLease(id, lease, lease_ns);
  Invalidate(id);
  return renewed;
}

Status CachedStore::ExpireAllLeases() {
  Status expired = inner_->ExpireAllLeases();
  InvalidateAll();
  return expired;
}

Status CachedStore::RequestCancel(const std::string& id) {
  Status requested = inner_->RequestCancel(id);
  Invalidate(id);
  return requested;
}

StatusOr<std::optional<JobRow>> CachedStore::ClaimCancelled(const std::string& id,
                                                            const std::string& owner,
                                                            int64_t lease_ns) {
  auto claimed = inner_->ClaimCancelled(id, owner, lease_ns);
  if (!claimed.ok()) {
    InvalidateAll();  // failed without saying which job it touched
    return claimed;
  }
  if (!id.empty()) Invalidate(id);
  if (claimed->has_value()) Invalidate((*claimed)->id);
  return claimed;
}

}  // namespace gantry
