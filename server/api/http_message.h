// HttpRequest, HttpResponse and HttpStream: what gantryd's HTTP routes read
// and write, independent of the transport underneath (http_transport.h).
//
// A request is whole when a handler sees it: head and body read, the body
// within the server's limits. A response is either a body (Content-Length)
// or a stream (chunked, written as HttpStream::Next produces text).
//
// Thread-safety: plain values, owned by the one request they belong to. An
// HttpStream's Next() is called from one thread at a time; its waker may be
// called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/api/principals.h"
#include "server/util/mutex.h"

namespace gantry {

// The Retry-After of every 503 that asks a client to come back later (a
// budget, a bound or the connection limit was full), in seconds.
inline constexpr int kRetryAfterSeconds = 5;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query, percent-escaped
  std::string path;    // the target's path, percent-decoded
  // Header names lower-cased, in the order sent.
  std::vector<std::pair<std::string, std::string>> headers;
  // Query parameters, split at the first '=', percent-decoded ('+': space).
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> matches;  // the route's regex groups; [0] is the path
  std::string body;
  std::string remote_addr;  // the client's IP address, as text
  bool tls = false;
  // The subject common name of the client certificate TLS verified
  // (--tls-client-ca), or "".
  std::string client_cert;
  // Who asked: set by the server once the request's credentials (a bearer
  // token or a session) are checked; a viewer with no name until then.
  Principal caller;

  bool has_header(const std::string& name) const;
  // The first value of `name` (any case), or "".
  std::string get_header_value(const std::string& name) const;
  bool has_param(const std::string& name) const;
  std::string get_param_value(const std::string& name) const;
};

// A streamed body (Server-Sent Events). The transport calls Next() off its
// I/O threads; Next() appends what is ready and says what comes next.
class HttpStream {
 public:
  enum class Poll {
    kMore,  // call Next() again soon
    kWait,  // nothing now: call again after the waker runs or a keep-alive interval
    kEnd,   // the stream is over (what was appended is its last text)
  };
  virtual ~HttpStream() = default;
  virtual Poll Next(std::string* out) = 0;
  // Text written when nothing happened for a keep-alive interval.
  virtual std::string KeepAlive() { return std::string(); }
  // Installed by the transport before the first Next(): calling it (from
  // any thread; it only posts) makes the transport call Next() again.
  void set_waker(std::function<void()> waker) EXCLUDES(waker_mu_) {
    MutexLock lock(&waker_mu_);
    waker_ = std::move(waker);
  }
  // Called once, when the stream is over or the client went away
  // (`client_gone`); on an I/O thread or the one that ends the transport.
  virtual void Closed(bool client_gone) = 0;

  // Runs the waker, if installed (from any thread; cheap: it only posts).
  void Wake() EXCLUDES(waker_mu_) {
    MutexLock lock(&waker_mu_);
    if (waker_) waker_();
  }

 private:
  Mutex waker_mu_;  // held while the waker runs (it only posts)
  std::function<void()> waker_ GUARDED_BY(waker_mu_);
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;
  std::shared_ptr<HttpStream> stream;  // set: the body is streamed (chunked)

  void set_header(const std::string& name, const std::string& value);
  void set_content(std::string content, const std::string& type) {
    body = std::move(content);
    content_type = type;
  }
  void set_redirect(const std::string& location, int code) {
    status = code;
    set_header("Location", location);
  }
};

// `s` with ASCII letters lower-cased (header names, media types, hosts).
std::string AsciiLower(std::string s);
// "%41+b" -> "A b" when `plus_is_space`; a malformed escape stays as it is.
std::string PercentDecode(const std::string& s, bool plus_is_space);
// "a=1&b=x+y" (a query, or an urlencoded form) into decoded pairs, each
// split at its first '='; a name without '=' has the value "".
std::vector<std::pair<std::string, std::string>> ParseUrlEncoded(const std::string& text);

}  // namespace gantry
