#include "server/http_events.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <chrono>

#include "server/event_cursor.h"
#include "server/status_map.h"

namespace gantry {
namespace {

constexpr auto kKeepAlive = std::chrono::seconds(5);
constexpr int kEventsPerWrite = 64;  // events written before the provider yields

}  // namespace

// One open stream. The notifier only sets `kicked` and signals `cv`: the
// trainer's thread that appends an event never waits on a socket.
struct EventStreams::Stream {
  explicit Stream(std::unique_ptr<EventCursor> c) : cursor(std::move(c)) {}
  const std::unique_ptr<EventCursor> cursor;  // used by the one HTTP thread serving the stream
  std::shared_ptr<Notifier> notifier;
  std::mutex mu;
  std::condition_variable cv;
  bool kicked = false;  // Guarded by mu.
  Calls::Clock::time_point start = Calls::Clock::now();
  std::string job_id;
  grpc::Status status;  // how it ended, for the log line
};

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
                         httplib::Response& res) {
  auto stream = std::make_shared<Stream>(std::move(cursor));
  stream->job_id = job_id;
  std::weak_ptr<Stream> weak = stream;
  stream->notifier = std::make_shared<Notifier>([weak] {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> lock(s->mu);
      s->kicked = true;
      s->cv.notify_one();
    }
  });
  stream->cursor->Subscribe(stream->notifier);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");

  auto provider = [this, stream, first = true](size_t, httplib::DataSink& sink) mutable {
    std::string out;
    if (first) {
      out = "retry: 1000\n\n";  // browsers reconnect after 1 s
      first = false;
    }
    for (int n = 0; n < kEventsPerWrite; ++n) {
      std::shared_ptr<const v1::JobEvent> event;
      const EventCursor::Step step = stream->cursor->Next(&event);
      if (step == EventCursor::Step::kWait) break;
      if (step != EventCursor::Step::kEvent) {
        if (step == EventCursor::Step::kFailed) {
          stream->status = ToGrpcStatus(stream->cursor->status());
        } else if (step == EventCursor::Step::kInterrupted) {
          stream->status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "the server is shutting down; reconnect with "
                                        "Last-Event-ID: " +
                                            std::to_string(stream->cursor->next_seq() - 1));
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        sink.done();
        return true;
      }
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.always_print_primitive_fields = true;
      (void)google::protobuf::util::MessageToJsonString(*event, &json, options);
      out += "id: " + std::to_string(event->seq()) + "\ndata: " + json + "\n\n";
      stream->cursor->Advance();
    }
    if (!out.empty()) {
      if (!sink.write(out.data(), out.size())) {
        stream->status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        return false;
      }
      return true;
    }
    if (stopped_) {
      stream->status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
      sink.done();
      return true;
    }
    // Nothing to send: wait for the log (or Stop()), then try again.
    {
      std::unique_lock<std::mutex> lock(stream->mu);
      stream->cv.wait_for(lock, kKeepAlive, [&] { return stream->kicked || stopped_.load(); });
      const bool kicked = stream->kicked;
      stream->kicked = false;
      if (kicked || stopped_) return true;
    }
    static const char kComment[] = ": keep-alive\n\n";
    if (!sink.write(kComment, sizeof kComment - 1)) {
      stream->status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      return false;
    }
    return true;
  };
  auto releaser = [this, stream](bool) {
    stream->notifier->Detach();
    Release();
    calls_.Log("WatchJob(http)", stream->job_id, stream->status, stream->start);
  };
  res.set_chunked_content_provider("text/event-stream", std::move(provider), std::move(releaser));
}

}  // namespace gantry
