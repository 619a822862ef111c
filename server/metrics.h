// Prometheus metrics for gantryd (prometheus-cpp), served over HTTP by
// --metrics-listen:
//
//   gantry_jobs{state}                    jobs by state (gauge)
//   gantry_epochs_trained_total           epochs trained (counter)
//   gantry_epoch_duration_seconds         training time per epoch (histogram)
//   gantry_rpcs_total{method,code}        RPCs by method and status code (counter)
//   gantry_watch_streams_open             open WatchJob streams (gauge)
//   gantry_points_sampled_total           points returned by Sample/SampleStream (counter)
//
// prometheus-cpp-core holds the metrics and writes the text format. The
// HTTP endpoint is a small server of our own: prometheus-cpp-pull's embedded
// civetweb fails to start in a process that has LibTorch loaded ("null
// context when constructing CivetServer"), so it cannot be used here.
//
// Thread-safety: every method is safe from any thread (prometheus-cpp's
// metrics are atomic; families add series under their own lock).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

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

  // Serves GET /metrics on HOST:PORT (IPv4 address or "localhost"; port 0
  // picks one) from a thread of its own. UNAVAILABLE if it cannot bind.
  Status Serve(const std::string& listen);
  int port() const { return port_; }
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

 private:
  void ServeLoop();

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread http_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Counter* epochs_;
  prometheus::Histogram* epoch_seconds_;
  prometheus::Family<prometheus::Counter>* rpcs_;
  prometheus::Gauge* watches_;
  prometheus::Counter* points_;
};

}  // namespace gantry
