// GantryService: the gantry.v1.Gantry gRPC service (callback API).
//
// Handlers authenticate, delegate to Calls (the request -> manager ->
// response logic shared with the HTTP gateway), map the status once
// (ToGrpcStatus) and log one line per RPC. Streams are
// reactors that own their per-call state and never block: WatchJob follows
// the job's events at the client's pace (EventCursor). The heavy calls
// (Sample, SampleStream, GetDataset, ExportGenerator, and the parsing of an
// uploaded table once its last chunk arrived) compute on a bounded WorkPool
// and finish from there, so gRPC's threads stay free for the cheap ones.
//
// Thread-safety: called by gRPC from many threads; all state is in the
// JobManager or in per-call reactors.
#pragma once

#include <memory>

#include "gantry/v1/gantry.grpc.pb.h"
#include "server/api/calls.h"

namespace gantry {

class WorkPool;

// Follower streams (WatchJob and the HTTP gateway's event streams) open
// right now, in this process.
inline int64_t OpenWatchStreams() { return Calls::OpenStreams(); }

class GantryService final : public v1::Gantry::CallbackService {
 public:
  // `calls` holds the token (if any) and the metrics; it outlives the service.
  // The heavy part of Sample, SampleStream, GetDataset, GetTableReport,
  // ExportGenerator and UploadTable runs on Calls' work pool (Offload,
  // Continue); `followers` takes the steps of WatchJob streams that their
  // notifiers post (never the notifying thread). Both must outlive the
  // service.
  GantryService(Calls* calls, WorkPool* followers) : calls_(calls), followers_(followers) {}

  grpc::ServerUnaryReactor* CreateJob(grpc::CallbackServerContext* ctx,
                                      const v1::CreateJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx,
                                   const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* ctx,
                                      const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* Sample(grpc::CallbackServerContext* ctx,
                                   const v1::SampleRequest* request,
                                   v1::SampleResponse* response) override;
  grpc::ServerWriteReactor<v1::SampleResponse>* SampleStream(
      grpc::CallbackServerContext* ctx, const v1::SampleRequest* request) override;
  grpc::ServerUnaryReactor* GetDataset(grpc::CallbackServerContext* ctx,
                                       const v1::GetDatasetRequest* request,
                                       v1::GetDatasetResponse* response) override;
  grpc::ServerUnaryReactor* GetTableReport(grpc::CallbackServerContext* ctx,
                                           const v1::GetTableReportRequest* request,
                                           v1::TableReport* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;
  grpc::ServerUnaryReactor* CreateWebhook(grpc::CallbackServerContext* ctx,
                                          const v1::CreateWebhookRequest* request,
                                          v1::Webhook* response) override;
  grpc::ServerUnaryReactor* ListWebhooks(grpc::CallbackServerContext* ctx,
                                         const v1::ListWebhooksRequest* request,
                                         v1::ListWebhooksResponse* response) override;
  grpc::ServerUnaryReactor* DeleteWebhook(grpc::CallbackServerContext* ctx,
                                          const v1::DeleteWebhookRequest* request,
                                          v1::DeleteWebhookResponse* response) override;
  grpc::ServerUnaryReactor* CreateStudy(grpc::CallbackServerContext* ctx,
                                        const v1::CreateStudyRequest* request,
                                        v1::Study* response) override;
  grpc::ServerUnaryReactor* GetStudy(grpc::CallbackServerContext* ctx,
                                     const v1::GetStudyRequest* request,
                                     v1::Study* response) override;
  grpc::ServerUnaryReactor* ListStudies(grpc::CallbackServerContext* ctx,
                                        const v1::ListStudiesRequest* request,
                                        v1::ListStudiesResponse* response) override;
  grpc::ServerWriteReactor<v1::Study>* WatchStudy(grpc::CallbackServerContext* ctx,
                                                  const v1::WatchStudyRequest* request) override;
  grpc::ServerUnaryReactor* CancelStudy(grpc::CallbackServerContext* ctx,
                                        const v1::CancelStudyRequest* request,
                                        v1::Study* response) override;
  grpc::ServerUnaryReactor* DeleteStudy(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteStudyRequest* request,
                                        v1::DeleteStudyResponse* response) override;
  grpc::ServerUnaryReactor* ReplayTrial(grpc::CallbackServerContext* ctx,
                                        const v1::ReplayTrialRequest* request,
                                        v1::Job* response) override;
  grpc::ServerUnaryReactor* ListDeliveries(grpc::CallbackServerContext* ctx,
                                           const v1::ListDeliveriesRequest* request,
                                           v1::ListDeliveriesResponse* response) override;
  grpc::ServerUnaryReactor* ListSnapshots(grpc::CallbackServerContext* ctx,
                                          const v1::ListSnapshotsRequest* request,
                                          v1::ListSnapshotsResponse* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* ctx,
                                          const v1::GetServerInfoRequest* request,
                                          v1::ServerInfo* response) override;
  grpc::ServerWriteReactor<v1::ExportChunk>* ExportGenerator(
      grpc::CallbackServerContext* ctx, const v1::ExportGeneratorRequest* request) override;
  grpc::ServerReadReactor<v1::UploadTableRequest>* UploadTable(grpc::CallbackServerContext* ctx,
                                                               v1::TableInfo* response) override;
  grpc::ServerUnaryReactor* GetTable(grpc::CallbackServerContext* ctx,
                                     const v1::GetTableRequest* request,
                                     v1::TableInfo* response) override;
  grpc::ServerUnaryReactor* ListTables(grpc::CallbackServerContext* ctx,
                                       const v1::ListTablesRequest* request,
                                       v1::ListTablesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteTable(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteTableRequest* request,
                                        v1::DeleteTableResponse* response) override;

 private:
  // OK (the caller in *who, when given), or UNAUTHENTICATED when a token
  // is required and not presented.
  grpc::Status Authenticate(const grpc::CallbackServerContext* ctx, Principal* who = nullptr) const;

  Calls* const calls_;
  WorkPool* const followers_;
};

}  // namespace gantry
