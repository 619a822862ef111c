#include "server/store/cached_store.h"

#include <algorithm>
#include <utility>

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

StatusOr<JobRow> CachedStore::GetJob(const std::string& id, ReadPoints points) const {
  if (shared_ || points == ReadPoints::kYes) return inner_->GetJob(id, points);
  uint64_t generation;
  {
    MutexLock lock(&mu_);
    auto it = rows_.find(id);
    if (it != rows_.end()) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.row;
    }
    ++misses_;
    generation = generation_;
  }
  auto row = inner_->GetJob(id, points);
  if (!row.ok()) return row;
  MutexLock lock(&mu_);
  // A write of any job since `generation` may have been this one's, after
  // the read: what was read may be stale already.
  if (generation != generation_ || rows_.count(id) != 0) return row;
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
  uint64_t generation;
  {
    MutexLock lock(&mu_);
    auto it = blobs_.find(key);
    if (it != blobs_.end()) {
      ++hits_;
      blobs_lru_.splice(blobs_lru_.begin(), blobs_lru_, it->second.lru);
      return it->second.epochs;
    }
    ++misses_;
    generation = generation_;
  }
  auto epochs = inner_->ListBlobs(job_id, kind);
  if (!epochs.ok()) return epochs;
  MutexLock lock(&mu_);
  if (generation != generation_ || blobs_.count(key) != 0) return epochs;
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
  ++generation_;
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
  ++generation_;
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  EraseLocked(it);
}

void CachedStore::InvalidateAll() {
  if (shared_) return;
  MutexLock lock(&mu_);
  ++generation_;
  rows_.clear();
  lru_.clear();
  bytes_ = 0;
  blobs_.clear();
  blobs_lru_.clear();
}

void CachedStore::AfterClaim(const StatusOr<std::optional<JobRow>>& claimed) {
  if (!claimed.ok()) {
    InvalidateAll();
  } else if (claimed->has_value()) {
    Invalidate((*claimed)->id);
  }
}

StatusOr<InsertResult> CachedStore::InsertJob(const JobRow& row, const v1::JobEvent& first) {
  auto inserted = inner_->InsertJob(row, first);
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
  ++generation_;
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
                                                       int64_t max_memory_bytes, int64_t lease_ns) {
  auto claimed = inner_->ClaimNext(owner, max_memory_bytes, lease_ns);
  AfterClaim(claimed);
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
  if (!id.empty()) Invalidate(id);
  AfterClaim(claimed);
  return claimed;
}

}  // namespace gantry
