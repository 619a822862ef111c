#include "server/api/http_server.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <optional>

#include "server/api/http_api.h"
#include "server/api/sessions.h"
#include "server/api/status_map.h"
#include "server/util/safe_text.h"
#include "server/web/web_assets.h"

namespace gantry {
namespace {

using Request = HttpRequest;
using Response = HttpResponse;

// The session cookie: a session id (sessions.h), never the token.
constexpr char kCookie[] = "gantry_session";

// The session id from the session cookie, if the request has one.
std::optional<std::string> SessionCookie(const Request& req) {
  const std::string cookies = req.get_header_value("Cookie");
  const std::string key = std::string(kCookie) + "=";
  size_t pos = 0;
  while (pos < cookies.size()) {
    while (pos < cookies.size() && (cookies[pos] == ' ' || cookies[pos] == ';')) ++pos;
    const size_t end = std::min(cookies.find(';', pos), cookies.size());
    if (cookies.compare(pos, key.size(), key) == 0) {
      return cookies.substr(pos + key.size(), end - pos - key.size());
    }
    pos = end;
  }
  return std::nullopt;
}

std::string CookieHeader(const std::string& value, int64_t max_age, bool secure) {
  return std::string(kCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) +
         "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
}

// 429 with Retry-After: the address failed too many logins (or tokens).
void TooManyFailures(Response& res, int seconds) {
  res.set_header("Retry-After", std::to_string(seconds));
  ReplyError(res,
             grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "too many failed sign-ins from this address; retry in " +
                              std::to_string(seconds) + " s"),
             429);
}

bool IsPage(const Request& req) {
  return req.method == "GET" && (req.path == "/" || req.path.rfind("/static/", 0) == 0);
}

void SetSecurityHeaders(Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                 "'unsafe-inline'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "same-origin");
}

void ServeAsset(const std::string& name, Response& res) {
  const WebAsset* asset = FindWebAsset(name);
  if (asset == nullptr) {
    return ReplyError(res, grpc::Status(grpc::StatusCode::NOT_FOUND, "no file " + name));
  }
  SetSecurityHeaders(res);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(asset->body), std::string(asset->content_type));
}

// The login form, with `error` (plain text, ours) above it when not empty.
void LoginPage(Response& res, const std::string& error) {
  const WebAsset* page = FindWebAsset("login.html");
  std::string html(page->body);
  const std::string marker = "<!--ERROR-->";
  if (!error.empty()) {
    html.replace(html.find(marker), marker.size(),
                 "<p class=\"error\" role=\"alert\">" + error + "</p>");
  }
  SetSecurityHeaders(res);
  res.set_content(html, "text/html; charset=utf-8");
}

// "host", "host:port", "[v6]:port" into a lower-cased host and a port
// ("" when absent).
void SplitAuthority(const std::string& authority, std::string* host, std::string* port) {
  const size_t close = authority.rfind(']');
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && (close == std::string::npos || colon > close)) {
    *host = AsciiLower(authority.substr(0, colon));
    *port = authority.substr(colon + 1);
  } else {
    *host = AsciiLower(authority);
    port->clear();
  }
}

// Whether `origin` ("scheme://host[:port]") names the server the request
// was sent to (its Host header). A port left out on one side matches the
// origin scheme's default port on the other, or nothing said on either
// (behind a proxy the Host may carry no port).
bool SameOrigin(const std::string& origin, const Request& req) {
  const size_t sep = origin.find("://");
  if (sep == std::string::npos) return false;
  const std::string scheme = AsciiLower(origin.substr(0, sep));
  if (scheme != "http" && scheme != "https") return false;
  std::string origin_host, origin_port, host, port;
  SplitAuthority(origin.substr(sep + 3), &origin_host, &origin_port);
  SplitAuthority(req.get_header_value("Host"), &host, &port);
  if (host.empty() || origin_host != host) return false;
  const std::string fallback = scheme == "https" ? "443" : "80";
  if (origin_port.empty() && port.empty()) return true;
  return (origin_port.empty() ? fallback : origin_port) == (port.empty() ? fallback : port);
}

bool ChangesState(const Request& req) {
  return req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS";
}

// Why a state-changing request from a browser on another site is refused,
// or nullopt when it is not (same origin, or not from a browser at all).
// "Origin: null" (a form on a page with Referrer-Policy: no-referrer, a
// sandboxed frame, a data: URL) and no Origin at all leave it to
// Sec-Fetch-Site, and a null Origin without it is refused. The dashboard's
// pages use Referrer-Policy: same-origin, so their forms send their origin:
// browsers send no Sec-Fetch-Site to plain-HTTP origins other than loopback.
std::optional<std::string> CrossSite(const Request& req) {
  const std::string origin = req.get_header_value("Origin");
  const std::string site = AsciiLower(req.get_header_value("Sec-Fetch-Site"));
  if (!origin.empty() && origin != "null") {
    // A browser's own word that the page is this origin is enough: behind a
    // proxy that rewrites Host, Origin and Host differ for the dashboard too.
    if (SameOrigin(origin, req) || site == "same-origin") return std::nullopt;
    return "cross-origin request refused: Origin '" + SafeText(origin) +
           "' is not this server (Host '" + SafeText(req.get_header_value("Host")) + "')";
  }
  if (site == "same-origin" || site == "none") return std::nullopt;
  if (site.empty() && origin.empty()) return std::nullopt;  // not a browser
  return "cross-site request refused (Origin: " + (origin.empty() ? "(absent)" : origin) +
         ", Sec-Fetch-Site: " + SafeText(site.empty() ? "(absent)" : site) + ")";
}

// The media type of the request's body, lower-cased, without parameters.
std::string MediaType(const Request& req) {
  std::string type = AsciiLower(req.get_header_value("Content-Type"));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type;
}

// A state-changing API request's body must be of a type no HTML form can
// send: JSON (the CSV upload: its own types). nullopt when it is.
// `has_body`: whether the request has a body (before it is read: false, so
// that only a wrong type given is refused then).
std::optional<std::string> WrongBodyType(const Request& req, bool has_body) {
  if (req.path.rfind("/v1/", 0) != 0) return std::nullopt;
  const std::string type = MediaType(req);
  const bool upload = req.method == "POST" && req.path == "/v1/tables";
  if (upload) {
    if (type.empty() || type == "text/csv" || type == "application/octet-stream") {
      return std::nullopt;
    }
    return "Content-Type: '" + SafeText(type) +
           "' is not text/csv; send the file itself as the body (e.g. curl --data-binary @FILE "
           "-H 'Content-Type: text/csv')";
  }
  if (type == "application/json" || (type.empty() && !has_body)) return std::nullopt;
  return "Content-Type: '" + SafeText(type.empty() ? "(none)" : type) +
         "' is not application/json; send the request body as JSON with "
         "'Content-Type: application/json'";
}

void NoRoute(const Request& req, Response& res) {
  ReplyError(res, grpc::Status(grpc::StatusCode::NOT_FOUND,
                               "no route for " + req.method + " " + SafeText(req.path)));
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The Host names a request may carry (lower case, no port, no brackets), or
// none to take any: with --http-allowed-hosts, those and the loopback names;
// without, on a loopback address only the loopback names (a page on a
// rebound DNS name reaches such a server only with its own name as Host),
// and on any other address anything.
std::vector<std::string> AllowedHosts(const HttpOptions& options, const std::string& listen_host) {
  std::vector<std::string> hosts;
  for (const std::string& h : options.allowed_hosts) hosts.push_back(AsciiLower(h));
  if (hosts.empty() && !IsLoopback(listen_host)) return hosts;
  for (const char* h : {"localhost", "127.0.0.1", "::1"}) hosts.emplace_back(h);
  if (!listen_host.empty()) hosts.push_back(AsciiLower(listen_host));
  return hosts;
}

// "HOST:PORT" ("[::1]:8080" too) into host and port.
bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  try {
    size_t used = 0;
    const std::string p = listen.substr(colon + 1);
    *port = std::stoi(p, &used);
    return used == p.size() && *port >= 0 && *port <= 65535;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options, Calls* calls,
                                                        Metrics* metrics) {
  const std::string flag = options.metrics_only ? "--metrics-listen" : "--http-listen";
  HttpTransport::Options transport;
  if (!SplitHostPort(options.listen, &transport.host, &transport.port)) {
    return Status::InvalidArgument(flag + ": '" + options.listen + "' is not HOST:PORT");
  }
  transport.tls_cert_file = options.tls_cert_file;
  transport.tls_key_file = options.tls_key_file;
  transport.tls_client_ca_file = options.tls_client_ca_file;
  transport.limits.max_body_bytes = options.max_body_bytes;
  transport.limits.body_budget_bytes = std::max(options.body_budget_bytes, options.max_body_bytes);
  transport.limits.max_connections = options.max_connections;
  transport.limits.max_connections_per_address = options.max_connections_per_address;
  transport.limits.head_timeout = std::chrono::milliseconds(options.head_timeout_ms);

  std::unique_ptr<HttpServer> s(new HttpServer());
  s->calls_ = calls;
  s->metrics_ = metrics;
  s->metrics_only_ = options.metrics_only;
  s->allowed_hosts_ = AllowedHosts(options, transport.host);
  const int max_streams = options.metrics_only ? 0 : options.max_event_streams;
  s->streams_ = std::make_unique<EventStreams>(*calls, max_streams);
  s->Routes(options, !options.tls_cert_file.empty());

  HttpServer* server = s.get();
  auto started = HttpTransport::Start(
      transport, [server](HttpRequest& req, HttpResponse& res) { server->Handle(req, res); },
      [server](const HttpRequest& req) { return server->IsInline(req); },
      [server](HttpRequest& head, HttpResponse& res) { return server->Screen(head, res); },
      [](int http_status, const std::string& message, HttpResponse& res) {
        grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
        if (http_status == 413) code = grpc::StatusCode::RESOURCE_EXHAUSTED;
        if (http_status == 503) code = grpc::StatusCode::UNAVAILABLE;
        if (http_status == 408) code = grpc::StatusCode::DEADLINE_EXCEEDED;
        if (http_status >= 500 && http_status != 503) code = grpc::StatusCode::INTERNAL;
        ReplyError(res, grpc::Status(code, message), http_status);  // 413, 431 as they are
      });
  if (!started.ok()) {
    const std::string why = started.status().message();
    if (started.status().code() == StatusCode::kInvalidArgument) {
      return Status::InvalidArgument(flag + ": " + why);
    }
    return Status::Unavailable(flag + " " + options.listen + ": " + why +
                               " (another process listens there, or this machine has no such "
                               "address)");
  }
  s->transport_ = std::move(started).value();
  s->port_ = s->transport_->port();
  spdlog::info("http on {}://{}:{}/ ({})", s->transport_->tls() ? "https" : "http",
               transport.host, s->port_,
               options.metrics_only      ? "metrics only"
               : calls->token_required() ? "dashboard, API; token required"
                                         : "dashboard, API");
  return s;
}

bool HttpServer::HostAllowed(const Request& req) const {
  if (allowed_hosts_.empty() || req.path == "/healthz") return true;
  std::string host, port;
  SplitAuthority(req.get_header_value("Host"), &host, &port);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') host.pop_back();
  for (const std::string& allowed : allowed_hosts_) {
    if (host == allowed) return true;
  }
  return false;
}

bool HttpServer::Screen(Request& req, Response& res) const {
  if (metrics_only_) return false;
  if (!HostAllowed(req)) {
    ReplyError(res,
               grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            "Host '" + SafeText(req.get_header_value("Host")) +
                                "' is not a name of this server (a DNS rebinding?); add it to "
                                "--http-allowed-hosts"),
               403);
    return true;
  }
  if (ChangesState(req)) {
    if (auto why = CrossSite(req)) {
      ReplyError(res, grpc::Status(grpc::StatusCode::PERMISSION_DENIED, *why), 403);
      return true;
    }
    if (auto why = WrongBodyType(req, /*has_body=*/false)) {
      ReplyError(res, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *why), 415);
      return true;
    }
  }
  if (NeedsCredentials(req) && RefusedCredentials(req, res)) return true;
  if (!router_.Has(req)) {
    NoRoute(req, res);
    return true;
  }
  return false;
}

bool HttpServer::RefusedCredentials(Request& req, Response& res) const {
  grpc::Status auth;
  if (req.has_header("Authorization")) {
    // A token in a header: guesses are throttled as logins are.
    LoginThrottle* throttle = calls_->login_throttle();
    if (throttle != nullptr) {
      if (auto wait = throttle->RetryAfterSeconds(req.remote_addr)) {
        TooManyFailures(res, *wait);
        return true;
      }
    }
    auth = calls_->Authenticate(req.get_header_value("Authorization"), &req.caller);
    if (throttle != nullptr && !auth.ok()) throttle->Failed(req.remote_addr);
  } else if (SessionCookie(req) && calls_->sessions() != nullptr) {
    return false;  // checked in Handle(), off the I/O thread (it may read the store)
  } else {
    auth = calls_->Authenticate(std::nullopt, &req.caller, req.client_cert);  // a certificate, or none
  }
  if (auth.ok()) return false;
  Unauthenticated(req, auth, res);
  return true;
}

bool HttpServer::NeedsCredentials(const Request& req) const {
  return calls_->token_required() && req.path != "/healthz" && req.path != "/login" &&
         req.path != "/logout";
}

void HttpServer::Unauthenticated(const Request& req, const grpc::Status& why,
                                 Response& res) const {
  if (IsPage(req)) {
    res.set_redirect("/login", 303);
  } else {
    res.set_header("WWW-Authenticate", "Bearer realm=\"gantry\"");
    ReplyError(res, why);
  }
}

void HttpServer::Handle(Request& req, Response& res) const {
  // What Screen() left: a body with no type, and a session cookie.
  if (!metrics_only_ && ChangesState(req)) {
    if (auto why = WrongBodyType(req, !req.body.empty())) {
      return ReplyError(res, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *why), 415);
    }
  }
  if (!calls_->token_required()) {
    req.caller = OpenServerCaller();
  } else if (!metrics_only_ && NeedsCredentials(req) && !req.has_header("Authorization")) {
    // Screen() named the caller of a token or a client certificate; a
    // session cookie is looked up here, off the I/O thread.
    if (auto id = SessionCookie(req); id && calls_->sessions() != nullptr) {
      std::string principal;
      auto state = calls_->sessions()->Check(*id, &principal);
      if (!state.ok()) return ReplyError(res, ToGrpcStatus(state.status()));
      if (*state != SessionState::kLive) {
        return Unauthenticated(
            req, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, SessionStateMessage(*state)), res);
      }
      std::optional<Principal> caller = calls_->SessionCaller(principal);
      if (!caller) {
        return Unauthenticated(req,
                               grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                            "the session's principal is no longer known with that "
                                            "token; log in again"),
                               res);
      }
      req.caller = std::move(*caller);
    }
  }
  if (!router_.Dispatch(req, res)) NoRoute(req, res);
}

bool HttpServer::IsInline(const Request& req) const {
  // With a token, only /healthz: the others may check a session in the store.
  return router_.IsInline(req) && (!calls_->token_required() || req.path == "/healthz");
}

void HttpServer::Routes(const HttpOptions& options, bool secure) {
  HttpRouter& server = router_;
  Calls& calls = *calls_;

  server.Get(
      "/healthz",
      [&calls](const Request&, Response& res) {
        const auto why = calls.NotServing();
        res.status = why ? 503 : 200;
        res.set_content(why ? "NOT_SERVING: " + *why + "\n" : "SERVING\n", "text/plain");
      },
      /*is_inline=*/true);
  Metrics* metrics = metrics_;
  server.Get(
      "/metrics",
      [metrics](const Request&, Response& res) {
        res.set_content(metrics != nullptr ? metrics->Text() : std::string(),
                        "text/plain; version=0.0.4");
      },
      /*is_inline=*/true);
  if (options.metrics_only) return;

  server.Get(
      "/login", [](const Request&, Response& res) { LoginPage(res, ""); }, true);
  server.Post("/login", [&calls, secure](const Request& req, Response& res) {
    LoginThrottle* throttle = calls.login_throttle();
    if (throttle != nullptr) {
      if (auto wait = throttle->RetryAfterSeconds(req.remote_addr)) {
        res.status = 429;
        res.set_header("Retry-After", std::to_string(*wait));
        return LoginPage(res, "Too many failed sign-ins from this address; try again in " +
                                  std::to_string(*wait) + " s.");
      }
    }
    std::string token;
    for (const auto& [name, value] : ParseUrlEncoded(req.body)) {
      if (name == "token") token = value;
    }
    if (!calls.token_required() || calls.sessions() == nullptr) return res.set_redirect("/", 303);
    Principal who;
    if (!calls.Authenticate("Bearer " + token, &who).ok()) {
      if (throttle != nullptr) throttle->Failed(req.remote_addr);
      spdlog::info("login: a wrong token from {}", SafeText(req.remote_addr));
      res.status = 401;
      return LoginPage(res, "That token is not valid.");
    }
    if (throttle != nullptr) throttle->Succeeded(req.remote_addr);
    auto session = calls.sessions()->Create(SessionPrincipal(who));
    calls.Audit(who, "Login", "", session.status());
    if (!session.ok()) {
      res.status = 503;
      return LoginPage(res, "The server cannot store the session now; try again.");
    }
    res.set_header("Set-Cookie", CookieHeader(session->id, session->max_age_seconds, secure));
    res.set_redirect("/", 303);
  });
  server.Post("/logout", [&calls, secure](const Request& req, Response& res) {
    if (auto id = SessionCookie(req); id && calls.sessions() != nullptr) {
      std::string principal;
      auto state = calls.sessions()->Check(*id, &principal);
      const std::optional<Principal> who =
          state.ok() && *state == SessionState::kLive ? calls.SessionCaller(principal) : std::nullopt;
      const Status revoked = calls.sessions()->Revoke(*id);
      if (who) calls.Audit(*who, "Logout", "", revoked);
      if (!revoked.ok()) {
        ReplyError(res, ToGrpcStatus(revoked));
        return;
      }
    }
    res.set_header("Set-Cookie", CookieHeader("", 0, secure));
    res.set_redirect("/login", 303);
  });
  server.Get(
      "/", [](const Request&, Response& res) { ServeAsset("index.html", res); }, true);
  server.Get(
      R"(/static/([A-Za-z0-9_.-]+))",
      [](const Request& req, Response& res) { ServeAsset(req.matches[1], res); }, true);
  RegisterApiRoutes(server, calls, *streams_);
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  if (!transport_) return;
  streams_->Stop();
  transport_->Shutdown();
  transport_.reset();
}

}  // namespace gantry
