#include "server/service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>

#include "core/export.h"
#include "server/convert.h"
#include "server/metrics.h"
#include "server/status_map.h"

namespace gantry {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kStreamChunkValues = 262'144;   // 1 MiB of floats per SampleStream message
constexpr size_t kExportChunkBytes = 1 << 20;

void LogRpc(Metrics* metrics, const char* method, const std::string& job_id,
            const grpc::Status& status, Clock::time_point start) {
  if (metrics != nullptr) metrics->Rpc(method, static_cast<int>(status.error_code()));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (status.ok()) {
    spdlog::info("rpc {} job={} OK {:.1f}ms", method, job_id.empty() ? "-" : job_id, ms);
  } else {
    spdlog::info("rpc {} job={} code={} {:.1f}ms: {}", method, job_id.empty() ? "-" : job_id,
                 static_cast<int>(status.error_code()), ms, status.error_message());
  }
}

// Authenticates, runs `fn` (returning a gantry Status) and finishes the
// unary call with it.
template <typename Fn>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const grpc::Status& auth,
                                Metrics* metrics, const char* method, const std::string& job_id,
                                Fn&& fn) {
  const auto start = Clock::now();
  const grpc::Status status = auth.ok() ? ToGrpcStatus(fn()) : auth;
  LogRpc(metrics, method, job_id, status, start);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

template <typename T, typename Out>
Status Assign(StatusOr<T> result, Out* out) {
  if (!result.ok()) return result.status();
  *out = std::move(result).value();
  return Status::Ok();
}

// A stream that fails before its first message.
template <typename Msg>
class FailedStream final : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

struct SamplePlan {
  std::shared_ptr<const GeneratorSnapshot> snapshot;
  uint64_t seed = 0;
  int64_t count = 0;
};

uint64_t RandomSeed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return rng();
}

StatusOr<SamplePlan> PlanSample(const JobManager& manager, const v1::SampleRequest& req,
                                bool unary) {
  const int64_t limit = manager.options().max_sample_points;
  if (req.count() < 1 || req.count() > limit) {
    const std::string msg = "count: " + std::to_string(req.count()) + " is out of range 1.." +
                            std::to_string(limit);
    if (req.count() > limit) return Status::ResourceExhausted(msg + " (--max-sample-points)");
    return Status::InvalidArgument(msg);
  }
  std::optional<int64_t> epoch;
  if (req.has_epoch()) epoch = req.epoch();
  auto snapshot = manager.Snapshot(req.job_id(), epoch);
  if (!snapshot.ok()) return snapshot.status();
  SamplePlan plan;
  plan.snapshot = *snapshot;
  plan.count = req.count();
  plan.seed = req.has_seed() ? req.seed() : RandomSeed();
  const int64_t values = plan.count * plan.snapshot->data_dim();
  if (unary && values > kMaxUnarySampleValues) {
    return Status::ResourceExhausted(
        "count: " + std::to_string(plan.count) + " points of dimension " +
        std::to_string(plan.snapshot->data_dim()) + " is " + std::to_string(values) +
        " values, over Sample's limit of " + std::to_string(kMaxUnarySampleValues) +
        " values per message; use SampleStream");
  }
  return plan;
}

void FillSample(const SamplePlan& plan, int64_t offset, int64_t count, v1::SampleResponse* out) {
  out->set_seed(plan.seed);
  out->set_epoch(plan.snapshot->epoch());
  out->set_offset(offset);
  v1::Points* points = out->mutable_points();
  points->set_dim(static_cast<int32_t>(plan.snapshot->data_dim()));
  points->mutable_values()->Resize(static_cast<int>(count * plan.snapshot->data_dim()), 0.0f);
  plan.snapshot->SampleInto(plan.seed, offset, count, points->mutable_values()->mutable_data());
}

std::atomic<int64_t> open_watch_streams{0};

// WatchJob: replays the job's EventLog from from_seq, then follows it.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(std::shared_ptr<EventLog> log, std::string job_id, int64_t from_seq,
               Metrics* metrics)
      : log_(std::move(log)), job_id_(std::move(job_id)), metrics_(metrics),
        next_seq_(std::max<int64_t>(1, from_seq)) {
    open_watch_streams.fetch_add(1);
    if (metrics_ != nullptr) metrics_->WatchOpened();
    notifier_ = std::make_shared<Notifier>([this] { Kick(); });
    log_->Subscribe(notifier_);
    Kick();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    current_.reset();
    if (!ok || cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    ++next_seq_;
    AdvanceLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
  }

  void OnDone() override {
    notifier_->Detach();
    open_watch_streams.fetch_sub(1);
    if (metrics_ != nullptr) metrics_->WatchClosed();
    LogRpc(metrics_, "WatchJob", job_id_, final_status_, start_);
    delete this;
  }

 private:
  void Kick() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_) AdvanceLocked();
  }

  void AdvanceLocked() {
    if (finished_) return;
    if (auto event = log_->At(next_seq_)) {
      current_ = std::move(event);
      writing_ = true;
      StartWrite(current_.get());
      return;
    }
    const int64_t terminal = log_->terminal_seq();
    if (terminal > 0 && next_seq_ > terminal) {
      FinishLocked(grpc::Status::OK);
    } else if (log_->interrupted()) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the server is shutting down; watch again with from_seq=" +
                                    std::to_string(next_seq_)));
    }
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    final_status_ = status;
    Finish(status);
  }

  const std::shared_ptr<EventLog> log_;
  const std::string job_id_;
  Metrics* const metrics_;
  const Clock::time_point start_ = Clock::now();
  std::shared_ptr<Notifier> notifier_;
  std::mutex mu_;
  int64_t next_seq_;                                // Guarded by mu_.
  std::shared_ptr<const v1::JobEvent> current_;     // Guarded by mu_; in flight.
  bool writing_ = false;                            // Guarded by mu_.
  bool finished_ = false;                           // Guarded by mu_.
  bool cancelled_ = false;                          // Guarded by mu_.
  grpc::Status final_status_;                       // Guarded by mu_.
};

// SampleStream: one chunk computed per completed write.
class SampleStreamReactor final : public grpc::ServerWriteReactor<v1::SampleResponse> {
 public:
  SampleStreamReactor(SamplePlan plan, std::string job_id, Metrics* metrics)
      : plan_(std::move(plan)), job_id_(std::move(job_id)), metrics_(metrics) {
    chunk_ = std::max<int64_t>(1, kStreamChunkValues / plan_.snapshot->data_dim());
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      status_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      Finish(status_);
      return;
    }
    Next();
  }
  void OnDone() override {
    LogRpc(metrics_, "SampleStream", job_id_, status_, start_);
    delete this;
  }

 private:
  void Next() {
    if (offset_ >= plan_.count) {
      Finish(grpc::Status::OK);
      return;
    }
    const int64_t take = std::min(chunk_, plan_.count - offset_);
    response_.Clear();
    FillSample(plan_, offset_, take, &response_);
    if (metrics_ != nullptr) metrics_->PointsSampled(take);
    offset_ += take;
    StartWrite(&response_);
  }

  const SamplePlan plan_;
  const std::string job_id_;
  Metrics* const metrics_;
  const Clock::time_point start_ = Clock::now();
  int64_t chunk_ = 1;
  int64_t offset_ = 0;
  v1::SampleResponse response_;
  grpc::Status status_;
};

// ExportGenerator: the TorchScript bytes in 1 MiB chunks.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(std::string bytes, int64_t epoch, std::string job_id, Metrics* metrics)
      : bytes_(std::move(bytes)), epoch_(epoch), job_id_(std::move(job_id)), metrics_(metrics) {
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      status_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      Finish(status_);
      return;
    }
    Next();
  }
  void OnDone() override {
    LogRpc(metrics_, "ExportGenerator", job_id_, status_, start_);
    delete this;
  }

 private:
  void Next() {
    if (offset_ >= bytes_.size() && offset_ > 0) {
      Finish(grpc::Status::OK);
      return;
    }
    const size_t take = std::min(kExportChunkBytes, bytes_.size() - offset_);
    chunk_.set_data(bytes_.substr(offset_, take));
    chunk_.set_epoch(epoch_);
    offset_ += std::max<size_t>(take, 1);
    StartWrite(&chunk_);
  }

  const std::string bytes_;
  const int64_t epoch_;
  const std::string job_id_;
  Metrics* const metrics_;
  const Clock::time_point start_ = Clock::now();
  size_t offset_ = 0;
  v1::ExportChunk chunk_;
  grpc::Status status_;
};

}  // namespace

int64_t OpenWatchStreams() { return open_watch_streams.load(); }

grpc::Status GantryService::Authenticate(const grpc::CallbackServerContext* ctx) const {
  if (options_.auth_token.empty()) return grpc::Status::OK;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <token>' metadata");
  }
  const std::string value(it->second.data(), it->second.size());
  const std::string expected = "Bearer " + options_.auth_token;
  // Compare in constant time.
  unsigned diff = value.size() != expected.size();
  for (size_t i = 0; i < value.size() && i < expected.size(); ++i) diff |= value[i] ^ expected[i];
  if (diff != 0) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token");
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* GantryService::CreateJob(grpc::CallbackServerContext* ctx,
                                                   const v1::CreateJobRequest* request,
                                                   v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "CreateJob", "",
               [&] { return Assign(manager_->Create(*request), response); });
}

grpc::ServerUnaryReactor* GantryService::GetJob(grpc::CallbackServerContext* ctx,
                                                const v1::GetJobRequest* request,
                                                v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "GetJob", request->job_id(),
               [&] { return Assign(manager_->Get(request->job_id()), response); });
}

grpc::ServerUnaryReactor* GantryService::ListJobs(grpc::CallbackServerContext* ctx,
                                                  const v1::ListJobsRequest* request,
                                                  v1::ListJobsResponse* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "ListJobs", "",
               [&] { return Assign(manager_->List(*request), response); });
}

grpc::ServerUnaryReactor* GantryService::CancelJob(grpc::CallbackServerContext* ctx,
                                                   const v1::CancelJobRequest* request,
                                                   v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "CancelJob", request->job_id(),
               [&] { return Assign(manager_->Cancel(request->job_id()), response); });
}

grpc::ServerUnaryReactor* GantryService::DeleteJob(grpc::CallbackServerContext* ctx,
                                                   const v1::DeleteJobRequest* request,
                                                   v1::DeleteJobResponse* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "DeleteJob", request->job_id(),
               [&] { return manager_->Delete(request->job_id()); });
}

grpc::ServerUnaryReactor* GantryService::GetDataset(grpc::CallbackServerContext* ctx,
                                                    const v1::GetDatasetRequest* request,
                                                    v1::GetDatasetResponse* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "GetDataset", request->job_id(),
               [&] { return Assign(manager_->Dataset(*request), response); });
}

grpc::ServerUnaryReactor* GantryService::Sample(grpc::CallbackServerContext* ctx,
                                                const v1::SampleRequest* request,
                                                v1::SampleResponse* response) {
  return Unary(ctx, Authenticate(ctx), options_.metrics, "Sample", request->job_id(),
               [&]() -> Status {
                 auto plan = PlanSample(*manager_, *request, /*unary=*/true);
                 if (!plan.ok()) return plan.status();
                 FillSample(*plan, 0, plan->count, response);
                 if (options_.metrics != nullptr) options_.metrics->PointsSampled(plan->count);
                 return Status::Ok();
               });
}

// A stream that fails before its first message: logged, counted, finished.
template <typename Msg>
static grpc::ServerWriteReactor<Msg>* Reject(Metrics* metrics, const char* method,
                                             const std::string& job_id,
                                             const grpc::Status& status) {
  LogRpc(metrics, method, job_id, status, Clock::now());
  return new FailedStream<Msg>(status);
}

grpc::ServerWriteReactor<v1::JobEvent>* GantryService::WatchJob(
    grpc::CallbackServerContext* ctx, const v1::WatchJobRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::JobEvent>(options_.metrics, "WatchJob", id, auth);
  }
  if (request->from_seq() < 0) {
    return Reject<v1::JobEvent>(
        options_.metrics, "WatchJob", id,
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "from_seq: " + std::to_string(request->from_seq()) + " is out of range 0.."));
  }
  auto log = manager_->Events(id);
  if (!log.ok()) return Reject<v1::JobEvent>(options_.metrics, "WatchJob", id, ToGrpcStatus(log.status()));
  return new WatchReactor(*log, id, request->from_seq(), options_.metrics);
}

grpc::ServerWriteReactor<v1::SampleResponse>* GantryService::SampleStream(
    grpc::CallbackServerContext* ctx, const v1::SampleRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::SampleResponse>(options_.metrics, "SampleStream", id, auth);
  }
  auto plan = PlanSample(*manager_, *request, /*unary=*/false);
  if (!plan.ok()) {
    return Reject<v1::SampleResponse>(options_.metrics, "SampleStream", id,
                                      ToGrpcStatus(plan.status()));
  }
  return new SampleStreamReactor(std::move(plan).value(), id, options_.metrics);
}

grpc::ServerWriteReactor<v1::ExportChunk>* GantryService::ExportGenerator(
    grpc::CallbackServerContext* ctx, const v1::ExportGeneratorRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::ExportChunk>(options_.metrics, "ExportGenerator", id, auth);
  }
  std::optional<int64_t> epoch;
  if (request->has_epoch()) epoch = request->epoch();
  auto snapshot = manager_->Snapshot(id, epoch);
  StatusOr<std::string> bytes = snapshot.ok() ? ExportTorchScript(**snapshot)
                                              : StatusOr<std::string>(snapshot.status());
  if (!bytes.ok()) {
    return Reject<v1::ExportChunk>(options_.metrics, "ExportGenerator", id,
                                   ToGrpcStatus(bytes.status()));
  }
  return new ExportReactor(std::move(bytes).value(), (*snapshot)->epoch(), id, options_.metrics);
}

}  // namespace gantry
