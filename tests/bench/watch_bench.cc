// Benchmark: the seed job trained through a real gantryd (in-process, on
// loopback) with no watcher, then again with 100 watchers attached, in this
// invocation. Prints the training times (RUNNING to SUCCEEDED, from the
// server's event times) and their ratio.
//
//   build/bin/watch_bench [--epochs N] [--watchers W]
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gantry/v1/gantry.grpc.pb.h"
#include "server/server.h"
#include <spdlog/spdlog.h>

namespace {

double Seconds(const google::protobuf::Timestamp& t) { return t.seconds() + t.nanos() * 1e-9; }

// Runs one seed job with `watchers` watchers; returns its training seconds.
double RunOnce(gantry::v1::Gantry::Stub& stub, int64_t epochs, int watchers, int64_t* events_seen) {
  gantry::v1::CreateJobRequest req;
  req.mutable_spec()->set_epochs(epochs);
  gantry::v1::Job job;
  grpc::ClientContext ctx;
  if (!stub.CreateJob(&ctx, req, &job).ok()) std::abort();
  std::vector<std::thread> threads;
  std::vector<int64_t> counts(std::max(watchers, 1), 0);
  double running = 0, ended = 0;
  for (int i = 0; i < std::max(watchers, 1); ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext wctx;
      gantry::v1::WatchJobRequest wreq;
      wreq.set_job_id(job.id());
      auto reader = stub.WatchJob(&wctx, wreq);
      gantry::v1::JobEvent ev;
      while (reader->Read(&ev)) {
        ++counts[i];
        if (i == 0 && ev.has_state()) {
          if (ev.state().state() == gantry::v1::JOB_STATE_RUNNING) running = Seconds(ev.time());
          if (ev.state().state() == gantry::v1::JOB_STATE_SUCCEEDED) ended = Seconds(ev.time());
        }
      }
      if (!reader->Finish().ok()) std::abort();
    });
    if (watchers == 0) break;  // one reader only to learn the times, attached after the fact
  }
  for (auto& t : threads) t.join();
  *events_seen = 0;
  for (auto c : counts) *events_seen += c;
  return ended - running;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t epochs = 300;
  int watchers = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--epochs") epochs = std::atoll(argv[i + 1]);
    else if (flag == "--watchers") watchers = std::atoi(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  gantry::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.manager.max_concurrent_jobs = 1;
  auto server = gantry::GantryServer::Start(options);
  if (!server.ok()) { std::fprintf(stderr, "%s\n", server.status().ToString().c_str()); return 1; }
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = gantry::v1::Gantry::NewStub(channel);

  int64_t seen0 = 0, seen = 0;
  const double alone = RunOnce(*stub, epochs, 0, &seen0);
  const double watched = RunOnce(*stub, epochs, watchers, &seen);
  std::printf("seed job through gantryd, %lld epochs\n", static_cast<long long>(epochs));
  std::printf("training time, no watcher:        %8.2f s\n", alone);
  std::printf("training time, %3d watchers:      %8.2f s  (%lld events delivered)\n", watchers,
              watched, static_cast<long long>(seen));
  std::printf("slow-down with watchers:          %8.3fx\n", watched / alone);
  (*server)->Shutdown();
  return 0;
}
