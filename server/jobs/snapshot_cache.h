// SnapshotCache: generator snapshots read from the store's blobs, kept in
// memory up to a byte budget (least recently used first out). A snapshot
// evicted from memory is read again from its blob when asked for, so a kept
// epoch never becomes NOT_FOUND because of memory.
//
// Thread-safety: every method is safe from any thread. Blobs are read and
// deserialised without holding the cache's lock.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "core/snapshot.h"
#include "core/status.h"
#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

class SnapshotCache {
 public:
  SnapshotCache(const Store* store, int64_t max_bytes) : store_(store), max_bytes_(max_bytes) {}
  SnapshotCache(const SnapshotCache&) = delete;
  SnapshotCache& operator=(const SnapshotCache&) = delete;

  // The job's snapshot of `epoch`, from memory or its blob. NOT_FOUND when
  // no blob exists; DATA_LOSS when it is unreadable.
  StatusOr<std::shared_ptr<const GeneratorSnapshot>> Get(const std::string& job_id, int64_t epoch)
      EXCLUDES(mu_);
  // The job's snapshot of `epoch` if it is in memory (null if not): never
  // reads the store.
  std::shared_ptr<const GeneratorSnapshot> Peek(const std::string& job_id, int64_t epoch)
      EXCLUDES(mu_);
  // Drops the job's snapshots (it was deleted).
  void Forget(const std::string& job_id) EXCLUDES(mu_);

  int64_t bytes() const EXCLUDES(mu_);

  static int64_t SizeOf(const GeneratorSnapshot& snapshot);

 private:
  using Key = std::pair<std::string, int64_t>;
  struct Entry {
    std::shared_ptr<const GeneratorSnapshot> snapshot;
    int64_t bytes = 0;
    std::list<Key>::iterator lru;
  };
  void InsertLocked(const Key& key, std::shared_ptr<const GeneratorSnapshot> snapshot)
      REQUIRES(mu_);

  const Store* const store_;
  const int64_t max_bytes_;
  mutable Mutex mu_;
  std::map<Key, Entry> entries_ GUARDED_BY(mu_);
  std::list<Key> lru_ GUARDED_BY(mu_);  // most recent first
  int64_t bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace gantry
