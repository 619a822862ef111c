// The one mapping from gantry's Status to gRPC's, used by every handler.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace gantry {

grpc::Status ToGrpcStatus(const Status& status);

}  // namespace gantry
