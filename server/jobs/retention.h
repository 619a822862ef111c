// Retention: deletes ended jobs beyond the policy (older than
// retention_seconds, and all but the newest retention_count), every few
// seconds on its own thread, through the manager's delete.
//
// Thread-safety: RunOnce() is safe from any thread; Start/Stop from one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "core/status.h"
#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

class Retention {
 public:
  using DeleteFn = std::function<Status(const std::string& id)>;
  Retention(int64_t retention_seconds, int64_t retention_count, const Store* store, DeleteFn remove)
      : seconds_(retention_seconds),
        count_(retention_count),
        store_(store),
        remove_(std::move(remove)) {}
  ~Retention() { Stop(); }
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  bool enabled() const { return seconds_ > 0 || count_ > 0; }
  // Starts the janitor thread when a policy is set (once: again is a no-op).
  void Start();
  void Stop() EXCLUDES(mu_);
  // Deletes what the policy expires now. Returns how many jobs.
  int RunOnce() EXCLUDES(mu_);

 private:
  const int64_t seconds_, count_;
  const Store* const store_;
  const DeleteFn remove_;
  Mutex mu_;  // never held while the janitor deletes
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gantry
