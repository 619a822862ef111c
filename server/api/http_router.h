// HttpRouter: maps a request's method and path to its handler. Patterns are
// ECMAScript regexes matched against the whole decoded path; their groups
// land in HttpRequest::matches. Routes are tried in the order added.
//
// A route marked `inline` is cheap and never blocks (health, metrics, the
// dashboard's files): the transport answers it on its I/O thread.
//
// Thread-safety: add routes before serving; Find() and Dispatch() are then
// safe from any thread.
#pragma once

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "server/api/http_message.h"

namespace gantry {

// The entity tag of a reply's body and type (the first 128 bits of the
// SHA-256 of the type, a NUL and the body, in hex: the same in every build
// and process, so a tag outlives a restart and is shared by replicas); whether an If-None-Match
// header value names it ("*", a list, weak tags compared weakly); and the
// conditional GET that Dispatch applies (Revalidate).
std::string EntityTag(const HttpResponse& res);
bool MatchesIfNoneMatch(const std::string& header, const std::string& tag);
void Revalidate(const HttpRequest& req, HttpResponse* res);

class HttpRouter {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;

  void Get(const std::string& pattern, Handler handler, bool is_inline = false) {
    Add("GET", pattern, std::move(handler), is_inline);
  }
  void Post(const std::string& pattern, Handler handler) {
    Add("POST", pattern, std::move(handler), false);
  }
  void Delete(const std::string& pattern, Handler handler) {
    Add("DELETE", pattern, std::move(handler), false);
  }

  // True when a route takes `req` (HEAD: a GET route).
  bool Has(const HttpRequest& req) const {
    std::smatch match;
    return Find(req, &match) != nullptr;
  }
  // True when `req` goes to an inline route.
  bool IsInline(const HttpRequest& req) const;
  // Runs the route for `req` (filling req.matches); false when none matches.
  // A GET route's whole 200 reply (not a stream) gets an ETag (a hash of
  // its body and type) and, unless it set one, Cache-Control: private,
  // no-cache; a
  // request whose If-None-Match names that tag gets 304 and no body, so a
  // page that polls an unchanged list or revalidates a static file moves no
  // body. The tag is computed from the reply, so the handler still runs.
  bool Dispatch(HttpRequest& req, HttpResponse& res) const;

 private:
  struct Route {
    std::string method;
    std::regex pattern;
    Handler handler;
    bool is_inline;
  };
  void Add(std::string method, const std::string& pattern, Handler handler, bool is_inline);
  const Route* Find(const HttpRequest& req, std::smatch* match) const;

  std::vector<Route> routes_;
};

}  // namespace gantry
