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
#include <functional>
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
  // Send to loopback, private and link-local addresses too
  // (--webhook-allow-private; webhooks.h IsPrivateAddress).
  bool allow_private = false;
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
// (http or https, certificates verified, no redirects followed, no proxy).
// Unless `allow_private`, refuses to connect to an address
// IsPrivateAddress names (checked on the address the host resolved to, so
// a name that points there is refused too). Gives up after `timeout`, or
// soon after *stop becomes true. The answer's body is not kept.
PostResult PostJson(const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers, std::chrono::milliseconds timeout,
                    const std::string& user_agent, bool allow_private,
                    const std::atomic<bool>* stop);

class WebhookDispatcher {
 public:
  // Whether a webhook's principal may still send (a member or admin in the
  // credentials file as it is now); null: every one may.
  using MaySend = std::function<bool(const std::string& principal)>;

  // `metrics` may be null. A delivery whose principal may no longer send
  // ends FAILED without a POST.
  WebhookDispatcher(Store* store, DispatcherOptions options, Metrics* metrics,
                    MaySend may_send = nullptr);
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

  // Records an attempt's end; `give_up`: it ends FAILED whatever its age.
  void Finish(const DeliveryRow& d, const PostResult& posted, bool give_up);

  Store* const store_;
  const DispatcherOptions options_;
  Metrics* const metrics_;
  const MaySend may_send_;
  // Set by Stop(); read without the lock by a POST in flight (to abort it).
  std::atomic<bool> stop_{false};
  Mutex mu_;
  CondVar wake_;  // Stop() wakes the idle workers
  // The webhooks of the POSTs in flight here: a worker claims none of
  // theirs, so a slow receiver holds one worker, never all.
  std::vector<std::string> in_flight_ GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

}  // namespace gantry
