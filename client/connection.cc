#include "client/connection.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "client/exit_codes.h"

namespace gantry::cli {

int ExitCodeFor(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return kExitOk;
    case grpc::StatusCode::NOT_FOUND: return kExitNotFound;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return kExitUnavailable;
    case grpc::StatusCode::INVALID_ARGUMENT: return kExitUsage;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return kExitUnauthenticated;
    default: return kExitError;
  }
}

Connection::Connection(const GlobalOptions& options) : options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // Reconnect quickly after a server restart (watch resumes on its own).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options_.tls_ca.empty() || options_.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options_.tls_ca.empty()) {
      std::ifstream in(options_.tls_ca);
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) error_ = "--tls-ca " + options_.tls_ca + ": cannot read it";
      ssl.pem_root_certs = pem.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(options_.server, creds, args);
  stub_ = v1::Gantry::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
}

void Connection::Authorize(grpc::ClientContext* ctx) const {
  if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
}

void Connection::Prepare(grpc::ClientContext* ctx) const {
  Authorize(ctx);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000)));
}

bool Connection::WaitForConnected(std::chrono::system_clock::time_point deadline) {
  return channel_->WaitForConnected(deadline);
}

namespace {

// The server's message, or for a status without one (gRPC's own UNIMPLEMENTED
// has none) what its code means.
std::string Reason(const grpc::Status& status) {
  if (!status.error_message().empty()) return status.error_message();
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return "the server does not know this call (an older gantryd?)";
  }
  return "gRPC status " + std::to_string(static_cast<int>(status.error_code()));
}

}  // namespace

int Connection::Fail(const std::string& what, const grpc::Status& status) const {
  const int code = ExitCodeFor(status);
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    std::cerr << "gantry: " << what << ": " << Reason(status)
              << " (give the server's token with --token or GANTRY_TOKEN)\n";
  } else if (code == kExitUnavailable) {
    std::cerr << "gantry: " << what << ": cannot reach gantryd at " << options_.server << " ("
              << Reason(status) << ")\n";
  } else {
    std::cerr << "gantry: " << what << ": " << Reason(status) << "\n";
  }
  return code;
}

}  // namespace gantry::cli
