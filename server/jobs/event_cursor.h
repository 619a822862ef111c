// EventCursor: one follower's position in a job's events, and the one
// definition of what a follower does next (send an event, wait, or end),
// shared by gRPC's WatchJob and HTTP's Server-Sent Events.
//
// It reads from the job's live tail (EventHub) while it keeps up, and pages
// of at most kPageEvents events (fewer when events are large, about
// kPageBytes) from the store when it is behind or the job has ended, so a
// follower holds at most one page.
//
// Thread-safety: none; each follower owns its cursor (the store and the
// live events are thread-safe). Next() may read the store.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "core/status.h"
#include "server/jobs/event_hub.h"
#include "server/store/store.h"

namespace gantry {

class EventCursor {
 public:
  static constexpr int kPageEvents = 256;
  static constexpr size_t kPageBytes = 1 << 20;

  enum class Step {
    kEvent,        // *event is the next one; call Advance() once it is sent
    kWait,         // nothing new yet: wait for the live events' notifier
    kEnd,          // the terminal event was sent: end with OK
    kInterrupted,  // the server is draining: end; resume from next_seq()
    kFailed,       // the store failed: end with status()
  };

  // `live` is null for a job that has ended (terminal_seq > 0: the seq of
  // its terminal event). from_seq 0 or 1: from the first event.
  EventCursor(const Store* store, std::string job_id, std::shared_ptr<LiveEvents> live,
              int64_t terminal_seq, int64_t from_seq);

  Step Next(std::shared_ptr<const v1::JobEvent>* event);
  void Advance() { ++next_seq_; }
  int64_t next_seq() const { return next_seq_; }
  const Status& status() const { return status_; }
  // The seq of the job's terminal event when known (0: not yet).
  int64_t terminal_seq() const { return terminal_seq_; }
  // The job's events may be stored by another process: when nothing is
  // live at next_seq(), read the store rather than wait.
  void set_shared() { shared_ = true; }
  // Calls `notifier` when new events are published (never, for an ended job).
  void Subscribe(std::shared_ptr<Notifier> notifier);

 private:
  const Store* const store_;
  const std::string job_id_;
  const std::shared_ptr<LiveEvents> live_;  // null: ended
  int64_t terminal_seq_;
  int64_t next_seq_;
  std::deque<std::shared_ptr<const v1::JobEvent>> page_;  // consecutive, from the store
  size_t event_bytes_ = 0;  // size of the last event read, to size pages
  Status status_;
  bool shared_ = false;
};

}  // namespace gantry
