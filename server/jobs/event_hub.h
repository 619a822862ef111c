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
// followers' notifiers without holding any lock of the hub's. Lock order:
// EventHub::mu_, then a LiveEvents' mu_; a Notifier's mu_ (held while its
// function runs), then a LiveEvents' mu_ (the function reads the log).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gantry/v1/gantry.pb.h"
#include "proto/job_state.h"
#include "server/util/mutex.h"

namespace gantry {

// Calls a follower back when a log changes. Detach() waits for a call in
// progress and prevents later ones, so the follower may then be destroyed.
class Notifier {
 public:
  explicit Notifier(std::function<void()> fn) : fn_(std::move(fn)) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void Notify() EXCLUDES(mu_);
  void Detach() EXCLUDES(mu_);
  bool detached() const;

 private:
  mutable Mutex mu_;  // held while fn_ runs, so Detach waits for a call in progress
  std::function<void()> fn_ GUARDED_BY(mu_);  // empty once detached
  // Read without mu_ (Subscribe checks it while holding a log's lock, and a
  // call in progress holds mu_ while it takes that lock).
  std::atomic<bool> detached_{false};
};

bool IsTerminalEvent(const v1::JobEvent& event);

// One live job's newest events and its followers.
class LiveEvents {
 public:
  static constexpr size_t kTailEvents = 256;
  static constexpr size_t kTailBytes = 4 << 20;

  LiveEvents() = default;
  LiveEvents(const LiveEvents&) = delete;
  LiveEvents& operator=(const LiveEvents&) = delete;

  // The event with this seq while it is in the tail, else nullptr.
  std::shared_ptr<const v1::JobEvent> At(int64_t seq) const EXCLUDES(mu_);
  // Seq of the newest published event (0: none since the job went live).
  int64_t last_seq() const EXCLUDES(mu_);
  // Seq of the published terminal event (0: none).
  int64_t terminal_seq() const EXCLUDES(mu_);
  bool interrupted() const EXCLUDES(mu_);

  void Subscribe(std::shared_ptr<Notifier> notifier) EXCLUDES(mu_);

 private:
  friend class EventHub;
  void Publish(std::shared_ptr<const v1::JobEvent> event) EXCLUDES(mu_);
  void Interrupt() EXCLUDES(mu_);
  // Calls every notifier, without mu_ (a notifier reads this log).
  void NotifyAll() EXCLUDES(mu_);

  mutable Mutex mu_;
  std::deque<std::shared_ptr<const v1::JobEvent>> tail_ GUARDED_BY(mu_);  // consecutive seqs
  size_t tail_bytes_ GUARDED_BY(mu_) = 0;
  int64_t last_seq_ GUARDED_BY(mu_) = 0;
  int64_t terminal_seq_ GUARDED_BY(mu_) = 0;
  bool interrupted_ GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<Notifier>> notifiers_ GUARDED_BY(mu_);
};

class EventHub {
 public:
  EventHub() = default;
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The job's live events, created when nobody holds them. Hold the result
  // for as long as you follow (or publish to) the job.
  std::shared_ptr<LiveEvents> Live(const std::string& job_id) EXCLUDES(mu_);
  // Publishes a stored event to the job's followers (if any).
  void Publish(const std::string& job_id, v1::JobEvent event) EXCLUDES(mu_);
  // Wakes the job's followers without an event (another process stored
  // one: they read it from the store). Nudge("") wakes every follower (the
  // shared store's poll).
  void Nudge(const std::string& job_id) EXCLUDES(mu_);
  // Ends every follower's wait (the server drains): they see interrupted(),
  // and so do followers of logs created later.
  void InterruptAll() EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::map<std::string, std::weak_ptr<LiveEvents>> live_ GUARDED_BY(mu_);
  bool interrupted_ GUARDED_BY(mu_) = false;
  size_t swept_size_ GUARDED_BY(mu_) = 0;
};

}  // namespace gantry
