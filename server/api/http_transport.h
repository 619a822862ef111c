// HttpTransport: gantryd's HTTP/1.1 server underneath the routes, on
// Boost.Beast and Asio (Debian's libboost-dev; header-only).
//
// Why not a thread per connection: with one, a client that sends its
// request head a byte at a time holds a thread, and a few hundred of them
// silence /healthz. Here a few I/O threads multiplex every connection; a
// connection costs a socket and a buffer until its request is whole, and
// only a whole request reaches a handler.
//
// Bounds and deadlines (HttpLimits):
//   - connections: at most max_connections open, max_connections_per_address
//     from one client address; beyond either, a new connection is closed at
//     once (others, and other addresses, are unaffected);
//   - a request's head must arrive within head_timeout of the connection's
//     first byte being awaited (a total deadline, not one reset by each
//     byte); it is at most max_head_bytes;
//   - a body must arrive within body_timeout plus one second per MiB
//     declared; a body over max_body_bytes is refused with 413, declared or
//     chunked;
//   - a request's head is screened (credentials, origin, route) before its
//     body is read;
//   - bodies being received or handled hold the bytes received so far
//     against one body_budget_bytes, and one client address at most half of
//     it (or one max body): a piece that does not fit ends the request with
//     503 and Retry-After, so concurrent large bodies cannot multiply memory
//     and a client that declares a large body and sends nothing holds none;
//   - replies of 64 KiB or more hold their size against
//     response_budget_bytes until written; one that does not fit is replaced
//     by a 503 with Retry-After;
//   - handlers run on handler_threads threads with at most max_queued
//     requests waiting (503 beyond); a route marked `inline` (health,
//     metrics, static files) is answered on the I/O thread and never waits
//     behind handlers;
//   - a response must be written within write_timeout plus one second per
//     256 KiB; a streamed chunk within write_timeout;
//   - a request whose body was refused unread: the client's remaining bytes
//     are read and dropped for at most 5 s (a lingering close), so it reads
//     the reply rather than a reset.
// HEAD is answered as GET without the body. Transport-level 408s (a head or
// body late) are written before the connection closes.
// The listening socket does not set SO_REUSEPORT: a port another process
// listens on is refused, as gRPC refuses it.
//
// Transport-level errors (413, 431, 400 for an unparsable request, 503) are
// written by `on_error`, so that they read like the routes' own errors.
//
// Thread-safety: Start() and Shutdown() from one controlling thread; the
// handler and on_error run on the transport's threads, concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "server/api/http_message.h"

namespace gantry {

struct HttpLimits {
  int max_connections = 1000;
  int max_connections_per_address = 256;
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{60'000};
  std::chrono::milliseconds keep_alive_interval{5'000};  // streams' keep-alive text
  size_t max_head_bytes = 16 << 10;
  size_t max_body_bytes = 64 << 20;
  size_t body_budget_bytes = 128 << 20;
  size_t response_budget_bytes = 256 << 20;
  int io_threads = 2;
  int handler_threads = 8;
  size_t max_queued = 256;
};

class HttpTransport {
 public:
  // Routes a whole request: fills `res` (a body or a stream).
  using Handler = std::function<void(HttpRequest& req, HttpResponse& res)>;
  // True when the route for `req` is cheap and answered on the I/O thread.
  using IsInline = std::function<bool(const HttpRequest& req)>;
  // Looks at a request's head before its body is read (on the I/O thread:
  // no I/O): true when it is refused, with the reply in `res`. A refused
  // request's body is never read, so it holds none of the budget. It may
  // note what it found in the head (HttpRequest::caller) for the handler.
  using Screen = std::function<bool(HttpRequest& head, HttpResponse& res)>;
  // Fills `res` with a transport-level error (`http_status`, `message`).
  using OnError = std::function<void(int http_status, const std::string& message,
                                     HttpResponse& res)>;

  struct Options {
    std::string host;  // an address or a name ("localhost", "::1", "0.0.0.0")
    int port = 0;      // 0: a free port
    std::string tls_cert_file, tls_key_file;  // PEM; both or none
    // PEM CAs: a client certificate they sign is verified, and its subject
    // common name is HttpRequest::client_cert (a client need not send one).
    std::string tls_client_ca_file;
    HttpLimits limits;
  };

  // Binds and starts serving. INVALID_ARGUMENT for bad TLS files or an
  // unknown host, UNAVAILABLE when the address cannot be bound (in use).
  static StatusOr<std::unique_ptr<HttpTransport>> Start(const Options& options, Handler handler,
                                                        IsInline is_inline, Screen screen,
                                                        OnError on_error);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  int port() const;
  bool tls() const;
  // Stops accepting, ends every connection and stream (HttpStream::Closed),
  // and joins the threads. Handlers still running finish first. Idempotent.
  void Shutdown();

  class Impl;

 private:
  explicit HttpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry
