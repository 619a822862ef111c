// EventCursor: one follower's position in a job's EventLog, and the one
// definition of what a follower does next (send an event, wait, or end),
// shared by gRPC's WatchJob and HTTP's Server-Sent Events.
//
// Thread-safety: none; each follower owns its cursor (the EventLog itself is
// thread-safe).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

#include "server/event_log.h"

namespace gantry {

class EventCursor {
 public:
  enum class Step {
    kEvent,        // *event is the next one; call Advance() once it is sent
    kWait,         // nothing new yet: wait for the log's notifier
    kEnd,          // the terminal event was sent: end with OK
    kInterrupted,  // the server is draining: end; resume from next_seq()
  };

  // from_seq 0 or 1: from the first event.
  EventCursor(std::shared_ptr<EventLog> log, int64_t from_seq)
      : log_(std::move(log)), next_seq_(std::max<int64_t>(1, from_seq)) {}

  Step Next(std::shared_ptr<const v1::JobEvent>* event) const {
    if ((*event = log_->At(next_seq_))) return Step::kEvent;
    const int64_t terminal = log_->terminal_seq();
    if (terminal > 0 && next_seq_ > terminal) return Step::kEnd;
    if (log_->interrupted()) return Step::kInterrupted;
    return Step::kWait;
  }
  void Advance() { ++next_seq_; }
  int64_t next_seq() const { return next_seq_; }
  EventLog& log() const { return *log_; }

 private:
  const std::shared_ptr<EventLog> log_;
  int64_t next_seq_;
};

}  // namespace gantry
