// WebhookDispatcher: POSTs the webhook deliveries the store holds
// (Store::ClaimDeliveries: the outbox AppendEvent fills), each signed
// (webhooks.h), and records every attempt's outcome (FinishDelivery).
//
// At least once: a delivery is claimed with a lease before its POST and
// marked only after it; a replica that dies between the two leaves it to
// be claimed again once the lease expires (at once by the next gantryd on
// an exclusive store), with the same Idempotency-Key. A failed attempt (no
// answer within the timeout, or a status other than 2xx) is retried after
// first_retry, doubling to max_retry, until give_up after the delivery was
// stored; then it ends FAILED.
//
// Thread-safety: Start and Stop from one thread; the workers are the
// object's own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

class Metrics;

struct DispatcherOptions {
  int workers = 2;                                  // POSTs in flight at once
  std::chrono::milliseconds timeout{10'000};        // per POST, connecting included
  std::chrono::milliseconds first_retry{1'000};
  std::chrono::milliseconds max_retry{300'000};
  std::chrono::milliseconds give_up{24LL * 3600 * 1000};
  std::chrono::milliseconds idle_poll{500};         // how often an idle worker looks
  std::string user_agent = "gantryd";
};

// How long after its attempt number `attempts` (1, 2, ...) a failed
// delivery is tried again: first_retry doubled attempts - 1 times, at most
// max_retry.
std::chrono::milliseconds RetryDelay(int attempts, const DispatcherOptions& options);

// The outcome of one POST: the HTTP status (0 when none came) and, unless
// it was 2xx, what went wrong.
struct PostResult {
  int status = 0;
  std::string error;
  bool ok() const { return status >= 200 && status < 300; }
};
// POSTs `body` (application/json) with `headers` ("Name: value") to `url`
// (http or https, certificates verified, no redirects followed). Gives up
// after `timeout`, or soon after *stop becomes true.
PostResult PostJson(const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers, std::chrono::milliseconds timeout,
                    const std::string& user_agent, const std::atomic<bool>* stop);

class WebhookDispatcher {
 public:
  // `metrics` may be null.
  WebhookDispatcher(Store* store, DispatcherOptions options, Metrics* metrics);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void Start();
  // Ends the workers: a POST in flight is abandoned (its delivery is claimed
  // again when its lease expires). Returns once they have ended.
  void Stop();

 private:
  void Work();
  void Deliver(const DeliveryRow& d);

  Store* const store_;
  const DispatcherOptions options_;
  Metrics* const metrics_;
  // Set by Stop(); read without the lock by a POST in flight (to abort it).
  std::atomic<bool> stop_{false};
  Mutex mu_;
  CondVar wake_;  // Stop() wakes the idle workers
  std::vector<std::thread> workers_;
};

}  // namespace gantry
