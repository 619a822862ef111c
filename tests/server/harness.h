// A real gantry server on loopback with real stubs, for the server tests.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gantry/v1/gantry.grpc.pb.h"
#include "server/server.h"

namespace gantry::testing {

class ServerHarness : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::seconds(2));
  }

  void StartServer(ManagerOptions manager = {}) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.manager = manager;
    auto s = GantryServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    stub_ = v1::Gantry::NewStub(channel_);
  }

  // A quick job: `epochs` epochs over 256 sine points.
  static v1::JobSpec SmallSpec(int64_t epochs, uint64_t seed = 111) {
    v1::JobSpec spec;
    spec.mutable_dataset()->set_size(256);
    spec.set_epochs(epochs);
    spec.set_seed(seed);
    return spec;
  }

  grpc::Status Create(const v1::JobSpec& spec, v1::Job* job, const std::string& request_id = "",
                      const std::string& name = "") {
    grpc::ClientContext ctx;
    v1::CreateJobRequest req;
    *req.mutable_spec() = spec;
    req.set_request_id(request_id);
    req.set_name(name);
    return stub_->CreateJob(&ctx, req, job);
  }

  std::string MustCreate(const v1::JobSpec& spec) {
    v1::Job job;
    const grpc::Status s = Create(spec, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job.id();
  }

  grpc::Status Get(const std::string& id, v1::Job* job) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    return stub_->GetJob(&ctx, req, job);
  }

  grpc::Status Watch(const std::string& id, int64_t from_seq, std::vector<v1::JobEvent>* events) {
    grpc::ClientContext ctx;
    v1::WatchJobRequest req;
    req.set_job_id(id);
    req.set_from_seq(from_seq);
    auto reader = stub_->WatchJob(&ctx, req);
    v1::JobEvent ev;
    while (reader->Read(&ev)) events->push_back(ev);
    return reader->Finish();
  }

  // Polls GetJob until the job is in `state` (up to 5 s).
  void WaitForState(const std::string& id, v1::JobState state) {
    v1::Job job;
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(Get(id, &job).ok());
      if (job.state() == state) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "job " << id << " never reached state " << state;
  }

  // Follows the job to its end and returns its final state.
  v1::Job WaitForEnd(const std::string& id) {
    std::vector<v1::JobEvent> events;
    const grpc::Status s = Watch(id, 0, &events);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::Job job;
    EXPECT_TRUE(Get(id, &job).ok());
    return job;
  }

  std::unique_ptr<GantryServer> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Gantry::Stub> stub_;
};

}  // namespace gantry::testing
