#include "server/webhooks/webhooks.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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

Status CheckUrl(const std::string& url) {
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
  size_t rest = 0;
  if (url.rfind("http://", 0) == 0) rest = 7;
  else if (url.rfind("https://", 0) == 0) rest = 8;
  else return Invalid("url '" + url.substr(0, 100) + "' must start with http:// or https://");
  const size_t host_end = url.find_first_of("/?#", rest);
  const std::string host = url.substr(rest, host_end == std::string::npos ? std::string::npos : host_end - rest);
  if (host.empty() || host.find('@') != std::string::npos) {
    return Invalid("url '" + url.substr(0, 100) + "' names no host (or holds credentials)");
  }
  return Status::Ok();
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

StatusOr<WebhookRow> NewWebhook(const v1::Webhook& request, const std::string& principal,
                                int64_t now_ns) {
  if (!request.id().empty() || !request.principal().empty() || request.has_create_time() ||
      request.pending() != 0) {
    return Invalid("id, principal, create_time and pending are set by the server; leave them empty");
  }
  GANTRY_RETURN_IF_ERROR(CheckUrl(request.url()));
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
