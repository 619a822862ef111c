#include "server/webhooks/dispatcher.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

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

size_t KeepSome(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  const size_t bytes = size * n;
  if (s->size() < 200) s->append(data, std::min(bytes, 200 - s->size()));
  return bytes;
}

int AbortOnStop(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* flag = static_cast<const std::atomic<bool>*>(stop);
  return flag != nullptr && flag->load() ? 1 : 0;
}

}  // namespace

std::chrono::milliseconds RetryDelay(int attempts, const DispatcherOptions& options) {
  auto delay = options.first_retry;
  for (int i = 1; i < attempts && delay < options.max_retry; ++i) delay *= 2;
  return std::min(delay, options.max_retry);
}

PostResult PostJson(const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers, std::chrono::milliseconds timeout,
                    const std::string& user_agent, const std::atomic<bool>* stop) {
  PostResult out;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    out.error = "libcurl could not start a request";
    return out;
  }
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::string answer;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, KeepSome);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortOnStop);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stop));
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    out.status = static_cast<int>(status);
    if (!out.ok()) {
      out.error = "HTTP " + std::to_string(status) +
                  (answer.empty() ? "" : ": " + SafeText(answer, 200));
    }
  } else {
    out.error = error[0] != '\0' ? error : curl_easy_strerror(rc);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return out;
}

WebhookDispatcher::WebhookDispatcher(Store* store, DispatcherOptions options, Metrics* metrics)
    : store_(store), options_(std::move(options)), metrics_(metrics) {}

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
    auto claimed = store_->ClaimDeliveries(lease_ns, 1);
    if (!claimed.ok()) {
      spdlog::warn("webhooks: cannot claim deliveries: {}", claimed.status().ToString());
    } else if (!claimed->empty()) {
      Deliver(claimed->front());
      continue;
    }
    MutexLock lock(&mu_);
    if (!stop_) (void)wake_.WaitUntil(&mu_, std::chrono::steady_clock::now() + options_.idle_poll);
  }
}

void WebhookDispatcher::Deliver(const DeliveryRow& d) {
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
  const PostResult posted =
      PostJson(d.url, d.payload, headers, options_.timeout, options_.user_agent, &stop_);
  if (stop_ && !posted.ok()) return;  // abandoned: claimed again when its lease expires
  DeliveryOutcome outcome;
  outcome.seq = d.seq;
  outcome.attempts = d.attempts;
  outcome.delivered = posted.ok();
  outcome.status = posted.status;
  outcome.error = posted.error;
  outcome.retry_after_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(RetryDelay(d.attempts, options_)).count();
  outcome.give_up_after_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.give_up).count();
  const Status recorded = store_->FinishDelivery(outcome);
  if (!recorded.ok()) {
    spdlog::warn("webhooks: cannot record delivery {} ({}): {}", d.key,
                 posted.ok() ? "delivered" : posted.error, recorded.ToString());
  }
  const bool gave_up = !posted.ok() && d.create_ns > 0 &&
                       d.last_attempt_ns - d.create_ns >= outcome.give_up_after_ns;
  if (posted.ok()) {
    spdlog::debug("webhooks: delivered {} to {}", d.key, d.url);
  } else {
    spdlog::info("webhooks: {} to {} failed (attempt {}): {}", d.key, SafeText(d.url, 200),
                 d.attempts, posted.error);
  }
  if (metrics_ != nullptr) metrics_->WebhookAttempt(posted.ok() ? "delivered" : gave_up ? "failed" : "retry");
}

}  // namespace gantry
