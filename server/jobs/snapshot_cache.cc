#include "server/jobs/snapshot_cache.h"

namespace gantry {

int64_t SnapshotCache::SizeOf(const GeneratorSnapshot& snapshot) {
  int64_t bytes = 256;
  for (const auto& t : snapshot.tensors()) bytes += static_cast<int64_t>(t.nbytes()) + 64;
  return bytes;
}

StatusOr<std::shared_ptr<const GeneratorSnapshot>> SnapshotCache::Get(const std::string& job_id,
                                                                      int64_t epoch) {
  const Key key{job_id, epoch};
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.snapshot;
    }
  }
  auto bytes = store_->GetBlob({job_id, BlobKind::kSnapshot, epoch});
  if (!bytes.ok()) return bytes.status();
  auto snapshot = DeserializeSnapshot(*bytes);
  if (!snapshot.ok()) return snapshot.status();
  MutexLock lock(&mu_);
  InsertLocked(key, *snapshot);
  return *snapshot;
}

std::shared_ptr<const GeneratorSnapshot> SnapshotCache::Peek(const std::string& job_id,
                                                              int64_t epoch) {
  MutexLock lock(&mu_);
  auto it = entries_.find({job_id, epoch});
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.snapshot;
}

void SnapshotCache::InsertLocked(const Key& key,
                                 std::shared_ptr<const GeneratorSnapshot> snapshot) {
  if (entries_.count(key) != 0) return;
  const int64_t size = SizeOf(*snapshot);
  if (size > max_bytes_) return;  // larger than the whole budget: never kept
  lru_.push_front(key);
  entries_[key] = Entry{std::move(snapshot), size, lru_.begin()};
  bytes_ += size;
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
  }
}

void SnapshotCache::Forget(const std::string& job_id) {
  MutexLock lock(&mu_);
  for (auto it = entries_.lower_bound({job_id, INT64_MIN});
       it != entries_.end() && it->first.first == job_id;) {
    bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    it = entries_.erase(it);
  }
}

int64_t SnapshotCache::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace gantry
