// Prometheus metrics for gantryd (prometheus-cpp), served at /metrics by the
// HTTP server (--http-listen, and --metrics-listen):
//
//   gantry_jobs{state}                    jobs by state (gauge)
//   gantry_epochs_trained_total           epochs trained (counter)
//   gantry_epoch_duration_seconds         training time per epoch (histogram)
//   gantry_rpcs_total{method,code}        RPCs by method and status code (counter)
//   gantry_watch_streams_open             open WatchJob and SSE event streams (gauge)
//   gantry_points_sampled_total           points returned by Sample/SampleStream (counter)
//   gantry_audit_failures_total           audit entries the store could not keep (counter)
//
// prometheus-cpp-core holds the metrics and writes the text format; the
// endpoint is gantryd's HTTP server (http_server.h).
// prometheus-cpp-pull's embedded civetweb is not used: it fails to start in
// a process that has LibTorch loaded ("null context when constructing
// CivetServer").
//
// Thread-safety: every method is safe from any thread (prometheus-cpp's
// metrics are atomic; families add series under their own lock).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace gantry {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The current metrics in Prometheus' text format.
  std::string Text() const;

  // A job entered `to` (from `from`, UNSPECIFIED for a new or recovered
  // job); `to` UNSPECIFIED means it was deleted.
  void JobState(v1::JobState from, v1::JobState to);
  void EpochTrained(double seconds);
  void Rpc(const std::string& method, int grpc_code);
  void WatchOpened();
  void WatchClosed();
  void PointsSampled(int64_t count);
  void AuditFailed();
  // A webhook delivery attempt ended: "delivered", "retry" or "failed".
  void WebhookAttempt(const std::string& outcome);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Counter* epochs_;
  prometheus::Histogram* epoch_seconds_;
  prometheus::Family<prometheus::Counter>* rpcs_;
  prometheus::Gauge* watches_;
  prometheus::Counter* points_;
  prometheus::Counter* audit_failures_;
  prometheus::Family<prometheus::Counter>* webhook_attempts_;
};

}  // namespace gantry
