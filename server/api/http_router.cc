#include "server/api/http_router.h"

#include <cctype>
#include <string_view>

#include "server/util/sha256.h"

namespace gantry {
std::string AsciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void HttpRouter::Add(std::string method, const std::string& pattern, Handler handler,
                     bool is_inline) {
  routes_.push_back(Route{std::move(method), std::regex(pattern), std::move(handler), is_inline});
}

const HttpRouter::Route* HttpRouter::Find(const HttpRequest& req, std::smatch* match) const {
  for (const Route& route : routes_) {
    const bool method = route.method == req.method || (req.method == "HEAD" && route.method == "GET");
    if (method && std::regex_match(req.path, *match, route.pattern)) {
      return &route;
    }
  }
  return nullptr;
}

bool HttpRouter::IsInline(const HttpRequest& req) const {
  std::smatch match;
  const Route* route = Find(req, &match);
  return route != nullptr && route->is_inline;
}

bool HttpRouter::Dispatch(HttpRequest& req, HttpResponse& res) const {
  std::smatch match;
  const Route* route = Find(req, &match);
  if (route == nullptr) return false;
  req.matches.clear();
  for (const auto& group : match) req.matches.push_back(group.str());
  route->handler(req, res);
  if (route->method == "GET") Revalidate(req, &res);
  return true;
}

std::string EntityTag(const HttpResponse& res) {
  Sha256Hasher hasher;
  hasher.Update(res.content_type);
  hasher.Update(std::string_view("\0", 1));
  hasher.Update(res.body);
  return "\"" + hasher.HexDigest().substr(0, 32) + "\"";
}

bool MatchesIfNoneMatch(const std::string& header, const std::string& tag) {
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string_view item(header.data() + start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);  // weak comparison (RFC 9110 13.1.2)
    if (item == "*" || item == tag) return true;
    start = end + 1;
  }
  return false;
}

void Revalidate(const HttpRequest& req, HttpResponse* res) {
  if (res->status != 200 || res->stream || res->body.empty()) return;
  const std::string tag = EntityTag(*res);
  res->set_header("ETag", tag);
  bool has_cache_control = false;
  for (const auto& [name, value] : res->headers) {
    if (AsciiLower(name) == "cache-control") has_cache_control = true;
  }
  // Revalidated on every use: the next request's If-None-Match costs a 304.
  // private: replies may depend on the caller's token or cookie, so no
  // shared cache keeps them.
  if (!has_cache_control) res->set_header("Cache-Control", "private, no-cache");
  if (!MatchesIfNoneMatch(req.get_header_value("If-None-Match"), tag)) return;
  res->status = 304;
  res->body.clear();
  // A 304 carries no representation headers (RFC 9110 15.4.5).
  res->content_type.clear();
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& header : res->headers) {
    const std::string name = AsciiLower(header.first);
    if (name != "content-disposition" && name != "content-type") kept.push_back(std::move(header));
  }
  res->headers = std::move(kept);
}

bool HttpRequest::has_header(const std::string& name) const {
  const std::string key = AsciiLower(name);
  for (const auto& [n, v] : headers) {
    if (n == key) return true;
  }
  return false;
}

std::string HttpRequest::get_header_value(const std::string& name) const {
  const std::string key = AsciiLower(name);
  for (const auto& [n, v] : headers) {
    if (n == key) return v;
  }
  return std::string();
}

bool HttpRequest::has_param(const std::string& name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return true;
  }
  return false;
}

std::string HttpRequest::get_param_value(const std::string& name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return std::string();
}

void HttpResponse::set_header(const std::string& name, const std::string& value) {
  for (auto& [n, v] : headers) {
    if (AsciiLower(n) == AsciiLower(name)) {
      v = value;
      return;
    }
  }
  headers.emplace_back(name, value);
}

std::string PercentDecode(const std::string& s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseUrlEncoded(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t start = 0; start < query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string item = query.substr(start, end - start);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      out.emplace_back(PercentDecode(item.substr(0, eq), true),
                       eq == std::string::npos ? "" : PercentDecode(item.substr(eq + 1), true));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace gantry
