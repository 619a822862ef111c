// EventStreams: the HTTP gateway's Server-Sent Events for one job's events
// (GET /v1/jobs/{id}/events), bounded in number.
//
// Each stream is an EventCursor over the job's events (the same follower
// logic as gRPC's WatchJob): it replays the stored events from from_seq,
// then follows the live tail, and ends after the terminal event. Every event
// is one SSE message whose `id:` is the event's seq and whose `data:` is the
// JobEvent in protobuf's canonical JSON, so a client that reconnects with
// `Last-Event-ID: N` resumes at seq N + 1, exactly like from_seq. A comment
// line is written every few seconds while nothing happens, which also finds
// clients that went away. While the server drains, streams end; browsers
// reconnect by themselves.
//
// Bounds: at most `max_streams` streams are open at once (the caller answers
// 503 beyond it); a stream holds its cursor and the one event it is writing,
// never a queue. An open stream holds no thread: the transport asks it for
// text when its cursor's notifier wakes it (the notifier only posts) or a
// keep-alive interval passes, on a handler thread (the cursor may read the
// store there).
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "server/api/calls.h"
#include "server/api/http_message.h"

namespace gantry {

class EventStreams {
 public:
  EventStreams(const Calls& calls, int max_streams) : calls_(calls), max_streams_(max_streams) {}
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  // Reserves a slot for a new stream; false when max_streams are open or
  // after Stop().
  bool TryReserve();
  // Serves the stream into `res` (text/event-stream) with a reserved slot,
  // which it releases when the stream ends.
  void Serve(std::unique_ptr<EventCursor> cursor, const std::string& job_id, HttpResponse& res);
  // Refuses new streams; open ones end at their next wake-up (at most a
  // keep-alive interval; at once when the server drains, which interrupts
  // every event log).
  void Stop();

  int max_streams() const { return max_streams_; }
  bool stopped() const { return stopped_.load(); }

 private:
  struct Stream;
  void Release();

  const Calls& calls_;
  const int max_streams_;
  std::atomic<int> open_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace gantry
