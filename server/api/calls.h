// Calls: the request -> JobManager (or Tables) -> response logic of every
// gantry.v1 call, shared by the gRPC service (service.cc) and the HTTP/JSON gateway
// (http_api.cc), so that no handler logic is written twice. Each method
// validates the request's shape, calls one JobManager method and returns
// gantry's Status; the transports map it once (status_map.h), log and count
// the call with Log().
//
// Who may call: Authenticate names the caller's Principal (principals.h);
// the state-changing calls take it, check its role (Allowed) and write one
// audit entry each, allowed or refused (Store::AppendAudit); reads need only
// a principal.
//
// Thread-safety: every method is safe from any thread; all state is in the
// JobManager (and the Metrics, which are thread-safe).
#pragma once

#include <atomic>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/api_limits.h"
#include "core/snapshot.h"
#include "core/table_sample.h"
#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/jobs/event_cursor.h"
#include "server/jobs/job_manager.h"
#include "server/api/principals.h"
#include "server/api/sessions.h"
#include "server/store/monitored_store.h"
#include "server/jobs/tables.h"
#include "server/studies/study_manager.h"
#include "server/api/work_pool.h"
#include "server/util/mutex.h"

namespace gantry {

class Metrics;

// Values in one unary Sample response: core/api_limits.h's message limit.
inline constexpr int64_t kMaxUnarySampleValues = kMaxMessageValues;

// Bytes of sampled values in one SampleStream message (and at most in a
// unary Sample of table rows): well inside gRPC's 4 MiB message limit.
inline constexpr int64_t kStreamChunkBytes = 1 << 20;
inline constexpr int64_t kMaxUnaryRowBytes = 3'500'000;

// A validated Sample/SampleStream request: the snapshot, the seed (chosen
// by the server when the request has none), the count, and the rows per
// stream message. Table jobs also carry the row stream (which holds the
// conditions and where the next rows start).
struct SamplePlan {
  std::shared_ptr<const GeneratorSnapshot> snapshot;
  uint64_t seed = 0;
  int64_t count = 0;
  int64_t chunk = 1;
  std::shared_ptr<TableRowStream> rows;
};

// Fills `out` with points (or table rows) [offset, offset + count) of the
// plan; table rows must be asked for in order. FAILED_PRECONDITION when
// too few rows meet the plan's conditions.
Status FillSample(const SamplePlan& plan, int64_t offset, int64_t count, v1::SampleResponse* out);

// Entries kept in the audit log; older ones are deleted as new ones come.
inline constexpr int64_t kAuditKeep = 100'000;

// The exported TorchScript file and the epoch of its snapshot.
struct ExportedGenerator {
  std::string bytes;
  int64_t epoch = 0;
};

class Calls {
 public:
  using Clock = std::chrono::steady_clock;

  // Where the principals come from: a fixed set (the single --auth-token)
  // or a credentials file that may change (PrincipalsFile::Current).
  using PrincipalsSource = std::function<std::shared_ptr<const Principals>()>;

  // `principals` null: no credentials are required and every caller is
  // OpenServerCaller(). `metrics` may be null.
  Calls(JobManager* manager, PrincipalsSource principals, Metrics* metrics)
      : manager_(manager), principals_(std::move(principals)), metrics_(metrics) {}
  Calls(const Calls&) = delete;
  Calls& operator=(const Calls&) = delete;

  // OK, naming the caller in *who (when given), when no credentials are
  // required, or `authorization` is "Bearer <token>" of a known principal
  // (looked up by the token's SHA-256), or, without one, `client_cert` (the
  // subject common name of a client certificate the TLS layer verified) is
  // a principal's; else UNAUTHENTICATED saying what is wrong. nullopt: the
  // caller presented no token.
  grpc::Status Authenticate(const std::optional<std::string_view>& authorization,
                            Principal* who = nullptr, std::string_view client_cert = {}) const;
  // The principal of a dashboard session (Sessions::Check's principal), if
  // it is still known with the same token.
  std::optional<Principal> SessionCaller(std::string_view stored) const;
  bool token_required() const { return static_cast<bool>(principals_); }

  // The audit log's entry for one state-changing call by `who`: its
  // outcome, and whether the role allowed it. Never fails the call: a
  // store that cannot write it is logged and counted.
  void Audit(const Principal& who, std::string_view action, const std::string& target,
             const Status& outcome, bool allowed = true) const;

  StatusOr<v1::Job> CreateJob(const Principal& who, const v1::CreateJobRequest& request);
  // CreateJob's work for `who` (its name as the owner, its quota), neither
  // checked against its role nor audited.
  StatusOr<v1::Job> CreateJobAs(const Principal& who, const v1::CreateJobRequest& request);
  StatusOr<v1::Job> GetJob(const v1::GetJobRequest& request) const;
  StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) const;
  StatusOr<v1::Job> CancelJob(const Principal& who, const v1::CancelJobRequest& request);
  StatusOr<v1::DeleteJobResponse> DeleteJob(const Principal& who, const v1::DeleteJobRequest& request);
  // Admins read every entry; others only their own (a request for another
  // principal's is PERMISSION_DENIED).
  StatusOr<v1::ListAuditResponse> ListAudit(const Principal& who, const v1::ListAuditRequest& request) const;
  StatusOr<v1::GetDatasetResponse> GetDataset(const v1::GetDatasetRequest& request) const;
  // All points in one message (at most kMaxUnarySampleValues values).
  // `chosen`: the snapshot QuickSample chose for this request (the job's row
  // is not read again).
  StatusOr<v1::SampleResponse> Sample(const v1::SampleRequest& request,
                                      const std::optional<SnapshotChoice>& chosen = {}) const;
  // Sample, when it is quick and reads nothing (a few points of a small
  // generator whose snapshot is in memory: GeneratorSnapshot::QuickToSample)
  // and so may run on an RPC thread; nullopt otherwise (call Sample off the
  // RPC threads, with *chosen: the snapshot chosen here, when it got that
  // far).
  std::optional<StatusOr<v1::SampleResponse>> QuickSample(const v1::SampleRequest& request,
                                                          std::optional<SnapshotChoice>* chosen) const;
  // Any count up to --max-sample-points; the caller fills chunks.
  StatusOr<SamplePlan> PlanSampleStream(const v1::SampleRequest& request) const;
  // A follower of the job's events from request.from_seq (INVALID_ARGUMENT
  // when negative).
  StatusOr<std::unique_ptr<EventCursor>> WatchJob(const v1::WatchJobRequest& request) const;
  StatusOr<ExportedGenerator> ExportGenerator(const v1::ExportGeneratorRequest& request) const;
  // A table job's report (JobManager::TableReport); heavy: off the RPC threads.
  StatusOr<v1::TableReport> GetTableReport(const v1::GetTableReportRequest& request) const;
  // The kept snapshots' epochs (JobManager::ListSnapshots); reads the store.
  StatusOr<v1::ListSnapshotsResponse> ListSnapshots(const v1::ListSnapshotsRequest& request) const;
  // What this server is (set once HTTP listens: its port may be chosen
  // then), and who asked.
  v1::ServerInfo GetServerInfo(const Principal& who) const;
  void set_server_info(v1::ServerInfo info);

  // Tables (tables.h). An UploadTable stream: StartTableUpload (UNAVAILABLE
  // while draining, RESOURCE_EXHAUSTED when too many uploads are in
  // progress), Upload::Add for each message, then FinishTableUpload, which
  // parses the file: call it off the RPC threads. UploadTable does all of it
  // for a whole file (the HTTP API).
  // Uploading needs a role that creates (member or admin); deleting one,
  // admin (a table is content-addressed: it has no one owner).
  StatusOr<std::unique_ptr<Tables::Upload>> StartTableUpload(const Principal& who);
  StatusOr<v1::TableInfo> FinishTableUpload(const Principal& who, Tables::Upload& upload);
  StatusOr<v1::TableInfo> UploadTable(const Principal& who, const std::string& name,
                                      const std::string& delimiter, const std::string& bytes);
  StatusOr<v1::TableInfo> GetTable(const v1::GetTableRequest& request) const;
  StatusOr<v1::ListTablesResponse> ListTables(const v1::ListTablesRequest& request) const;
  StatusOr<v1::DeleteTableResponse> DeleteTable(const Principal& who, const v1::DeleteTableRequest& request);

  // Webhooks (server/webhooks/README.md; calls_webhooks.cc). Creating one
  // needs a role that creates (member or admin); a webhook is its
  // creator's: members list, delete and read the deliveries of their own,
  // admins of all. Create and delete are audited.
  StatusOr<v1::Webhook> CreateWebhook(const Principal& who, const v1::CreateWebhookRequest& request);
  StatusOr<v1::ListWebhooksResponse> ListWebhooks(const Principal& who) const;
  StatusOr<v1::DeleteWebhookResponse> DeleteWebhook(const Principal& who,
                                                    const v1::DeleteWebhookRequest& request);
  StatusOr<v1::ListDeliveriesResponse> ListDeliveries(const Principal& who,
                                                      const v1::ListDeliveriesRequest& request) const;
  // Studies (server/studies/README.md; calls_studies.cc). Creating one, or
  // a replay, needs a role that creates; a study is its creator's: members
  // cancel and delete their own, admins any. Create, cancel, delete and
  // replay are audited. Without a StudyManager: FAILED_PRECONDITION.
  void set_studies(StudyManager* studies) { studies_ = studies; }
  StatusOr<v1::Study> CreateStudy(const Principal& who, const v1::CreateStudyRequest& request);
  StatusOr<v1::Study> GetStudy(const v1::GetStudyRequest& request) const;
  StatusOr<v1::ListStudiesResponse> ListStudies(const v1::ListStudiesRequest& request) const;
  StatusOr<v1::Study> CancelStudy(const Principal& who, const v1::CancelStudyRequest& request);
  StatusOr<v1::DeleteStudyResponse> DeleteStudy(const Principal& who,
                                                const v1::DeleteStudyRequest& request);
  StatusOr<v1::Job> ReplayTrial(const Principal& who, const v1::ReplayTrialRequest& request);
  StatusOr<std::unique_ptr<StudyManager::Watch>> WatchStudy(const v1::WatchStudyRequest& request,
                                                            StudyManager::WatchFn fn) const;

  // Whether new webhooks may name loopback, private and link-local hosts
  // (--webhook-allow-private). Set before serving.
  void set_webhooks_allow_private(bool allow) { webhooks_allow_private_ = allow; }

  // One log line and one gantry_rpcs_total count per call.
  void Log(const char* method, const std::string& job_id, const grpc::Status& status,
           Clock::time_point start) const;
  // Points handed out by a SampleStream chunk.
  void CountPoints(int64_t count) const;
  // Follower streams (WatchJob, SSE) opened and closed: the watch gauge.
  void StreamOpened() const;
  void StreamClosed() const;
  // Open follower streams in this process, over every transport.
  static int64_t OpenStreams();

  // The work pool (work_pool.h) for the heavy part of calls, for both
  // transports: samples, datasets, table reports, exports and table
  // parsing. Set before serving; it outlives this object. Null: they run
  // on the caller's thread (tests).
  void set_work_pool(WorkPool* pool) { pool_ = pool; }
  // Queues `task` on the work pool (a transport that finishes its call from
  // there: gRPC); false when its queue is full: answer Busy().
  bool Offload(std::function<void()> task) const;
  // The next step of a call the pool already admitted (a stream's next
  // chunk; WorkPool::Continue); false once the pool stopped.
  bool Continue(std::function<void()> task) const;
  // Runs `fn` on the work pool and waits for its result (a transport whose
  // handler threads may block: HTTP); Busy() when the queue is full.
  template <typename T>
  StatusOr<T> OnPool(std::function<StatusOr<T>()> fn) const {
    if (pool_ == nullptr) return fn();
    std::promise<StatusOr<T>> done;
    auto result = done.get_future();
    if (!pool_->Submit([&] { done.set_value(fn()); })) return Busy();
    return result.get();
  }
  // RESOURCE_EXHAUSTED: the work pool's queue is full.
  Status Busy() const;
  // Whether the server serves, and why not: draining, or the store's writes
  // failing; the store also keeps the audit log (`store` may be null: no
  // store health, no audit log).
  void set_store(MonitoredStore* store) { store_ = store; }
  // The table resource; without it (null) the table calls answer
  // FAILED_PRECONDITION. Set before serving; outlives this object.
  void set_tables(Tables* tables) { tables_ = tables; }
  // Why the server is not serving (health checks: /healthz, gantry health),
  // or nullopt: draining, a failing store, or still starting (the server
  // sets starting from before its HTTP listener is up until its gRPC
  // listener is, so /healthz never says SERVING before gRPC answers).
  std::optional<std::string> NotServing() const;
  void set_starting(bool starting) { starting_.store(starting); }

  // The dashboard's login sessions and failed-login throttle (sessions.h),
  // owned by the server; null until set (tests without them). Set before
  // serving; they outlive this object.
  void set_sessions(Sessions* sessions, LoginThrottle* throttle) {
    sessions_ = sessions;
    login_throttle_ = throttle;
  }
  Sessions* sessions() const { return sessions_; }
  LoginThrottle* login_throttle() const { return login_throttle_; }

 private:
  // The snapshot is *chosen when set, else chosen here (and kept in
  // *chosen when given). from_memory: a plan without a snapshot (OK) when it
  // is not in memory.
  StatusOr<SamplePlan> PlanSample(const v1::SampleRequest& request, bool unary,
                                  std::optional<SnapshotChoice>* chosen = nullptr,
                                  bool from_memory = false) const;

  // The webhook `id` if `who` may act on it as `action` does (its creator
  // or an admin): else NOT_FOUND, or PERMISSION_DENIED (audited when
  // `audit`).
  StatusOr<WebhookRow> OwnWebhook(const Principal& who, const std::string& id, const char* action,
                                  bool audit) const;

  // The study if `who` may act on it as `what` (its creator or an admin),
  // else PERMISSION_DENIED (audited) or NOT_FOUND.
  StatusOr<StudyRow> OwnStudy(const Principal& who, Action what, const char* action,
                              const std::string& id) const;

  JobManager* const manager_;
  StudyManager* studies_ = nullptr;
  WorkPool* pool_ = nullptr;
  MonitoredStore* store_ = nullptr;
  std::atomic<bool> starting_{false};
  Tables* tables_ = nullptr;
  Sessions* sessions_ = nullptr;
  LoginThrottle* login_throttle_ = nullptr;
  bool webhooks_allow_private_ = false;
  // PERMISSION_DENIED, audited, when `who` may not do `what` to something
  // of `owner`'s.
  // `ownerless`: why only admins act on something with no owner.
  Status Authorize(const Principal& who, Action what, std::string_view action,
                   const std::string& target, std::string_view owner,
                   std::string_view ownerless = "it has no owner, and only admins act on it") const;

  // Authorize for a job's cancel or delete: reads its owner when the role
  // needs it (NOT_FOUND for an unknown job).
  Status AuthorizeOnJob(const Principal& who, Action what, const char* action,
                        const std::string& job_id) const;

  const PrincipalsSource principals_;
  Metrics* const metrics_;
  mutable Mutex info_mu_;
  v1::ServerInfo server_info_ GUARDED_BY(info_mu_);
};

}  // namespace gantry
