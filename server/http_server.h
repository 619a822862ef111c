// HttpServer: gantryd's one embedded HTTP server (cpp-httplib, Debian's
// libcpp-httplib-dev), beside gRPC. It serves
//
//   /               the dashboard (server/web/, embedded in the binary)
//   /static/...     its scripts, styles and Chart.js
//   /v1/...         the JSON API and Server-Sent Events (http_api.h)
//   /metrics        Prometheus' text format
//   /healthz        200 "SERVING", or 503 "NOT_SERVING" while draining
//   /login          the dashboard's token form (with --auth-token-file)
//
// With a token (Calls::token_required()), every path but /healthz and
// /login needs it: an "Authorization: Bearer <token>" header, or the
// HttpOnly, SameSite=Strict cookie that POST /login sets for browsers
// (EventSource cannot send headers). Otherwise API paths answer 401 and the
// dashboard's pages redirect to /login.
//
// Bounds: request bodies over max_body_bytes are refused with 413; at most
// max_event_streams event streams are open (503 beyond); a fixed pool of
// max_event_streams + 16 threads serves everything (an open event stream
// holds one of them).
//
// `metrics_only` serves just /metrics and /healthz without a token: the
// older --metrics-listen port.
//
// Thread-safety: Start() and Shutdown() from one controlling thread;
// requests are served on the pool's threads.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "server/calls.h"
#include "server/http_events.h"
#include "server/metrics.h"

namespace httplib {
class Server;
}

namespace gantry {

struct HttpOptions {
  std::string listen;                       // HOST:PORT; port 0 picks a free one
  std::string tls_cert_file, tls_key_file;  // PEM; both or none
  int max_event_streams = 64;               // open /events streams at once
  size_t max_body_bytes = 64 << 20;         // largest request body
  bool metrics_only = false;
};

class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a bad address or TLS
  // files, UNAVAILABLE if the address cannot be bound. `calls` and
  // `metrics` (may be null) outlive the server.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const HttpOptions& options, Calls* calls,
                                                     Metrics* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Ends the event streams, stops accepting and joins the threads. Idempotent.
  void Shutdown();

 private:
  HttpServer() = default;
  void Routes(const HttpOptions& options);

  Calls* calls_ = nullptr;
  Metrics* metrics_ = nullptr;
  bool tls_ = false;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<EventStreams> streams_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace gantry
