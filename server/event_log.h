// EventLog: one job's events, in order, for replay and live followers.
//
// Events are numbered 1, 2, 3, ... (JobEvent.seq). The log keeps every
// event of the job, so a follower never needs a private queue: it holds a
// cursor (the next seq it wants) and reads from here at its own pace. A slow
// or stalled follower therefore costs training nothing and no memory beyond
// its cursor. Followers learn of new events through a Notifier, which the
// appending thread calls without holding the log's lock.
//
// The log ends when the job's terminal state event is appended; it is
// interrupted (without ending) when the server drains.
//
// Thread-safety: all methods are safe from any thread. Guarded by mu_.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "gantry/v1/gantry.pb.h"

namespace gantry {

// Calls a follower back when the log changes. Detach() waits for a call in
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
};

class EventLog {
 public:
  explicit EventLog(std::string job_id) : job_id_(std::move(job_id)) {}
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Sets the event's seq (the next one), job id and time, without storing it:
  // the caller can make it durable first, then Append() it. A job's events
  // come from one writer at a time, so the seq stays valid until then.
  void Stamp(v1::JobEvent* event) const;
  // Stores the event (stamping it first if its seq is 0) and notifies
  // followers. Returns its seq.
  int64_t Append(v1::JobEvent event);
  // Restores an already numbered event (seq must be last_seq() + 1), without
  // notifying. Used when loading a job from the store.
  void Restore(v1::JobEvent event);

  // The event with this seq, or nullptr if it does not exist (yet).
  std::shared_ptr<const v1::JobEvent> At(int64_t seq) const;
  int64_t last_seq() const;
  // Seq of the terminal state event, or 0 while the job has not ended.
  int64_t terminal_seq() const;
  // True once Interrupt() was called (server draining).
  bool interrupted() const;

  void Subscribe(std::shared_ptr<Notifier> notifier);
  // Ends every follower's wait for new events: they see interrupted().
  void Interrupt();

 private:
  void NotifyAll();

  const std::string job_id_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const v1::JobEvent>> events_;  // Guarded by mu_.
  int64_t terminal_seq_ = 0;                                   // Guarded by mu_.
  bool interrupted_ = false;                                   // Guarded by mu_.
  std::vector<std::shared_ptr<Notifier>> notifiers_;           // Guarded by mu_.
};

bool IsTerminalEvent(const v1::JobEvent& event);

}  // namespace gantry
