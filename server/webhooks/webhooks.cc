#include "server/webhooks/webhooks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "server/jobs/convert.h"
#include "server/jobs/labels.h"

namespace gantry {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return "";
  }
  return Hex(reinterpret_cast<const unsigned char*>(raw.data()), bytes);
}

Status Invalid(const std::string& what) { return Status::InvalidArgument("webhook." + what); }

bool PrivateV4(uint32_t a) {  // host byte order
  const unsigned b0 = a >> 24, b1 = (a >> 16) & 0xff;
  const unsigned b2 = (a >> 8) & 0xff;
  return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) ||
         (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
         (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 192 && b1 == 0 && b2 == 0) ||
         (b0 == 198 && (b1 & 0xfe) == 18) || b0 >= 224;
}

// OK, or why a webhook may not go to `host` (a literal address or a
// localhost name; other names are checked when they resolve).
Status CheckHost(std::string host) {
  if (!host.empty() && host.back() == '.') host.pop_back();  // "localhost." is localhost
  std::string lower = host;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool refused = lower == "localhost" ||
                 (lower.size() > 10 && lower.compare(lower.size() - 10, 10, ".localhost") == 0);
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  // inet_aton also reads the forms a resolver takes for IPv4 (127.1,
  // 0x7f.1, 2130706433, 0177.0.0.1); the POST's guard checks names too.
  if (inet_aton(host.c_str(), &v4.sin_addr) != 0) {
    v4.sin_family = AF_INET;
    refused = IsPrivateAddress(reinterpret_cast<const sockaddr*>(&v4));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    refused = IsPrivateAddress(reinterpret_cast<const sockaddr*>(&v6));
  }
  if (!refused) return Status::Ok();
  return Invalid("url: host '" + host.substr(0, 100) +
                 "' is a loopback, private or link-local address; gantryd sends webhooks to public "
                 "addresses only, unless started with --webhook-allow-private");
}

// The URL's host (no port, no brackets), or why the URL is refused.
StatusOr<std::string> CheckUrl(const std::string& url) {
  if (url.empty()) return Invalid("url is required: where to POST, http://HOST... or https://HOST...");
  if (url.size() > kMaxWebhookUrlLength) {
    return Invalid("url is " + std::to_string(url.size()) + " characters; at most " +
                   std::to_string(kMaxWebhookUrlLength));
  }
  for (char ch : url) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) {
      return Invalid("url '" + url.substr(0, 100) + "' holds a space or a control character");
    }
  }
  std::string scheme = url.substr(0, 8);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t rest = 0;
  if (scheme.rfind("http://", 0) == 0) rest = 7;
  else if (scheme == "https://") rest = 8;
  else return Invalid("url '" + url.substr(0, 100) + "' must start with http:// or https://");
  const size_t host_end = url.find_first_of("/?#", rest);
  const std::string authority =
      url.substr(rest, host_end == std::string::npos ? std::string::npos : host_end - rest);
  std::string host = authority.substr(0, authority.find(':'));
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    host = close == std::string::npos ? authority : authority.substr(1, close - 1);
  }
  if (host.empty() || authority.find('@') != std::string::npos) {
    return Invalid("url '" + url.substr(0, 100) + "' names no host (or holds credentials)");
  }
  return host;
}

Status CheckSecret(const std::string& secret) {
  if (secret.size() < kMinWebhookSecretLength || secret.size() > kMaxWebhookSecretLength) {
    return Invalid("secret is " + std::to_string(secret.size()) + " characters; it must be " +
                   std::to_string(kMinWebhookSecretLength) + ".." +
                   std::to_string(kMaxWebhookSecretLength) + " (leave it empty for one made here)");
  }
  for (char ch : secret) {
    if (ch <= ' ' || ch > '~') return Invalid("secret must be printable ASCII without spaces");
  }
  return Status::Ok();
}

}  // namespace

bool IsPrivateAddress(const struct sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    return PrivateV4(ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr));
  }
  if (addr->sa_family != AF_INET6) return true;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
  const uint8_t* b = a.s6_addr;
  const auto v4_at = [b](int i) {
    return (uint32_t{b[i]} << 24) | (uint32_t{b[i + 1]} << 16) | (uint32_t{b[i + 2]} << 8) | b[i + 3];
  };
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  // An IPv4 address inside: mapped (::ffff:0:0/96), compatible (::/96),
  // NAT64 (64:ff9b::/96 and the local 64:ff9b:1::/48), 6to4 (2002::/16).
  if (IN6_IS_ADDR_V4MAPPED(&a) || std::memcmp(b, kNat64, 12) == 0) return PrivateV4(v4_at(12));
  if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1) return true;
  if (b[0] == 0x20 && b[1] == 0x02) return PrivateV4(v4_at(2));
  if (IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_UNSPECIFIED(&a)) return true;
  if (std::all_of(b, b + 12, [](uint8_t x) { return x == 0; })) return PrivateV4(v4_at(12));
  return (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||  // link-local
         (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) ||  // site-local (deprecated)
         (b[0] & 0xfe) == 0xfc ||                      // unique local
         b[0] == 0xff;                                 // multicast
}

StatusOr<WebhookRow> NewWebhook(const v1::Webhook& request, const std::string& principal,
                                int64_t now_ns, bool allow_private) {
  if (!request.id().empty() || !request.principal().empty() || request.has_create_time() ||
      request.pending() != 0) {
    return Invalid("id, principal, create_time and pending are set by the server; leave them empty");
  }
  auto host = CheckUrl(request.url());
  if (!host.ok()) return host.status();
  if (!allow_private) GANTRY_RETURN_IF_ERROR(CheckHost(*host));
  WebhookRow row;
  std::set<int> seen;
  for (int e : request.events()) {
    if (e < v1::WEBHOOK_EVENT_JOB_ENDED || e > v1::WEBHOOK_EVENT_ALARM) {
      return Invalid("events: " + std::to_string(e) +
                     " is not one of WEBHOOK_EVENT_JOB_ENDED, WEBHOOK_EVENT_NEW_BEST, WEBHOOK_EVENT_ALARM");
    }
    if (!seen.insert(e).second) {
      return Invalid("events: " + v1::WebhookEvent_Name(static_cast<v1::WebhookEvent>(e)) +
                     " is named twice");
    }
    row.events |= 1u << e;
  }
  if (row.events == 0) {
    for (int e = v1::WEBHOOK_EVENT_JOB_ENDED; e <= v1::WEBHOOK_EVENT_ALARM; ++e) row.events |= 1u << e;
  }
  if (!request.job_id().empty()) {
    const std::string& id = request.job_id();
    bool ok = id.size() <= 64;
    for (char ch : id) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-');
    if (!ok) return Invalid("job_id '" + id.substr(0, 64) + "' is not a job id (j-...)");
  }
  if (!request.label_selector().empty()) {
    auto parsed = ParseLabelSelector(request.label_selector());
    if (!parsed.ok()) return Invalid("label_selector: " + parsed.status().message());
  }
  if (request.owner().size() > 200) return Invalid("owner is longer than 200 characters");
  if (!request.secret().empty()) GANTRY_RETURN_IF_ERROR(CheckSecret(request.secret()));
  row.id = "wh-" + RandomHex(8);
  row.secret = request.secret().empty() ? "whsec_" + RandomHex(24) : request.secret();
  if (row.id.size() != 19 || row.secret.empty()) {
    return Status::Internal("webhook: OpenSSL's random generator failed");
  }
  row.principal = principal;
  row.url = request.url();
  row.job_id = request.job_id();
  row.label_selector = request.label_selector();
  row.owner = request.owner();
  row.create_ns = now_ns;
  return row;
}

v1::Webhook WebhookToProto(const WebhookRow& row, bool with_secret) {
  v1::Webhook w;
  w.set_id(row.id);
  w.set_url(row.url);
  for (int e = v1::WEBHOOK_EVENT_JOB_ENDED; e <= v1::WEBHOOK_EVENT_ALARM; ++e) {
    if (row.events & (1u << e)) w.add_events(static_cast<v1::WebhookEvent>(e));
  }
  w.set_job_id(row.job_id);
  w.set_label_selector(row.label_selector);
  w.set_owner(row.owner);
  w.set_principal(row.principal);
  SetTimestamp(row.create_ns, w.mutable_create_time());
  if (with_secret) w.set_secret(row.secret);
  w.set_pending(row.pending);
  return w;
}

v1::WebhookDelivery DeliveryToProto(const DeliveryRow& row) {
  v1::WebhookDelivery d;
  d.set_seq(row.seq);
  d.set_id(row.key);
  d.set_type(static_cast<v1::WebhookEvent>(row.type));
  d.set_job_id(row.job_id);
  d.set_event_seq(row.event_seq);
  d.set_state(static_cast<v1::DeliveryState>(row.state));
  d.set_attempts(row.attempts);
  d.set_last_status(row.last_status);
  d.set_last_error(row.last_error);
  SetTimestamp(row.create_ns, d.mutable_create_time());
  if (row.last_attempt_ns > 0) SetTimestamp(row.last_attempt_ns, d.mutable_last_attempt_time());
  if (row.state == v1::DELIVERY_STATE_PENDING) {
    SetTimestamp(row.next_attempt_ns, d.mutable_next_attempt_time());
  }
  return d;
}

std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  const std::string t = std::to_string(unix_seconds);
  std::string signed_text = t + ".";
  signed_text.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  return "t=" + t + ",v1=" + Hex(mac, len);
}

}  // namespace gantry
