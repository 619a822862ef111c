// The HTTP/JSON gateway's routes: the one place that maps HTTP paths to the
// gantry.v1 calls (Calls), with protobuf's canonical JSON mapping for
// request and response bodies and the gRPC -> HTTP status mapping of
// status_map.h for errors:
//
//   POST   /v1/jobs                    CreateJob (body: CreateJobRequest)
//   GET    /v1/jobs                    ListJobs (?page_size=&page_token=&state=&view=
//                                      &label_selector=key=value,...)
//   GET    /v1/jobs/{id}               GetJob (?view=basic|full; basic leaves user points out)
//   POST   /v1/jobs/{id}:cancel        CancelJob
//   DELETE /v1/jobs/{id}               DeleteJob
//   GET    /v1/jobs/{id}/samples       Sample (?count=&seed=&epoch=); CSV with Accept: text/csv
//   GET    /v1/jobs/{id}/dataset       GetDataset (?max_points=)
//   GET    /v1/jobs/{id}/generator     ExportGenerator (?epoch=): the TorchScript file
//   GET    /v1/jobs/{id}/events        WatchJob as Server-Sent Events (Last-Event-ID or ?from_seq=)
//   POST   /v1/tables                  UploadTable (?name=&delimiter=; body: the CSV file itself,
//                                      Content-Type text/csv, at most the body limit)
//   GET    /v1/tables                  ListTables (?page_size=&page_token=)
//   GET    /v1/tables/{id}             GetTable
//   DELETE /v1/tables/{id}             DeleteTable
//
// Errors are {"error": {"code": HTTP, "status": "NOT_FOUND", "message": "..."}}.
// Handlers only parse, delegate and reply; authentication happens before
// routing (http_server.cc).
//
// Thread-safety: the handlers run on the HTTP transport's handler threads; all state is
// in Calls and EventStreams.
#pragma once

#include <grpcpp/support/status.h>

#include "server/api/calls.h"
#include "server/api/http_events.h"
#include "server/api/http_router.h"

namespace gantry {

void RegisterApiRoutes(HttpRouter& server, Calls& calls, EventStreams& streams);

// Sets the error's HTTP status (status_map.h's, or `http_status` when not
// 0) and JSON body on `res`.
void ReplyError(HttpResponse& res, const grpc::Status& status, int http_status = 0);

}  // namespace gantry
