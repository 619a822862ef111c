#include "server/webhooks/dispatcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "server/metrics.h"
#include "server/util/safe_text.h"
#include "server/webhooks/webhooks.h"

namespace gantry {
namespace {

// The lease of a claimed delivery: well past a POST's timeout.
std::chrono::nanoseconds LeaseFor(const DispatcherOptions& o) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(o.timeout) * 3 +
         std::chrono::seconds(30);
}

// How long a worker waits after the store failed a claim.
constexpr auto kClaimErrorWait = std::chrono::seconds(5);

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

int AbortOnStop(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* flag = static_cast<const std::atomic<bool>*>(stop);
  return flag != nullptr && flag->load() ? 1 : 0;
}

// Refuses a connection to a private address (PostJson's guard), on the
// address the host resolved to.
struct SocketGuard {
  bool allow_private = false;
  std::string refused;  // the address refused, if one was
};

std::string AddressText(const sockaddr* a) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (a->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text, sizeof text);
  } else if (a->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text, sizeof text);
  } else {
    return "an address of family " + std::to_string(a->sa_family);
  }
  return text;
}

curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* guard = static_cast<SocketGuard*>(clientp);
  if (!guard->allow_private && IsPrivateAddress(&address->addr)) {
    guard->refused = AddressText(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

}  // namespace

std::chrono::milliseconds RetryDelay(int attempts, const DispatcherOptions& options) {
  auto delay = options.first_retry;
  for (int i = 1; i < attempts && delay < options.max_retry; ++i) delay *= 2;
  return std::min(delay, options.max_retry);
}

PostResult PostJson(const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers, std::chrono::milliseconds timeout,
                    const std::string& user_agent, bool allow_private,
                    const std::atomic<bool>* stop) {
  PostResult out;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    out.error = "libcurl could not start a request";
    return out;
  }
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  SocketGuard guard;
  guard.allow_private = allow_private;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // No proxy from the environment: the guard must see the receiver's address.
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  // The answer's body is not kept: a delivery log that showed it would let
  // its reader read what the URL answers.
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortOnStop);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stop));
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    out.status = static_cast<int>(status);
    if (!out.ok()) out.error = "HTTP " + std::to_string(status);
  } else if (!guard.refused.empty()) {
    out.error = "not sent: the host resolves to " + guard.refused +
                ", a loopback, private or link-local address (gantryd's --webhook-allow-private "
                "allows it)";
  } else {
    out.error = error[0] != '\0' ? error : curl_easy_strerror(rc);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return out;
}

WebhookDispatcher::WebhookDispatcher(Store* store, DispatcherOptions options, Metrics* metrics,
                                     MaySend may_send)
    : store_(store), options_(std::move(options)), metrics_(metrics), may_send_(std::move(may_send)) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

void WebhookDispatcher::Start() {
  // Not thread-safe in libcurl: once, before any worker runs (a second
  // call only counts up).
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Work(); });
}

void WebhookDispatcher::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void WebhookDispatcher::Work() {
  const int64_t lease_ns = LeaseFor(options_).count();
  while (!stop_) {
    std::optional<DeliveryRow> next;
    bool failed = false;
    {
      // Claimed under the lock, so two workers never take one webhook's
      // deliveries at once.
      MutexLock lock(&mu_);
      auto claimed = store_->ClaimDeliveries(lease_ns, 1, in_flight_);
      if (!claimed.ok()) {
        spdlog::warn("webhooks: cannot claim deliveries (trying again in {} s): {}",
                     kClaimErrorWait.count(), claimed.status().ToString());
        failed = true;
      } else if (!claimed->empty()) {
        next = std::move(claimed->front());
        in_flight_.push_back(next->webhook_id);
      }
    }
    if (next) {
      Deliver(*next);
      MutexLock lock(&mu_);
      in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), next->webhook_id));
      continue;
    }
    MutexLock lock(&mu_);
    const auto wait = failed ? std::chrono::duration_cast<std::chrono::milliseconds>(kClaimErrorWait)
                             : options_.idle_poll;
    if (!stop_) (void)wake_.WaitUntil(&mu_, std::chrono::steady_clock::now() + wait);
  }
}

void WebhookDispatcher::Deliver(const DeliveryRow& d) {
  if (may_send_ && !d.principal.empty() && !may_send_(d.principal)) {
    PostResult refused;
    refused.error = "not sent: '" + d.principal +
                    "' may no longer send webhooks (not a member or admin in the credentials file)";
    Finish(d, refused, /*give_up=*/true);
    return;
  }
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string type = v1::WebhookEvent_Name(static_cast<v1::WebhookEvent>(d.type));
  const std::vector<std::string> headers = {
      "Idempotency-Key: " + d.key,
      "X-Gantry-Event: " + type,
      "X-Gantry-Delivery-Attempt: " + std::to_string(d.attempts),
      "X-Gantry-Signature: " + WebhookSignature(d.secret, now_s, d.payload),
  };
  const PostResult posted = PostJson(d.url, d.payload, headers, options_.timeout,
                                     options_.user_agent, options_.allow_private, &stop_);
  if (stop_ && !posted.ok()) return;  // abandoned: claimed again when its lease expires
  Finish(d, posted, /*give_up=*/false);
}

void WebhookDispatcher::Finish(const DeliveryRow& d, const PostResult& posted, bool give_up) {
  DeliveryOutcome outcome;
  outcome.seq = d.seq;
  outcome.attempts = d.attempts;
  outcome.delivered = posted.ok();
  outcome.status = posted.status;
  outcome.error = posted.error;
  outcome.retry_after_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(RetryDelay(d.attempts, options_)).count();
  outcome.give_up_after_ns =
      give_up ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(options_.give_up).count();
  const auto recorded = store_->FinishDelivery(outcome);
  if (!recorded.ok()) {
    spdlog::warn("webhooks: cannot record delivery {} ({}): {}", d.key,
                 posted.ok() ? "delivered" : posted.error, recorded.status().ToString());
  }
  // What the store decided (on its clock): whether this was the last try.
  const bool gave_up = recorded.ok() && *recorded == v1::DELIVERY_STATE_FAILED;
  if (posted.ok()) {
    spdlog::debug("webhooks: delivered {} to {}", d.key, SafeText(d.url, 200));
  } else {
    spdlog::info("webhooks: {} to {} failed (attempt {}{}): {}", d.key, SafeText(d.url, 200),
                 d.attempts, gave_up ? ", the last" : "", posted.error);
  }
  if (metrics_ != nullptr) {
    metrics_->WebhookAttempt(posted.ok() ? "delivered" : gave_up ? "failed" : "retry");
  }
}

}  // namespace gantry
