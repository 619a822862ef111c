// EventHub: live fan-out of the events of jobs that are running or queued.
//
// Every event is stored first (Store::AppendEvent) and published here after:
// the hub only wakes followers and keeps a short tail of each live job's
// newest events, so that followers that keep up never touch the store. A
// follower that falls behind the tail, or follows an ended job, reads pages
// from the store (EventCursor). Memory is bounded: per live job at most
// kTailEvents events and kTailBytes bytes; a job's LiveEvents exist only
// while its runner or a follower holds them.
//
// Thread-safety: every method is safe from any thread. Publishing calls the
// followers' notifiers without holding any lock of the hub's.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gantry/v1/gantry.pb.h"
#include "proto/job_state.h"

namespace gantry {

// Calls a follower back when a log changes. Detach() waits for a call in
// progress and prevents later ones, so the follower may then be destroyed.
class Notifier {
 public:
  explicit Notifier(std::function<void()> fn) : fn_(std::move(fn)) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void Notify();
  void Detach();
  bool detached() const;

 private:
  mutable std::mutex mu_;
  std::function<void()> fn_;  // Guarded by mu_; empty once detached.
  // Read without mu_ (Subscribe checks it while holding a log's lock, and a
  // call in progress holds mu_ while it takes that lock).
  std::atomic<bool> detached_{false};
};

bool IsTerminalEvent(const v1::JobEvent& event);

// One live job's newest events and its followers. Guarded by mu_.
class LiveEvents {
 public:
  static constexpr size_t kTailEvents = 256;
  static constexpr size_t kTailBytes = 4 << 20;

  LiveEvents() = default;
  LiveEvents(const LiveEvents&) = delete;
  LiveEvents& operator=(const LiveEvents&) = delete;

  // The event with this seq while it is in the tail, else nullptr.
  std::shared_ptr<const v1::JobEvent> At(int64_t seq) const;
  // Seq of the newest published event (0: none since the job went live).
  int64_t last_seq() const;
  // Seq of the published terminal event (0: none).
  int64_t terminal_seq() const;
  bool interrupted() const;

  void Subscribe(std::shared_ptr<Notifier> notifier);

 private:
  friend class EventHub;
  void Publish(std::shared_ptr<const v1::JobEvent> event);
  void Interrupt();
  void NotifyAll();

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const v1::JobEvent>> tail_;  // consecutive seqs
  size_t tail_bytes_ = 0;
  int64_t last_seq_ = 0;
  int64_t terminal_seq_ = 0;
  bool interrupted_ = false;
  std::vector<std::shared_ptr<Notifier>> notifiers_;
};

class EventHub {
 public:
  EventHub() = default;
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The job's live events, created when nobody holds them. Hold the result
  // for as long as you follow (or publish to) the job.
  std::shared_ptr<LiveEvents> Live(const std::string& job_id);
  // Publishes a stored event to the job's followers (if any).
  void Publish(const std::string& job_id, v1::JobEvent event);
  // Wakes the job's followers without an event (another process stored
  // one: they read it from the store). Nudge("") wakes every follower (the
  // shared store's poll).
  void Nudge(const std::string& job_id);
  // Ends every follower's wait (the server drains): they see interrupted(),
  // and so do followers of logs created later.
  void InterruptAll();

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<LiveEvents>> live_;  // Guarded by mu_.
  bool interrupted_ = false;                               // Guarded by mu_.
  size_t swept_size_ = 0;                                  // Guarded by mu_.
};

}  // namespace gantry
