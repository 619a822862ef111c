#include "server/api/http_events.h"

#include <chrono>

#include "server/jobs/event_cursor.h"
#include "server/util/api_json.h"
#include "server/api/status_map.h"

namespace gantry {
namespace {

constexpr int kEventsPerWrite = 64;  // events written before the provider yields

}  // namespace

// One open stream: the transport calls Next() on a handler thread, one call
// at a time. The notifier only wakes the transport (a post): the trainer's
// thread that appends an event never waits on a socket or the store.
struct EventStreams::Stream : HttpStream {
  Stream(EventStreams& owner, std::unique_ptr<EventCursor> c, std::string id)
      : streams(owner), cursor(std::move(c)), job_id(std::move(id)) {}

  Poll Next(std::string* out) override;
  std::string KeepAlive() override { return ": keep-alive\n\n"; }
  void Closed(bool client_gone) override;

  EventStreams& streams;
  const std::unique_ptr<EventCursor> cursor;
  const std::string job_id;
  std::shared_ptr<Notifier> notifier;
  bool first = true;
  Calls::Clock::time_point start = Calls::Clock::now();
  grpc::Status status;  // how it ended, for the log line
};

HttpStream::Poll EventStreams::Stream::Next(std::string* out) {
  if (first) {
    *out = "retry: 1000\n\n";  // browsers reconnect after 1 s
    first = false;
  }
  for (int n = 0; n < kEventsPerWrite; ++n) {
    std::shared_ptr<const v1::JobEvent> event;
    const EventCursor::Step step = cursor->Next(&event);
    if (step == EventCursor::Step::kWait) {
      if (streams.stopped()) {
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
        return Poll::kEnd;
      }
      return Poll::kWait;
    }
    if (step != EventCursor::Step::kEvent) {
      if (step == EventCursor::Step::kFailed) {
        status = ToGrpcStatus(cursor->status());
      } else if (step == EventCursor::Step::kInterrupted) {
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the server is shutting down; reconnect with Last-Event-ID: " +
                                  std::to_string(cursor->next_seq() - 1));
      }
      return Poll::kEnd;
    }
    *out += "id: " + std::to_string(event->seq()) + "\ndata: " + ApiJson(*event) + "\n\n";
    cursor->Advance();
  }
  return Poll::kMore;
}

void EventStreams::Stream::Closed(bool client_gone) {
  if (client_gone && status.ok()) {
    status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  notifier->Detach();
  streams.Release();
  streams.calls_.Log("WatchJob(http)", job_id, status, start);
}

bool EventStreams::TryReserve() {
  if (stopped_) return false;
  int open = open_.load();
  while (open < max_streams_) {
    if (open_.compare_exchange_weak(open, open + 1)) {
      calls_.StreamOpened();
      return true;
    }
  }
  return false;
}

void EventStreams::Release() {
  open_.fetch_sub(1);
  calls_.StreamClosed();
}

void EventStreams::Stop() { stopped_ = true; }

void EventStreams::Serve(std::unique_ptr<EventCursor> cursor, const std::string& job_id,
                         HttpResponse& res) {
  auto stream = std::make_shared<Stream>(*this, std::move(cursor), job_id);
  std::weak_ptr<Stream> weak = stream;
  stream->notifier = std::make_shared<Notifier>([weak] {
    if (auto s = weak.lock()) s->Wake();
  });
  stream->cursor->Subscribe(stream->notifier);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.content_type = "text/event-stream";
  res.stream = std::move(stream);
}

}  // namespace gantry
