// Helpers for the server's unit tests: jobs and events in a MemoryStore, a
// Store decorator that counts (and can fail) reads, a gate that holds a
// thread until the test opens it, and a wait with a deadline.
//
// Deadlines here only bound a test that would otherwise hang; no test
// asserts how long anything took.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/store/forwarding_store.h"
#include "server/store/memory_store.h"
#include "server/store/store.h"
#include "tests/common/job_events.h"

namespace gantry::unit {

// How long a test waits for something that must happen before it fails.
inline constexpr auto kDeadline = std::chrono::seconds(20);

// Polls `done` until it is true or kDeadline passes; returns done().
inline bool WaitUntil(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Holds threads in Wait() until Open().
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // False when kDeadline passed first.
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [this] { return open_; });
  }
  bool is_open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using test::EpochEvent;
using test::StateEvent;

// Stores a QUEUED job (its first event, seq 1, QUEUED) and returns its row.
inline JobRow InsertQueued(Store* store, const std::string& id, int64_t memory_bytes = 0) {
  JobRow row;
  row.id = id;
  row.memory_bytes = memory_bytes;
  row.state = v1::JOB_STATE_QUEUED;
  row.create_ns = NowNs();
  auto inserted = store->InsertJob(row, StateEvent(1, v1::JOB_STATE_QUEUED));
  EXPECT_TRUE(inserted.ok()) << inserted.status().ToString();
  return inserted.ok() ? inserted->row : row;
}

// Appends `event` (its seq: row->last_seq + 1) under row's lease, with the
// row's state set to `state` (end_ns `end_ns` when it ends the job).
inline Status Append(Store* store, JobRow* row, v1::JobEvent event, v1::JobState state,
                     int64_t end_ns = 0) {
  event.set_seq(row->last_seq + 1);
  row->state = state;
  if (IsTerminalState(state)) row->end_ns = end_ns != 0 ? end_ns : NowNs();
  Status s = store->AppendEvent(*row, event);
  if (s.ok()) row->last_seq = event.seq();
  return s;
}

// Ends the job in the store with `state`.
inline Status End(Store* store, JobRow* row, v1::JobState state, int64_t end_ns = 0) {
  return Append(store, row, StateEvent(0, state), state, end_ns);
}

// Holds the MemoryStore that CountingStore wraps, so that it is built
// before the ForwardingStore base that points to it.
struct MemoryHolder {
  MemoryStore memory;
};

// Passes every call to a MemoryStore, counting ReadEvents (the limits asked
// for and the bytes returned), ClaimNext (and what it claimed) and GetBlob;
// ReadEvents fails while fail_reads is set.
class CountingStore final : private MemoryHolder, public ForwardingStore {
 public:
  struct Read {
    int64_t from_seq = 0;
    int limit = 0;
    size_t events = 0;
    size_t bytes = 0;
  };

  CountingStore() : ForwardingStore(&memory) {}

  std::vector<Read> reads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }
  int claims() const { return claims_; }
  // The ids ClaimNext returned, in order.
  std::vector<std::string> claimed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return claimed_;
  }
  int blob_reads() const { return blob_reads_; }
  std::atomic<bool> fail_reads{false};

  std::string Describe() const override { return "counting " + inner_->Describe(); }
  StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                 int limit) const override {
    if (fail_reads) return Status::Unavailable("the test's store is down");
    auto events = inner_->ReadEvents(id, from_seq, limit);
    if (events.ok()) {
      Read read{from_seq, limit, events->size(), 0};
      for (const auto& e : *events) read.bytes += e.ByteSizeLong();
      std::lock_guard<std::mutex> lock(mu_);
      reads_.push_back(read);
    }
    return events;
  }
  using ForwardingStore::ClaimNext;
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns, const ClaimPolicy& policy) override {
    ++claims_;
    auto claimed = inner_->ClaimNext(owner, max_memory_bytes, lease_ns, policy);
    if (claimed.ok() && claimed->has_value()) {
      std::lock_guard<std::mutex> lock(mu_);
      claimed_.push_back((*claimed)->id);
    }
    return claimed;
  }
  StatusOr<std::string> GetBlob(const BlobKey& key) const override {
    ++blob_reads_;
    return inner_->GetBlob(key);
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<Read> reads_;   // Guarded by mu_.
  std::vector<std::string> claimed_;  // Guarded by mu_.
  std::atomic<int> claims_{0};
  mutable std::atomic<int> blob_reads_{0};
};

}  // namespace gantry::unit
