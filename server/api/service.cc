#include "server/api/service.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "proto/watch_metadata.h"
#include "server/jobs/event_cursor.h"
#include "server/api/status_map.h"
#include "server/api/work_pool.h"
#include "server/util/mutex.h"

namespace gantry {
namespace {

using Clock = Calls::Clock;

constexpr size_t kExportChunkBytes = 1 << 20;

grpc::Status PoolBusy(const Calls& calls) { return ToGrpcStatus(calls.Busy()); }

// Authenticates, runs `fn` (returning a StatusOr of the response) and
// finishes the unary call with it.
template <typename Fn, typename Out>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const grpc::Status& auth,
                                const Calls& calls, const char* method, const std::string& job_id,
                                Out* response, Fn&& fn) {
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

// Like Unary, but `fn` runs on the work pool (heavy calls: Sample,
// GetDataset), and the call finishes from there. A full pool answers
// RESOURCE_EXHAUSTED at once.
template <typename Fn, typename Out>
grpc::ServerUnaryReactor* UnaryOnPool(grpc::CallbackServerContext* ctx, const grpc::Status& auth,
                                      const Calls& calls, const char* method,
                                      const std::string& job_id, Out* response, Fn fn) {
  const auto start = Clock::now();
  auto* reactor = ctx->DefaultReactor();
  if (!auth.ok()) {
    calls.Log(method, job_id, auth, start);
    reactor->Finish(auth);
    return reactor;
  }
  const bool queued =
      calls.Offload([&calls, method, job_id, response, fn = std::move(fn), start, reactor]() mutable {
        auto result = fn();
        const grpc::Status status = ToGrpcStatus(result.status());
        if (result.ok()) *response = std::move(result).value();
        calls.Log(method, job_id, status, start);
        reactor->Finish(status);
      });
  if (!queued) {
    const grpc::Status busy = PoolBusy(calls);
    calls.Log(method, job_id, busy, start);
    reactor->Finish(busy);
  }
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

// WatchJob: follows the job's events from from_seq (EventCursor). The
// notifier never reads: it only posts a step to the followers' pool (at
// most one queued per stream), where the cursor reads the store if it must;
// a completed write takes the next step on its own thread.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(const Calls& calls, WorkPool& followers, std::unique_ptr<EventCursor> cursor,
               std::string job_id)
      : calls_(calls), followers_(followers), cursor_(std::move(cursor)), job_id_(std::move(job_id)) {
    calls_.StreamOpened();
    // Posted steps hold the reactor; OnDone lets go of this reference.
    self_ = std::shared_ptr<WatchReactor>(this, [](WatchReactor* r) { delete r; });
    notifier_ = std::make_shared<Notifier>([weak = std::weak_ptr<WatchReactor>(self_)] {
      if (auto self = weak.lock()) self->Post();
    });
    cursor_->Subscribe(notifier_);
    // Accepted: the client learns it now, not with the first event (which
    // may be long in coming for from_seq past the last one).
    StartSendInitialMetadata();
    Kick();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    current_.reset();
    if (!ok || cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    cursor_->Advance();
    AdvanceLocked();
  }

  void OnCancel() override {
    MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
  }

  void OnDone() override {
    notifier_->Detach();  // no notifier call is in progress after this
    calls_.StreamClosed();
    grpc::Status status;
    {
      MutexLock lock(&mu_);  // a posted step may still run (it finds finished_)
      status = final_status_;
    }
    calls_.Log("WatchJob", job_id_, status, start_);
    self_.reset();  // deleted now, or when the last posted step has run
  }

 private:
  // On the notifying thread: no I/O, no lock, only a post. Once the pool
  // has stopped the server is past its drain, which ended every stream.
  void Post() {
    if (posted_.exchange(true)) return;
    const bool queued = followers_.Continue([self = self_] {
      self->posted_ = false;
      self->Kick();
    });
    if (!queued) posted_ = false;
  }

  void Kick() {
    MutexLock lock(&mu_);
    if (!writing_) AdvanceLocked();
  }

  void AdvanceLocked() REQUIRES(mu_) {
    if (finished_) return;
    switch (cursor_->Next(&current_)) {
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
                                      std::to_string(cursor_->next_seq())));
        return;
      case EventCursor::Step::kFailed:
        FinishLocked(ToGrpcStatus(cursor_->status()));
        return;
      case EventCursor::Step::kWait:
        return;
    }
  }

  void FinishLocked(const grpc::Status& status) REQUIRES(mu_) {
    if (finished_) return;
    finished_ = true;
    final_status_ = status;
    Finish(status);
  }

  const Calls& calls_;
  WorkPool& followers_;
  const Clock::time_point start_ = Clock::now();
  std::shared_ptr<WatchReactor> self_;  // until OnDone
  std::shared_ptr<Notifier> notifier_;
  std::atomic<bool> posted_{false};  // a step is queued on the pool
  Mutex mu_;
  const std::unique_ptr<EventCursor> cursor_ PT_GUARDED_BY(mu_);
  const std::string job_id_;
  std::shared_ptr<const v1::JobEvent> current_ GUARDED_BY(mu_);  // in flight
  bool writing_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  bool cancelled_ GUARDED_BY(mu_) = false;
  grpc::Status final_status_ GUARDED_BY(mu_);
};

// SampleStream: the plan (which reads the snapshot) and every chunk are
// computed on the work pool; each chunk is written when the previous write
// completed.
class SampleStreamReactor final : public grpc::ServerWriteReactor<v1::SampleResponse> {
 public:
  SampleStreamReactor(const Calls& calls, v1::SampleRequest request)
      : calls_(calls), request_(std::move(request)) {
    Submit([this] {
      auto plan = calls_.PlanSampleStream(request_);
      if (!plan.ok()) return End(ToGrpcStatus(plan.status()));
      plan_ = std::move(plan).value();
      chunk_ = plan_.chunk;
      Next();
    });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return End(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    if (offset_ >= plan_.count) return End(grpc::Status::OK);
    if (!calls_.Continue([this] { Next(); })) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    }
  }
  void OnDone() override {
    calls_.Log("SampleStream", request_.job_id(), status_, start_);
    delete this;
  }

 private:
  void Submit(std::function<void()> task) {
    if (!calls_.Offload(std::move(task))) End(PoolBusy(calls_));
  }
  void End(const grpc::Status& status) {
    status_ = status;
    Finish(status);
  }
  void Next() {  // on the pool
    const int64_t take = std::min(chunk_, plan_.count - offset_);
    response_.Clear();
    if (Status filled = FillSample(plan_, offset_, take, &response_); !filled.ok()) {
      return End(ToGrpcStatus(filled));
    }
    calls_.CountPoints(take);
    offset_ += take;
    StartWrite(&response_);
  }

  const Calls& calls_;
  const v1::SampleRequest request_;
  const Clock::time_point start_ = Clock::now();
  SamplePlan plan_;
  int64_t chunk_ = 1;
  int64_t offset_ = 0;
  v1::SampleResponse response_;
  grpc::Status status_;
};

// ExportGenerator: the TorchScript file is made on the work pool, then
// written in 1 MiB chunks.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportChunk> {
 public:
  ExportReactor(const Calls& calls, v1::ExportGeneratorRequest request)
      : calls_(calls), request_(std::move(request)) {
    const bool queued = calls.Offload([this] {
      auto exported = calls_.ExportGenerator(request_);
      if (!exported.ok()) return End(ToGrpcStatus(exported.status()));
      exported_ = std::move(exported).value();
      Next();
    });
    if (!queued) End(PoolBusy(calls));
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return End(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    Next();
  }
  void OnDone() override {
    calls_.Log("ExportGenerator", request_.job_id(), status_, start_);
    delete this;
  }

 private:
  void End(const grpc::Status& status) {
    status_ = status;
    Finish(status);
  }
  void Next() {
    const std::string& bytes = exported_.bytes;
    if (offset_ >= bytes.size() && offset_ > 0) return End(grpc::Status::OK);
    const size_t take = std::min(kExportChunkBytes, bytes.size() - offset_);
    chunk_.set_data(bytes.substr(offset_, take));
    chunk_.set_epoch(exported_.epoch);
    offset_ += std::max<size_t>(take, 1);
    StartWrite(&chunk_);
  }

  const Calls& calls_;
  const v1::ExportGeneratorRequest request_;
  const Clock::time_point start_ = Clock::now();
  ExportedGenerator exported_;
  size_t offset_ = 0;
  v1::ExportChunk chunk_;
  grpc::Status status_;
};

// An upload refused before its first message.
class FailedUpload final : public grpc::ServerReadReactor<v1::UploadTableRequest> {
 public:
  explicit FailedUpload(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// UploadTable: each message is checked and added as it arrives (the upload
// bounds the file); once the client sent the last one, the file is parsed
// and stored on the work pool, and the call finishes from there.
class UploadReactor final : public grpc::ServerReadReactor<v1::UploadTableRequest> {
 public:
  UploadReactor(Calls& calls, grpc::CallbackServerContext* ctx, v1::TableInfo* response,
                std::unique_ptr<Tables::Upload> upload, Principal who)
      : calls_(calls), ctx_(ctx), response_(response), upload_(std::move(upload)), who_(std::move(who)) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client sent its last message, or went away
      if (ctx_->IsCancelled()) {
        return End(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      }
      const bool queued = calls_.Offload([this] {
        auto info = calls_.FinishTableUpload(who_, *upload_);
        if (info.ok()) {
          id_ = info->id();
          *response_ = std::move(info).value();
        }
        End(ToGrpcStatus(info.status()));
      });
      if (!queued) End(PoolBusy(calls_));
      return;
    }
    const Status added = upload_->Add(request_);
    if (!added.ok()) return End(ToGrpcStatus(added));
    StartRead(&request_);
  }
  void OnDone() override {
    calls_.Log("UploadTable", id_, status_, start_);
    delete this;
  }

 private:
  void End(const grpc::Status& status) {
    upload_.reset();  // its memory and its place go before the call ends
    status_ = status;
    Finish(status);
  }

  Calls& calls_;
  grpc::CallbackServerContext* const ctx_;
  v1::TableInfo* const response_;
  const Clock::time_point start_ = Clock::now();
  std::unique_ptr<Tables::Upload> upload_;
  const Principal who_;
  v1::UploadTableRequest request_;
  std::string id_;  // the stored table's, for the log
  grpc::Status status_;
};

}  // namespace

grpc::Status GantryService::Authenticate(const grpc::CallbackServerContext* ctx, Principal* who) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) return calls_->Authenticate(std::string_view(it->second.data(), it->second.size()), who);
  // A client certificate that TLS verified (--tls-client-ca) names the
  // caller by its subject common name.
  std::string cert;
  const std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    const auto names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    if (!names.empty()) cert.assign(names.front().data(), names.front().size());
  }
  return calls_->Authenticate(std::nullopt, who, cert);
}

grpc::ServerUnaryReactor* GantryService::CreateJob(grpc::CallbackServerContext* ctx,
                                                   const v1::CreateJobRequest* request,
                                                   v1::Job* response) {
  // A table job reads and parses its table to check it: on the work pool
  // (bounded: a full pool answers RESOURCE_EXHAUSTED), never a gRPC thread.
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  if (request->spec().dataset().kind() == v1::DATASET_KIND_TABLE) {
    return UnaryOnPool(ctx, auth, *calls_, "CreateJob", "", response,
                       [this, request, who] { return calls_->CreateJob(who, *request); });
  }
  return Unary(ctx, auth, *calls_, "CreateJob", "", response,
               [&] { return calls_->CreateJob(who, *request); });
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
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "CancelJob", request->job_id(), response,
               [&] { return calls_->CancelJob(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::DeleteJob(grpc::CallbackServerContext* ctx,
                                                   const v1::DeleteJobRequest* request,
                                                   v1::DeleteJobResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "DeleteJob", request->job_id(), response,
               [&] { return calls_->DeleteJob(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::GetDataset(grpc::CallbackServerContext* ctx,
                                                    const v1::GetDatasetRequest* request,
                                                    v1::GetDatasetResponse* response) {
  return UnaryOnPool(ctx, Authenticate(ctx), *calls_, "GetDataset", request->job_id(),
                     response, [this, request] { return calls_->GetDataset(*request); });
}

grpc::ServerUnaryReactor* GantryService::GetTableReport(grpc::CallbackServerContext* ctx,
                                                        const v1::GetTableReportRequest* request,
                                                        v1::TableReport* response) {
  return UnaryOnPool(ctx, Authenticate(ctx), *calls_, "GetTableReport", request->job_id(), response,
                     [this, request] { return calls_->GetTableReport(*request); });
}

grpc::ServerUnaryReactor* GantryService::ListSnapshots(grpc::CallbackServerContext* ctx,
                                                       const v1::ListSnapshotsRequest* request,
                                                       v1::ListSnapshotsResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "ListSnapshots", request->job_id(), response,
               [&] { return calls_->ListSnapshots(*request); });
}

grpc::ServerUnaryReactor* GantryService::GetServerInfo(grpc::CallbackServerContext* ctx,
                                                       const v1::GetServerInfoRequest*,
                                                       v1::ServerInfo* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "GetServerInfo", "", response,
               [&]() -> StatusOr<v1::ServerInfo> { return calls_->GetServerInfo(who); });
}

grpc::ServerUnaryReactor* GantryService::ListAudit(grpc::CallbackServerContext* ctx,
                                                   const v1::ListAuditRequest* request,
                                                   v1::ListAuditResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "ListAudit", "", response,
               [&] { return calls_->ListAudit(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::CreateWebhook(grpc::CallbackServerContext* ctx,
                                                       const v1::CreateWebhookRequest* request,
                                                       v1::Webhook* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "CreateWebhook", "", response,
               [&] { return calls_->CreateWebhook(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::ListWebhooks(grpc::CallbackServerContext* ctx,
                                                      const v1::ListWebhooksRequest*,
                                                      v1::ListWebhooksResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "ListWebhooks", "", response,
               [&] { return calls_->ListWebhooks(who); });
}

grpc::ServerUnaryReactor* GantryService::DeleteWebhook(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteWebhookRequest* request,
                                                       v1::DeleteWebhookResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "DeleteWebhook", "", response,
               [&] { return calls_->DeleteWebhook(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::ListDeliveries(grpc::CallbackServerContext* ctx,
                                                        const v1::ListDeliveriesRequest* request,
                                                        v1::ListDeliveriesResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "ListDeliveries", "", response,
               [&] { return calls_->ListDeliveries(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::Sample(grpc::CallbackServerContext* ctx,
                                                const v1::SampleRequest* request,
                                                v1::SampleResponse* response) {
  const grpc::Status auth = Authenticate(ctx);
  std::optional<SnapshotChoice> chosen;  // what QuickSample read, for Sample
  if (auth.ok()) {  // a quick one here: the hop to the pool would cost more than the work
    if (auto quick = calls_->QuickSample(*request, &chosen)) {
      return Unary(ctx, auth, *calls_, "Sample", request->job_id(), response,
                   [&] { return std::move(*quick); });
    }
  }
  return UnaryOnPool(ctx, auth, *calls_, "Sample", request->job_id(), response,
                     [this, request, chosen = std::move(chosen)] {
                       return calls_->Sample(*request, chosen);
                     });
}

grpc::ServerWriteReactor<v1::JobEvent>* GantryService::WatchJob(
    grpc::CallbackServerContext* ctx, const v1::WatchJobRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::JobEvent>(*calls_, "WatchJob", id, auth);
  }
  auto cursor = calls_->WatchJob(*request);
  if (!cursor.ok()) {
    return Reject<v1::JobEvent>(*calls_, "WatchJob", id, ToGrpcStatus(cursor.status()));
  }
  ctx->AddInitialMetadata(kWatchMetadata, "1");  // sent at once by the reactor
  return new WatchReactor(*calls_, *followers_, std::move(cursor).value(), id);
}

grpc::ServerWriteReactor<v1::SampleResponse>* GantryService::SampleStream(
    grpc::CallbackServerContext* ctx, const v1::SampleRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::SampleResponse>(*calls_, "SampleStream", id, auth);
  }
  return new SampleStreamReactor(*calls_, *request);
}

grpc::ServerWriteReactor<v1::ExportChunk>* GantryService::ExportGenerator(
    grpc::CallbackServerContext* ctx, const v1::ExportGeneratorRequest* request) {
  const std::string& id = request->job_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::ExportChunk>(*calls_, "ExportGenerator", id, auth);
  }
  return new ExportReactor(*calls_, *request);
}

grpc::ServerReadReactor<v1::UploadTableRequest>* GantryService::UploadTable(
    grpc::CallbackServerContext* ctx, v1::TableInfo* response) {
  Principal who;
  grpc::Status status = Authenticate(ctx, &who);
  if (status.ok()) {
    auto upload = calls_->StartTableUpload(who);
    if (upload.ok()) {
      return new UploadReactor(*calls_, ctx, response, std::move(upload).value(), std::move(who));
    }
    status = ToGrpcStatus(upload.status());
  }
  calls_->Log("UploadTable", "", status, Clock::now());
  return new FailedUpload(status);
}

grpc::ServerUnaryReactor* GantryService::GetTable(grpc::CallbackServerContext* ctx,
                                                  const v1::GetTableRequest* request,
                                                  v1::TableInfo* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "GetTable", request->table_id(), response,
               [&] { return calls_->GetTable(*request); });
}

grpc::ServerUnaryReactor* GantryService::ListTables(grpc::CallbackServerContext* ctx,
                                                    const v1::ListTablesRequest* request,
                                                    v1::ListTablesResponse* response) {
  return Unary(ctx, Authenticate(ctx), *calls_, "ListTables", "", response,
               [&] { return calls_->ListTables(*request); });
}

grpc::ServerUnaryReactor* GantryService::DeleteTable(grpc::CallbackServerContext* ctx,
                                                     const v1::DeleteTableRequest* request,
                                                     v1::DeleteTableResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return Unary(ctx, auth, *calls_, "DeleteTable", request->table_id(), response,
               [&] { return calls_->DeleteTable(who, *request); });
}

namespace {

// WatchStudy: the StudyManager's watch thread hands each new view (at most
// one waits per stream: a newer one replaces it), and a completed write
// sends the one waiting. The stream ends after the ended study.
class StudyWatchReactor final : public grpc::ServerWriteReactor<v1::Study> {
 public:
  StudyWatchReactor(const Calls& calls, std::string id)
      : calls_(calls), id_(std::move(id)), start_(Clock::now()) {
    calls_.StreamOpened();
    StartSendInitialMetadata();  // before any write
  }
  // Follows the study, or finishes the stream when it cannot. mu_ is held
  // throughout, so the watch thread's first Offer (which may finish the
  // stream, and so delete this) waits until the watch is stored.
  void Begin(const v1::WatchStudyRequest& request) {
    MutexLock lock(&mu_);
    auto watch = calls_.WatchStudy(request, [this](const StatusOr<v1::Study>& study, bool last) {
      Offer(study, last);
    });
    if (!watch.ok()) {
      FinishLocked(ToGrpcStatus(watch.status()));
      return;
    }
    watch_ = std::move(watch).value();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    NextLocked();
  }
  void OnCancel() override {
    MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
  }
  void OnDone() override {
    std::unique_ptr<StudyManager::Watch> watch;
    grpc::Status status;
    {
      MutexLock lock(&mu_);
      watch = std::move(watch_);
      status = final_status_;
    }
    watch.reset();  // no Offer is in progress after this
    calls_.StreamClosed();
    calls_.Log("WatchStudy", id_, status, start_);
    delete this;
  }

 private:
  void Offer(const StatusOr<v1::Study>& study, bool last) {
    MutexLock lock(&mu_);
    if (finished_) return;
    if (!study.ok()) {
      end_ = ToGrpcStatus(study.status());
    } else {
      waiting_ = *study;
      if (last) end_ = grpc::Status::OK;
    }
    if (!writing_) NextLocked();
  }
  void NextLocked() REQUIRES(mu_) {
    if (finished_) return;
    if (waiting_) {
      current_ = std::move(*waiting_);
      waiting_.reset();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (end_) FinishLocked(*end_);
  }
  void FinishLocked(const grpc::Status& status) REQUIRES(mu_) {
    if (finished_) return;
    finished_ = true;
    final_status_ = status;
    Finish(status);
  }

  const Calls& calls_;
  const std::string id_;
  const Clock::time_point start_;
  Mutex mu_;
  std::unique_ptr<StudyManager::Watch> watch_ GUARDED_BY(mu_);
  std::optional<v1::Study> waiting_ GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ GUARDED_BY(mu_);  // after the waiting one, if any
  v1::Study current_ GUARDED_BY(mu_);
  bool writing_ GUARDED_BY(mu_) = false;
  bool cancelled_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  grpc::Status final_status_ GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<v1::Study>* GantryService::WatchStudy(
    grpc::CallbackServerContext* ctx, const v1::WatchStudyRequest* request) {
  const std::string& id = request->study_id();
  if (grpc::Status auth = Authenticate(ctx); !auth.ok()) {
    return Reject<v1::Study>(*calls_, "WatchStudy", id, auth);
  }
  auto* reactor = new StudyWatchReactor(*calls_, id);
  reactor->Begin(*request);
  return reactor;
}

grpc::ServerUnaryReactor* GantryService::CreateStudy(grpc::CallbackServerContext* ctx,
                                                     const v1::CreateStudyRequest* request,
                                                     v1::Study* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return UnaryOnPool(ctx, auth, *calls_, "CreateStudy", "", response,
                     [this, who, request] { return calls_->CreateStudy(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::GetStudy(grpc::CallbackServerContext* ctx,
                                                  const v1::GetStudyRequest* request,
                                                  v1::Study* response) {
  return UnaryOnPool(ctx, Authenticate(ctx), *calls_, "GetStudy", request->study_id(), response,
                     [this, request] { return calls_->GetStudy(*request); });
}

grpc::ServerUnaryReactor* GantryService::ListStudies(grpc::CallbackServerContext* ctx,
                                                     const v1::ListStudiesRequest* request,
                                                     v1::ListStudiesResponse* response) {
  return UnaryOnPool(ctx, Authenticate(ctx), *calls_, "ListStudies", "", response,
                     [this, request] { return calls_->ListStudies(*request); });
}

grpc::ServerUnaryReactor* GantryService::CancelStudy(grpc::CallbackServerContext* ctx,
                                                     const v1::CancelStudyRequest* request,
                                                     v1::Study* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return UnaryOnPool(ctx, auth, *calls_, "CancelStudy", request->study_id(), response,
                     [this, who, request] { return calls_->CancelStudy(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::DeleteStudy(grpc::CallbackServerContext* ctx,
                                                     const v1::DeleteStudyRequest* request,
                                                     v1::DeleteStudyResponse* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return UnaryOnPool(ctx, auth, *calls_, "DeleteStudy", request->study_id(), response,
                     [this, who, request] { return calls_->DeleteStudy(who, *request); });
}

grpc::ServerUnaryReactor* GantryService::ReplayTrial(grpc::CallbackServerContext* ctx,
                                                     const v1::ReplayTrialRequest* request,
                                                     v1::Job* response) {
  Principal who;
  const grpc::Status auth = Authenticate(ctx, &who);
  return UnaryOnPool(ctx, auth, *calls_, "ReplayTrial", request->study_id(), response,
                     [this, who, request] { return calls_->ReplayTrial(who, *request); });
}

}  // namespace gantry
