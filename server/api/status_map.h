// The one mapping of statuses: gantry's Status to gRPC's (used by every
// gRPC handler), and gRPC's code to an HTTP status (used by the HTTP
// gateway), as google/rpc/code.proto's comments give it.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace gantry {

grpc::Status ToGrpcStatus(const Status& status);

// 200, 400, 401, 404, 409, 429, 499, 500, 503, ... for every gRPC code.
int HttpStatusOf(grpc::StatusCode code);
// "INVALID_ARGUMENT", "NOT_FOUND", ...
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace gantry
