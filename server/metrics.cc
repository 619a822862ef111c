#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "server/jobs/convert.h"
#include "server/api/status_map.h"

namespace gantry {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  jobs_ = &prometheus::BuildGauge().Name("gantry_jobs").Help("Jobs by state").Register(*registry_);
  for (auto s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                 v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    jobs_->Add({{"state", JobStateName(s)}});
  }
  epochs_ = &prometheus::BuildCounter()
                 .Name("gantry_epochs_trained_total")
                 .Help("Epochs trained")
                 .Register(*registry_)
                 .Add({});
  epoch_seconds_ =
      &prometheus::BuildHistogram()
           .Name("gantry_epoch_duration_seconds")
           .Help("Training time of one epoch")
           .Register(*registry_)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5, 1, 2.5, 5, 10, 30, 60});
  rpcs_ = &prometheus::BuildCounter()
               .Name("gantry_rpcs_total")
               .Help("RPCs by method and gRPC status code")
               .Register(*registry_);
  watches_ = &prometheus::BuildGauge()
                  .Name("gantry_watch_streams_open")
                  .Help("Open WatchJob streams")
                  .Register(*registry_)
                  .Add({});
  points_ = &prometheus::BuildCounter()
                 .Name("gantry_points_sampled_total")
                 .Help("Points returned by Sample and SampleStream")
                 .Register(*registry_)
                 .Add({});
  audit_failures_ = &prometheus::BuildCounter()
                         .Name("gantry_audit_failures_total")
                         .Help("Audit log entries the store could not keep")
                         .Register(*registry_)
                         .Add({});
  webhook_attempts_ = &prometheus::BuildCounter()
                           .Name("gantry_webhook_attempts_total")
                           .Help("Webhook delivery attempts by outcome (delivered, retry, failed)")
                           .Register(*registry_);
}

Metrics::~Metrics() = default;

std::string Metrics::Text() const {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, registry_->Collect());
  return os.str();
}

void Metrics::JobState(v1::JobState from, v1::JobState to) {
  if (from != v1::JOB_STATE_UNSPECIFIED) jobs_->Add({{"state", JobStateName(from)}}).Decrement();
  if (to != v1::JOB_STATE_UNSPECIFIED) jobs_->Add({{"state", JobStateName(to)}}).Increment();
}

void Metrics::EpochTrained(double seconds) {
  epochs_->Increment();
  epoch_seconds_->Observe(seconds);
}

void Metrics::Rpc(const std::string& method, int grpc_code) {
  rpcs_->Add({{"method", method}, {"code", GrpcCodeName(static_cast<grpc::StatusCode>(grpc_code))}})
      .Increment();
}

void Metrics::WatchOpened() { watches_->Increment(); }
void Metrics::AuditFailed() { audit_failures_->Increment(); }
void Metrics::WebhookAttempt(const std::string& outcome) {
  webhook_attempts_->Add({{"outcome", outcome}}).Increment();
}
void Metrics::WatchClosed() { watches_->Decrement(); }
void Metrics::PointsSampled(int64_t count) { points_->Increment(static_cast<double>(count)); }

}  // namespace gantry
