// The gantry CLI's exit codes (documented in the README), and the one place
// that maps a gRPC status to one of them.
#pragma once

#include <grpcpp/support/status.h>

namespace gantry::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,          // the server refused or failed the request
  kExitUsage = 2,          // bad flags, files or arguments (INVALID_ARGUMENT too)
  kExitUnavailable = 3,    // gantryd could not be reached in time
  kExitNotFound = 4,       // no such job (or epoch snapshot)
  kExitJobFailed = 5,      // watch: the job ended FAILED
  kExitJobCancelled = 6,   // watch: the job ended CANCELLED
  kExitUnauthenticated = 7,  // the server wants a (different) token
  kExitInterrupted = 130,    // submit --watch: Ctrl-C (128 + SIGINT); the job goes on
};

int ExitCodeFor(const grpc::Status& status);

}  // namespace gantry::cli
