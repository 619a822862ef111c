#include "server/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "server/http_api.h"
#include "server/web_assets.h"

namespace gantry {
namespace {

using httplib::Request;
using httplib::Response;

constexpr char kCookie[] = "gantry_token";
constexpr int kExtraThreads = 16;  // beyond the event streams: requests, keep-alive

std::string PercentEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The token from the session cookie, if the request has one.
std::optional<std::string> CookieToken(const Request& req) {
  const std::string cookies = req.get_header_value("Cookie");
  const std::string key = std::string(kCookie) + "=";
  size_t pos = 0;
  while (pos < cookies.size()) {
    while (pos < cookies.size() && (cookies[pos] == ' ' || cookies[pos] == ';')) ++pos;
    const size_t end = std::min(cookies.find(';', pos), cookies.size());
    if (cookies.compare(pos, key.size(), key) == 0) {
      try {
        return PercentDecode(cookies.substr(pos + key.size(), end - pos - key.size()));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    pos = end;
  }
  return std::nullopt;
}

// The credentials a request presents: its Authorization header, else its cookie.
std::optional<std::string> Credentials(const Request& req) {
  if (req.has_header("Authorization")) return req.get_header_value("Authorization");
  if (auto token = CookieToken(req)) return "Bearer " + *token;
  return std::nullopt;
}

bool IsPage(const Request& req) {
  return req.method == "GET" && (req.path == "/" || req.path.rfind("/static/", 0) == 0);
}

void SetSecurityHeaders(Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                 "'unsafe-inline'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
}

void ServeAsset(const std::string& name, Response& res) {
  const WebAsset* asset = FindWebAsset(name);
  if (asset == nullptr) {
    return ReplyError(res, grpc::Status(grpc::StatusCode::NOT_FOUND, "no file " + name));
  }
  SetSecurityHeaders(res);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type));
}

void LoginPage(Response& res, bool failed) {
  const WebAsset* page = FindWebAsset("login.html");
  std::string html(page->body);
  const std::string marker = "<!--ERROR-->";
  if (failed) {
    html.replace(html.find(marker), marker.size(),
                 "<p class=\"error\" role=\"alert\">That token is not valid.</p>");
  }
  SetSecurityHeaders(res);
  res.set_content(html, "text/html; charset=utf-8");
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
  std::string host;
  int port = 0;
  if (!SplitHostPort(options.listen, &host, &port)) {
    return Status::InvalidArgument(flag + ": '" + options.listen + "' is not HOST:PORT");
  }
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->calls_ = calls;
  s->metrics_ = metrics;
  if (!options.tls_cert_file.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                    options.tls_key_file.c_str());
    if (!ssl->is_valid()) {
      return Status::InvalidArgument(flag + ": cannot load --tls-cert " + options.tls_cert_file +
                                     " with --tls-key " + options.tls_key_file);
    }
    s->server_ = std::move(ssl);
    s->tls_ = true;
  } else {
    s->server_ = std::make_unique<httplib::Server>();
  }
  const int max_streams = options.metrics_only ? 0 : options.max_event_streams;
  s->streams_ = std::make_unique<EventStreams>(*calls, max_streams);
  const size_t threads = static_cast<size_t>(max_streams + kExtraThreads);
  s->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->server_->set_payload_max_length(options.max_body_bytes);
  s->Routes(options);

  if (port == 0) {
    s->port_ = s->server_->bind_to_any_port(host);
  } else if (s->server_->bind_to_port(host, port)) {
    s->port_ = port;
  } else {
    s->port_ = -1;
  }
  if (s->port_ <= 0) {
    return Status::Unavailable(flag + " " + options.listen +
                               ": cannot listen (address in use, or not an address this "
                               "machine has)");
  }
  httplib::Server* server = s->server_.get();
  s->thread_ = std::thread([server] { server->listen_after_bind(); });
  // Until the loop runs, stop() would not reach it: wait for it (briefly).
  for (int i = 0; i < 5000 && !server->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("http on {}://{}:{}/ ({})", s->tls_ ? "https" : "http", host, s->port_,
               options.metrics_only      ? "metrics only"
               : calls->token_required() ? "dashboard, API; token required"
                                         : "dashboard, API");
  return s;
}

void HttpServer::Routes(const HttpOptions& options) {
  httplib::Server& server = *server_;
  Calls& calls = *calls_;

  server.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) {
      code = grpc::StatusCode::NOT_FOUND;
      message = "no route for " + req.method + " " + req.path;
    } else if (res.status == 413) {
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      message = "the request body is over the server's limit";
    } else if (res.status == 400) {
      code = grpc::StatusCode::INVALID_ARGUMENT;
      message = "malformed request";
    }
    const int http = res.status;
    ReplyError(res, grpc::Status(code, message));
    res.status = http;  // keep 413 and friends as they are
  });
  server.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    ReplyError(res, grpc::Status(grpc::StatusCode::INTERNAL, what));
  });

  server.Get("/healthz", [&calls](const Request&, Response& res) {
    const auto why = calls.NotServing();
    res.status = why ? 503 : 200;
    res.set_content(why ? "NOT_SERVING: " + *why + "\n" : "SERVING\n", "text/plain");
  });
  Metrics* metrics = metrics_;
  server.Get("/metrics", [metrics](const Request&, Response& res) {
    res.set_content(metrics != nullptr ? metrics->Text() : std::string(),
                    "text/plain; version=0.0.4");
  });
  if (options.metrics_only) return;

  const bool secure = tls_;
  server.set_pre_routing_handler([&calls](const Request& req, Response& res) {
    if (!calls.token_required() || req.path == "/healthz" || req.path == "/login") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const grpc::Status auth = calls.Authenticate(Credentials(req));
    if (auth.ok()) return httplib::Server::HandlerResponse::Unhandled;
    if (IsPage(req)) {
      res.set_redirect("/login", 303);
    } else {
      res.set_header("WWW-Authenticate", "Bearer realm=\"gantry\"");
      ReplyError(res, auth);
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  server.Get("/login", [](const Request&, Response& res) { LoginPage(res, false); });
  server.Post("/login", [&calls, secure](const Request& req, Response& res) {
    const std::string token = req.get_param_value("token");
    if (!calls.Authenticate("Bearer " + token).ok()) {
      res.status = 401;
      return LoginPage(res, true);
    }
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + PercentEncode(token) +
                                     "; Path=/; HttpOnly; SameSite=Strict" +
                                     (secure ? "; Secure" : ""));
    res.set_redirect("/", 303);
  });
  server.Post("/logout", [secure](const Request&, Response& res) {
    res.set_header("Set-Cookie", std::string(kCookie) + "=; Path=/; Max-Age=0; HttpOnly; " +
                                     "SameSite=Strict" + (secure ? "; Secure" : ""));
    res.set_redirect("/login", 303);
  });
  server.Get("/", [](const Request&, Response& res) { ServeAsset("index.html", res); });
  server.Get(R"(/static/([A-Za-z0-9_.-]+))",
             [](const Request& req, Response& res) { ServeAsset(req.matches[1].str(), res); });
  RegisterApiRoutes(server, calls, *streams_);
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  if (!server_) return;
  streams_->Stop();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace gantry
