#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/convert.h"

namespace gantry {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  jobs_ = &prometheus::BuildGauge().Name("gantry_jobs").Help("Jobs by state").Register(*registry_);
  for (auto s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
                 v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED}) {
    jobs_->Add({{"state", JobStateName(s)}});
  }
  epochs_ = &prometheus::BuildCounter()
                 .Name("gantry_epochs_trained_total")
                 .Help("Epochs trained")
                 .Register(*registry_)
                 .Add({});
  epoch_seconds_ = &prometheus::BuildHistogram()
                        .Name("gantry_epoch_duration_seconds")
                        .Help("Training time of one epoch")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  rpcs_ = &prometheus::BuildCounter()
               .Name("gantry_rpcs_total")
               .Help("RPCs by method and gRPC status code")
               .Register(*registry_);
  watches_ = &prometheus::BuildGauge()
                  .Name("gantry_watch_streams_open")
                  .Help("Open WatchJob streams")
                  .Register(*registry_)
                  .Add({});
  points_ = &prometheus::BuildCounter()
                 .Name("gantry_points_sampled_total")
                 .Help("Points returned by Sample and SampleStream")
                 .Register(*registry_)
                 .Add({});
}

Metrics::~Metrics() {
  stop_ = true;
  if (http_.joinable()) http_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

Status Metrics::Serve(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) host = "0.0.0.0";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  int port = -1;
  try {
    port = std::stoi(listen.substr(colon == std::string::npos ? 0 : colon + 1));
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("--metrics-listen: '" + listen + "' is not IPv4-HOST:PORT");
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    return Status::Unavailable("--metrics-listen " + listen + ": cannot listen (" +
                               std::strerror(errno) + ")");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  http_ = std::thread([this] { ServeLoop(); });
  return Status::Ok();
}

std::string Metrics::Text() const {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, registry_->Collect());
  return os.str();
}

void Metrics::ServeLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string body, status = "200 OK", type = "text/plain; version=0.0.4";
    if (request.rfind("GET /metrics", 0) == 0) {
      body = Text();
    } else {
      status = "404 Not Found";
      type = "text/plain";
      body = "gantryd serves GET /metrics\n";
    }
    const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                                 "\r\nContent-Length: " + std::to_string(body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(fd);
  }
}

void Metrics::JobState(v1::JobState from, v1::JobState to) {
  if (from != v1::JOB_STATE_UNSPECIFIED) jobs_->Add({{"state", JobStateName(from)}}).Decrement();
  if (to != v1::JOB_STATE_UNSPECIFIED) jobs_->Add({{"state", JobStateName(to)}}).Increment();
}

void Metrics::EpochTrained(double seconds) {
  epochs_->Increment();
  epoch_seconds_->Observe(seconds);
}

void Metrics::Rpc(const std::string& method, int grpc_code) {
  static const char* const kCodes[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  const std::string code = grpc_code >= 0 && grpc_code <= 16 ? kCodes[grpc_code] : "UNKNOWN";
  rpcs_->Add({{"method", method}, {"code", code}}).Increment();
}

void Metrics::WatchOpened() { watches_->Increment(); }
void Metrics::WatchClosed() { watches_->Decrement(); }
void Metrics::PointsSampled(int64_t count) { points_->Increment(static_cast<double>(count)); }

}  // namespace gantry
