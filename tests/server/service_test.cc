// Every unary RPC and every error it can answer, against a real server.
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

class ServiceTest : public ServerHarness {
 protected:
  void SetUp() override { StartServer(); }

  void ExpectCreateError(const v1::JobSpec& spec, grpc::StatusCode code, const std::string& msg) {
    v1::Job job;
    const grpc::Status s = Create(spec, &job);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_EQ(s.error_message(), msg);
  }
};

TEST_F(ServiceTest, CreateFillsTheEffectiveSpecAndRunsToSuccess) {
  v1::Job job;
  v1::JobSpec spec;
  spec.set_epochs(2);
  ASSERT_TRUE(Create(spec, &job, "", "first").ok());
  EXPECT_FALSE(job.id().empty());
  EXPECT_EQ(job.name(), "first");
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  // Unset fields carry the seed program's values.
  EXPECT_EQ(job.spec().dataset().kind(), v1::DATASET_KIND_SINE);
  EXPECT_EQ(job.spec().dataset().size(), 1024);
  EXPECT_EQ(job.spec().batch_size(), 32);
  EXPECT_EQ(job.spec().seed(), 111u);
  EXPECT_DOUBLE_EQ(job.spec().learning_rate(), 0.001);
  EXPECT_EQ(job.spec().discriminator_hidden().sizes_size(), 3);
  EXPECT_EQ(job.spec().epochs(), 2);
  EXPECT_TRUE(job.has_create_time());

  const v1::Job done = WaitForEnd(job.id());
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.epochs_done(), 2);
  EXPECT_EQ(done.latest().epoch(), 2);
  EXPECT_EQ(done.latest().epochs(), 2);
  EXPECT_TRUE(done.has_start_time());
  EXPECT_TRUE(done.has_end_time());
  EXPECT_EQ(done.last_seq(), 5);  // QUEUED, RUNNING, 2 epochs, SUCCEEDED
}

TEST_F(ServiceTest, InvalidSpecsNameTheFieldValueAndRange) {
  v1::JobSpec s = SmallSpec(0);
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT, "epochs: 0 is out of range 1..100000");
  s = SmallSpec(1);
  s.set_batch_size(257);
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT,
                    "batch_size: 257 is out of range 1..256 (dataset rows)");
  s = SmallSpec(1);
  s.set_learning_rate(-0.5);
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT,
                    "learning_rate: -0.5 is out of range (0, 10]");
  s = SmallSpec(1);
  s.mutable_dataset()->set_kind(static_cast<v1::DatasetKind>(42));
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT,
                    "dataset.kind: 42 is not a known dataset kind");
  s = SmallSpec(1);
  s.mutable_generator_hidden()->add_sizes(0);
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT,
                    "generator_hidden[0]: 0 is out of range 1..4096");
  s = SmallSpec(1);
  s.mutable_dataset()->set_kind(v1::DATASET_KIND_USER);
  s.mutable_dataset()->clear_size();
  s.mutable_dataset()->mutable_points()->set_dim(2);
  for (float v : {1.0f, 2.0f, 3.0f, std::nanf("")}) s.mutable_dataset()->mutable_points()->add_values(v);
  s.set_batch_size(1);
  ExpectCreateError(s, grpc::StatusCode::INVALID_ARGUMENT,
                    "dataset.points: row 1 column 1 is nan; every value must be finite");
  v1::Job job;
  const grpc::Status long_name = Create(SmallSpec(1), &job, "", std::string(201, 'x'));
  EXPECT_EQ(long_name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(long_name.error_message(), "name: 201 characters is out of range 0..200");
  // Nothing was stored by the rejected requests.
  grpc::ClientContext ctx;
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);
}

TEST_F(ServiceTest, UserPointsTrain) {
  v1::JobSpec s;
  s.set_epochs(2);
  s.set_batch_size(8);
  auto* d = s.mutable_dataset();
  d->set_kind(v1::DATASET_KIND_USER);
  d->mutable_points()->set_dim(3);
  for (int i = 0; i < 3 * 40; ++i) d->mutable_points()->add_values(static_cast<float>(i % 5));
  const std::string id = MustCreate(s);
  const v1::Job done = WaitForEnd(id);
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.spec().dataset().size(), 40);
  EXPECT_EQ(done.latest().preview().dim(), 3);
}

TEST_F(ServiceTest, RequestIdMakesCreateIdempotent) {
  v1::Job a, b, c;
  ASSERT_TRUE(Create(SmallSpec(1), &a, "req-1").ok());
  ASSERT_TRUE(Create(SmallSpec(1), &b, "req-1").ok());
  EXPECT_EQ(a.id(), b.id());
  const grpc::Status other = Create(SmallSpec(2), &c, "req-1");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(other.error_message(),
            "request_id req-1 was used for job " + a.id() + " with a different spec or name");
  ASSERT_TRUE(Create(SmallSpec(1), &c, "req-2").ok());
  EXPECT_NE(c.id(), a.id());
}

TEST_F(ServiceTest, UnknownJobsAreNotFound) {
  v1::Job job;
  grpc::Status s = Get("j-nope", &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "job j-nope not found");
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id("j-nope");
    EXPECT_EQ(stub_->CancelJob(&ctx, req, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest req;
    req.set_job_id("j-nope");
    v1::DeleteJobResponse resp;
    EXPECT_EQ(stub_->DeleteJob(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  std::vector<v1::JobEvent> events;
  EXPECT_EQ(Watch("j-nope", 0, &events).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    v1::SampleRequest req;
    req.set_job_id("j-nope");
    req.set_count(1);
    v1::SampleResponse resp;
    EXPECT_EQ(stub_->Sample(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  s = Get("", &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "job_id: must not be empty");
}

TEST_F(ServiceTest, ListPagesNewestFirstAndFiltersByState) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MustCreate(SmallSpec(1, 100 + i)));
  for (const auto& id : ids) WaitForEnd(id);
  v1::Job cancelled_job;
  // One more that we cancel while it is queued or running.
  const std::string extra = MustCreate(SmallSpec(100000));
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(extra);
    ASSERT_TRUE(stub_->CancelJob(&ctx, req, &cancelled_job).ok());
  }
  WaitForEnd(extra);
  ids.push_back(extra);

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    req.set_page_size(2);
    req.set_page_token(token);
    v1::ListJobsResponse resp;
    ASSERT_TRUE(stub_->ListJobs(&ctx, req, &resp).ok());
    for (const auto& j : resp.jobs()) seen.push_back(j.id());
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));

  grpc::ClientContext ctx;
  v1::ListJobsRequest req;
  req.set_state(v1::JOB_STATE_CANCELLED);
  v1::ListJobsResponse resp;
  ASSERT_TRUE(stub_->ListJobs(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.jobs_size(), 1);
  EXPECT_EQ(resp.jobs(0).id(), extra);

  grpc::ClientContext bad_ctx;
  req.set_page_token("garbage");
  const grpc::Status bad = stub_->ListJobs(&bad_ctx, req, &resp);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "page_token: 'garbage' is not a token from a previous ListJobs");
}

TEST_F(ServiceTest, DeleteOnlyEndedJobs) {
  const std::string id = MustCreate(SmallSpec(100000));
  v1::DeleteJobResponse resp;
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest req;
    req.set_job_id(id);
    const grpc::Status s = stub_->DeleteJob(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(s.error_message().find("cancel it before deleting it"), std::string::npos);
  }
  v1::Job job;
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    ASSERT_TRUE(stub_->CancelJob(&ctx, req, &job).ok());
  }
  EXPECT_EQ(WaitForEnd(id).state(), v1::JOB_STATE_CANCELLED);
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    const grpc::Status again = stub_->CancelJob(&ctx, req, &job);
    EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(again.error_message(), "job " + id + " has already ended (CANCELLED)");
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest req;
    req.set_job_id(id);
    ASSERT_TRUE(stub_->DeleteJob(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(Get(id, &job).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(ServerStartTest, BusyPortIsAClearError) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  auto first = GantryServer::Start(o);
  ASSERT_TRUE(first.ok());
  o.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = GantryServer::Start(o);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace gantry::testing
