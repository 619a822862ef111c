// The CLI's connection to gantryd: one channel, stubs, per-call deadlines,
// and the one place that reports a failed RPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "gantry/v1/gantry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gantry::cli {

// The largest reply the CLI accepts, set deliberately on its channel (gRPC's
// default is 4 MiB): a FULL view of one job holds its user points, which
// can be as large as gantryd's largest request (--max-message-bytes, 64 MiB
// by default), plus room for the rest of the job; a page of `gantry list`
// is sized to fit it (commands.cc).
inline constexpr int kMaxReceiveMessageBytes = 80 << 20;

struct GlobalOptions {
  std::string server;        // --server, else GANTRY_SERVER, else 127.0.0.1:50051
  double timeout = 30;       // seconds, for each unary call
  std::string output = "table";  // table | json | csv
  std::string tls_ca;        // PEM file of the CA that signed gantryd's certificate: use TLS
  bool tls = false;          // use TLS with the system's CAs
  std::string token;         // --token, else GANTRY_TOKEN: sent as "authorization: Bearer"
};

class Connection {
 public:
  explicit Connection(const GlobalOptions& options);

  v1::Gantry::Stub& stub() { return *stub_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }
  const std::string& target() const { return options_.server; }
  const GlobalOptions& options() const { return options_; }

  // Adds the token (if any) to a call's metadata.
  void Authorize(grpc::ClientContext* ctx) const;
  // Authorize() plus the deadline (--timeout), for a unary call.
  void Prepare(grpc::ClientContext* ctx) const;
  // Waits until the channel is connected (starting a connection attempt if
  // it is idle), at most until `deadline`; false if it is not by then.
  bool WaitForConnected(std::chrono::system_clock::time_point deadline);
  // Empty, or why the TLS material could not be read.
  const std::string& error() const { return error_; }

  // Prints "gantry: <what>: <reason>" to stderr and returns the exit code.
  int Fail(const std::string& what, const grpc::Status& status) const;

 private:
  GlobalOptions options_;
  std::string error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Gantry::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Whether the command prints JSON (-o json).
inline bool JsonOut(const Connection& conn) { return conn.options().output == "json"; }

// Reads a list through its pages, newest first, until `limit` items or the
// last page: `call(ctx, request, response)` is the RPC (a lambda over
// conn.stub()), `items(response)` a page's repeated field, and `each` sees
// every item. The first failed call's status (OK when none failed).
template <typename Request, typename Response, typename Call, typename Items, typename Each>
grpc::Status EachPage(Connection& conn, Request request, int limit, Call call, Items items,
                      Each each) {
  int left = limit;
  while (left > 0) {
    request.set_page_size(std::min(left, 1000));
    Response response;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status s = call(&ctx, request, &response);
    if (!s.ok()) return s;
    for (const auto& item : items(response)) each(item);
    left -= items(response).size();
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return grpc::Status::OK;
}

}  // namespace gantry::cli
