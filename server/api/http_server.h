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
// Cross-site requests: a request that can change state (any method but
// GET, HEAD and OPTIONS, /login and /logout included) is refused with 403
// when its Origin is not this server's own (the Host it was sent to), or,
// without an Origin, when Sec-Fetch-Site names another site. Its body, if
// any, must be application/json (the CSV upload: text/csv or
// application/octet-stream); a form's types (text/plain, urlencoded,
// multipart) are refused with 415, so a page elsewhere cannot submit one.
//
// Bounds: request bodies over max_body_bytes are refused with 413, and
// bodies in flight share a budget (503 beyond); at most max_event_streams
// event streams are open (503 beyond); connections are bounded in total and
// per client address; an open stream holds no thread.
//
// `metrics_only` serves just /metrics and /healthz without a token: the
// older --metrics-listen port.
//
// Thread-safety: Start() and Shutdown() from one controlling thread;
// requests are served on the pool's threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/api/calls.h"
#include "server/api/http_events.h"
#include "server/api/http_router.h"
#include "server/api/http_transport.h"
#include "server/metrics.h"

namespace gantry {

struct HttpOptions {
  std::string listen;                       // HOST:PORT; port 0 picks a free one
  std::string tls_cert_file, tls_key_file;  // PEM; both or none
  std::string tls_client_ca_file;           // PEM CAs of client certificates (with TLS), or none
  int max_event_streams = 64;               // open /events streams at once
  size_t max_body_bytes = 64 << 20;         // largest request body
  size_t body_budget_bytes = 128 << 20;     // bodies being received or handled, together
  int max_connections = 1000;
  int max_connections_per_address = 256;
  int head_timeout_ms = 10'000;  // a request head's total deadline
  // Host names requests may be sent to (--http-allowed-hosts); see Screen.
  std::vector<std::string> allowed_hosts;
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
  // Stops accepting, ends the event streams and connections, joins the
  // threads. Idempotent.
  void Shutdown();

 private:
  HttpServer() = default;
  void Routes(const HttpOptions& options, bool tls);
  // The checks on a request's head, before its body is read (on the I/O
  // thread, no I/O): the Host, cross-site requests, the body's type, the
  // route, and credentials in a header. True when `res` holds the refusal.
  bool Screen(HttpRequest& req, HttpResponse& res) const;
  // The rest (a body without a type, a session cookie), then the route.
  void Handle(HttpRequest& req, HttpResponse& res) const;
  bool IsInline(const HttpRequest& req) const;
  bool HostAllowed(const HttpRequest& req) const;
  bool NeedsCredentials(const HttpRequest& req) const;
  // Screen's credentials check: a token in a header (throttled), or a
  // verified client certificate, naming req.caller; a session cookie passes
  // here and is checked in Handle().
  bool RefusedCredentials(HttpRequest& req, HttpResponse& res) const;
  void Unauthenticated(const HttpRequest& req, const grpc::Status& why, HttpResponse& res) const;

  Calls* calls_ = nullptr;
  Metrics* metrics_ = nullptr;
  bool metrics_only_ = false;
  std::vector<std::string> allowed_hosts_;  // empty: any
  HttpRouter router_;
  std::unique_ptr<EventStreams> streams_;
  std::unique_ptr<HttpTransport> transport_;
  int port_ = 0;
};

}  // namespace gantry
