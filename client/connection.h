// The CLI's connection to gantryd: one channel, stubs, per-call deadlines,
// and the one place that reports a failed RPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "gantry/v1/gantry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gantry::cli {

struct GlobalOptions {
  std::string server;        // --server, else GANTRY_SERVER, else 127.0.0.1:50051
  double timeout = 30;       // seconds, for each unary call
  std::string output = "table";  // table | json | csv
};

class Connection {
 public:
  explicit Connection(const GlobalOptions& options);

  v1::Gantry::Stub& stub() { return *stub_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }
  const std::string& target() const { return options_.server; }
  const GlobalOptions& options() const { return options_; }

  // Sets the deadline (--timeout) on a unary call's context.
  void Prepare(grpc::ClientContext* ctx) const;

  // Prints "gantry: <what>: <reason>" to stderr and returns the exit code.
  int Fail(const std::string& what, const grpc::Status& status) const;

 private:
  GlobalOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Gantry::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace gantry::cli
