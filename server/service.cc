#include "server/service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "server/event_cursor.h"
#include "server/status_map.h"

namespace gantry {
namespace {

using Clock = Calls::Clock;

constexpr int64_t kStreamChunkValues = 262'144;   // 1 MiB of floats per SampleStream message
constexpr size_t kExportChunkBytes = 1 << 20;

// Authenticates, runs `fn` (returning a StatusOr of the response) and
// finishes the unary call with it.
template <typename Fn, typename Out>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const grpc::Status& auth,
                                const Calls& calls, const char* method,
                                const std::string& job_id, Out* response, Fn&& fn) {
  const auto start = Clock::now();
  grpc::Status status = auth;
  if (auth.ok()) {
    auto result = fn();
    status = ToGrpcStatus(result.status());
    if (result.ok()) *response = std::move(result).value();
  }
  calls.Log(method, job_id, status, start);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// A stream that fails before its first message.
template <typename Msg>
class FailedStream final : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// A stream that fails before its first message: logged, counted, finished.
template <typename Msg>
grpc::ServerWriteReactor<Msg>* Reject(const Calls& calls, const char* method,
                                      const std::string& job_id, const grpc::Status& status) {
  calls.Log(method, job_id, status, Clock::now());
  return new FailedStream<Msg>(status);
}

// WatchJob: replays the job's EventLog from from_seq, then follows it.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(const Calls& calls, std::shared_ptr<EventLog> log, std::string job_id,
               int64_t from_seq)
      : calls_(calls), cursor_(std::move(log), from_seq), job_id_(std::move(job_id)) {
    calls_.StreamOpened();
    notifier_ = std::make_shared<Notifier>([this] { Kick(); });
    cursor_.log().Subscribe(notifier_);
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
    cursor_.Advance();
    AdvanceLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
  }

  void OnDone() override {
    notifier_->Detach();
    calls_.StreamClosed();
    calls_.Log("WatchJob", job_id_, final_status_, start_);
    delete this;
  }

 private:
  void Kick() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_) AdvanceLocked();
  }

  void AdvanceLocked() {
    if (finished_) return;
    switch (cursor_.Next(&current_)) {
      case EventCursor::Step::kEvent:
        writing_ = true;
        StartWrite(current_.get());
        return;
      case EventCursor::Step::kEnd:
        FinishLocked(grpc::Status::OK);
        return;
      case EventCursor::Step::kInterrupted:
        FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "the server is shutting down; watch again with from_seq=" +
                                      std::to_string(cursor_.next_seq())));
        return;
      case EventCursor::Step::kWait:
        return;
    }
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    final_status_ = status;
    Finish(status);
  }

  const Calls& calls_;
  const Clock::time_point start_ = Clock::now();
  std::shared_ptr<Notifier> notifier_;
  std::mutex mu_;
  EventCursor cursor_;                              // Guarded by mu_.
  const std::string job_id_;
  std::shared_ptr<const v1::JobEvent> current_;     // Guarded by mu_; in flight.
  bool writing_ = false;                            // Guarded by mu_.
  bool finished_ = false;                           // Guarded by mu_.
  bool cancelled_ = false;                          // Guarded by mu_.
  grpc::Status final_status_;                       // Guarded by mu_.
};

// SampleStream: one chunk computed per completed write.
class SampleStreamReactor final : public grpc::ServerWriteReactor<v1::SampleResponse> {
 public:
  SampleStreamReactor(const Calls& calls, SamplePlan plan, std::string job_id)
      : calls_(calls), plan_(std::move(plan)), job_id_(std::move(job_id)) {
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
    calls_.Log("SampleStream", job_id_, status_, start_);
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
    calls_.CountPoints(take);
    offset_ += take;
    StartWrite(&response_);
  }

  const Calls& calls_;
  const SamplePlan plan_;
  const std::string job_id_;
  const Clock::time_point start_ = Clock::now();
  int64_t chunk_ = 1;
  int64_t offset_ = 0;
  v1::SampleResponse response_;
  grpc::Status status_;
};

// ExportGenerator: the TorchScript bytes in 1 MiB chunks.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(const Calls& calls, ExportedGenerator exported, std::string job_id)
      : calls_(calls), exported_(std::move(exported)), job_id_(std::move(job_id)) {
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
    calls_.Log("ExportGenerator", job_id_, status_, start_);
    delete this;
  }

 private:
  void Next() {
    const std::string& bytes = exported_.bytes;
    if (offset_ >= bytes.size() && offset_ > 0) {
      Finish(grpc::Status::OK);
      return;
    }
    const size_t take = std::min(kExportChunkBytes, bytes.size() - offset_);
    chunk_.set_data(bytes.substr(offset_, take));
    chunk_.set_epoch(exported_.epoch);
    offset_ += std::max<size_t>(take, 1);
    StartWrite(&chunk_);
  }

  const Calls& calls_;
  const ExportedGenerator exported_;
  const std::string job_id_;
  const Clock::time_point start_ = Clock::now();
  size_t offset_ = 0;
  v1::ExportChunk chunk_;
  grpc::Status status_;
};

}  // namespace

grpc::Status GantryService::Authenticate(const grpc::CallbackServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return calls_->Authenticate(std::nullopt);
  return calls_->Authenticate(std::string_view(it->second.data(), it->second.size()));
}

grpc::ServerUnaryReactor* GantryService::CreateJob(grpc::CallbackServerContext* ctx,
                                                   const v1::CreateJobRequest* request,
                                                   v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "CreateJob", "", response,
               [&] { return calls_->CreateJob(*request); });
}

grpc::ServerUnaryReactor* GantryService::GetJob(grpc::CallbackServerContext* ctx,
                                                const v1::GetJobRequest* request,
                                                v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "GetJob", request->job_id(), response,
               [&] { return calls_->GetJob(*request); });
}

grpc::ServerUnaryReactor* GantryService::ListJobs(grpc::CallbackServerContext* ctx,
                                                  const v1::ListJobsRequest* request,
                                                  v1::ListJobsResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "ListJobs", "", response,
               [&] { return calls_->ListJobs(*request); });
}

grpc::ServerUnaryReactor* GantryService::CancelJob(grpc::CallbackServerContext* ctx,
                                                   const v1::CancelJobRequest* request,
                                                   v1::Job* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "CancelJob", request->job_id(), response,
               [&] { return calls_->CancelJob(*request); });
}

grpc::ServerUnaryReactor* GantryService::DeleteJob(grpc::CallbackServerContext* ctx,
                                                   const v1::DeleteJobRequest* request,
                                                   v1::DeleteJobResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "DeleteJob", request->job_id(), response,
               [&] { return calls_->DeleteJob(*request); });
}

grpc::ServerUnaryReactor* GantryService::GetDataset(grpc::CallbackServerContext* ctx,
                                                    const v1::GetDatasetRequest* request,
                                                    v1::GetDatasetResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "GetDataset", request->job_id(), response,
               [&] { return calls_->GetDataset(*request); });
}

grpc::ServerUnaryReactor* GantryService::Sample(grpc::CallbackServerContext* ctx,
                                                const v1::SampleRequest* request,
                                                v1::SampleResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "Sample", request->job_id(), response,
               [&] { return calls_->Sample(*request); });
}

grpc::ServerWriteReactor<v1::JobEvent>* GantryService::WatchJob(
    grpc::CallbackServerContext* ctx, const v1::WatchJobRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::JobEvent>(*calls_, "WatchJob", id, auth);
  }
  auto log = calls_->WatchJob(*request);
  if (!log.ok()) return Reject<v1::JobEvent>(*calls_, "WatchJob", id, ToGrpcStatus(log.status()));
  return new WatchReactor(*calls_, *log, id, request->from_seq());
}

grpc::ServerWriteReactor<v1::SampleResponse>* GantryService::SampleStream(
    grpc::CallbackServerContext* ctx, const v1::SampleRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::SampleResponse>(*calls_, "SampleStream", id, auth);
  }
  auto plan = calls_->PlanSampleStream(*request);
  if (!plan.ok()) {
    return Reject<v1::SampleResponse>(*calls_, "SampleStream", id, ToGrpcStatus(plan.status()));
  }
  return new SampleStreamReactor(*calls_, std::move(plan).value(), id);
}

grpc::ServerWriteReactor<v1::ExportChunk>* GantryService::ExportGenerator(
    grpc::CallbackServerContext* ctx, const v1::ExportGeneratorRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::ExportChunk>(*calls_, "ExportGenerator", id, auth);
  }
  auto exported = calls_->ExportGenerator(*request);
  if (!exported.ok()) {
    return Reject<v1::ExportChunk>(*calls_, "ExportGenerator", id,
                                   ToGrpcStatus(exported.status()));
  }
  return new ExportReactor(*calls_, std::move(exported).value(), id);
}

}  // namespace gantry
