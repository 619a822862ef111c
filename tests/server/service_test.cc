// Every unary RPC and every error it can answer, against a real server.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

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
  EXPECT_EQ(other.error_message(), "request_id req-1 was used for job " + a.id() +
                                       " with a different spec, name or labels");
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

class LabelsTest : public ServiceTest {
 protected:
  grpc::Status CreateLabelled(const std::map<std::string, std::string>& labels, v1::Job* job,
                              const std::string& request_id = "") {
    grpc::ClientContext ctx;
    v1::CreateJobRequest req;
    *req.mutable_spec() = SmallSpec(1);
    req.set_request_id(request_id);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    return stub_->CreateJob(&ctx, req, job);
  }
  void ExpectLabelError(const std::map<std::string, std::string>& labels, const std::string& msg) {
    v1::Job job;
    const grpc::Status s = CreateLabelled(labels, &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(s.error_message(), msg);
  }
  grpc::Status List(const std::string& selector, v1::ListJobsResponse* resp, int page_size = 0,
                    const std::string& token = "") {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    req.set_label_selector(selector);
    req.set_page_size(page_size);
    req.set_page_token(token);
    return stub_->ListJobs(&ctx, req, resp);
  }
  void ExpectSelectorError(const std::string& selector, const std::string& msg) {
    v1::ListJobsResponse resp;
    const grpc::Status s = List(selector, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << selector;
    EXPECT_EQ(s.error_message(), msg) << selector;
  }
};

TEST_F(LabelsTest, BadLabelsNameTheLabelTheValueAndTheRule) {
  const std::string key_rule =
      "must be 1..63 characters of [A-Za-z0-9._-] starting with a letter or digit";
  const std::string value_rule = "must be 0..63 characters of [A-Za-z0-9._-]";
  ExpectLabelError({{"", "x"}}, "labels: key '' (value 'x') " + key_rule);
  ExpectLabelError({{"-lead", "x"}}, "labels: key '-lead' (value 'x') " + key_rule);
  ExpectLabelError({{"a b", "x"}}, "labels: key 'a b' (value 'x') " + key_rule);
  ExpectLabelError({{"a=b", "x"}}, "labels: key 'a=b' (value 'x') " + key_rule);
  ExpectLabelError({{std::string(64, 'k'), "x"}},
                   "labels: key '" + std::string(64, 'k') + "' (value 'x') " + key_rule);
  ExpectLabelError({{"sweep", "a,b"}}, "labels: value 'a,b' of key 'sweep' " + value_rule);
  ExpectLabelError({{"sweep", "caf\xc3\xa9"}},
                   "labels: value 'caf\\xc3\\xa9' of key 'sweep' " + value_rule);
  ExpectLabelError({{"sweep", std::string(64, 'v')}},
                   "labels: value '" + std::string(64, 'v') + "' of key 'sweep' " + value_rule);
  std::map<std::string, std::string> many;
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = "v";
  ExpectLabelError(many, "labels: 17 labels is more than the 16 a job may carry");
  // The limits themselves are fine: 16 labels of 63 + 63 characters, an
  // empty value, dots, dashes and underscores.
  for (const char* k : {"k0", "k2", "k3"}) many.erase(k);
  many[std::string(63, 'K')] = std::string(63, 'V');
  many["k1"] = "";
  many["a.b_c-9"] = "1.5e-3_x";
  v1::Job job;
  const grpc::Status ok = CreateLabelled(many, &job);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(job.labels_size(), 16);
  EXPECT_EQ(job.labels().at("k1"), "");
  // Nothing was stored by the rejected requests.
  v1::ListJobsResponse resp;
  ASSERT_TRUE(List("", &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 1);
}

TEST_F(LabelsTest, LabelsAreStoredShownAndSelected) {
  std::vector<std::string> a, b;
  for (int i = 0; i < 6; ++i) {
    v1::Job job;
    const std::string sweep = i % 2 == 0 ? "a" : "b";
    ASSERT_TRUE(CreateLabelled({{"sweep", sweep}, {"seed", std::to_string(i / 2)}}, &job).ok());
    EXPECT_EQ(job.labels().at("sweep"), sweep);
    (i % 2 == 0 ? a : b).push_back(job.id());
  }
  v1::Job plain;
  ASSERT_TRUE(Create(SmallSpec(1), &plain).ok());
  EXPECT_EQ(plain.labels_size(), 0);
  v1::Job got;
  ASSERT_TRUE(Get(a[1], &got).ok());
  EXPECT_EQ(got.labels().at("seed"), "1");
  EXPECT_EQ(got.labels().at("sweep"), "a");

  // In pages of 2: every job of sweep a, newest first, and no other.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListJobsResponse resp;
    ASSERT_TRUE(List("sweep=a", &resp, 2, token).ok());
    for (const auto& j : resp.jobs()) {
      seen.push_back(j.id());
      EXPECT_EQ(j.labels().at("sweep"), "a");
    }
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, std::vector<std::string>(a.rbegin(), a.rend()));
  v1::ListJobsResponse resp;
  ASSERT_TRUE(List("seed=1,sweep=b", &resp).ok());
  ASSERT_EQ(resp.jobs_size(), 1);
  EXPECT_EQ(resp.jobs(0).id(), b[1]);
  ASSERT_TRUE(List("sweep=c", &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 0);
  ASSERT_TRUE(List("", &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 7);
  // With the state filter too.
  for (const auto& id : a) WaitForEnd(id);
  grpc::ClientContext ctx;
  v1::ListJobsRequest req;
  req.set_label_selector("sweep=a");
  req.set_state(v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(stub_->ListJobs(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 3);
}

TEST_F(LabelsTest, BadSelectorsNameTheTerm) {
  ExpectSelectorError("sweep", "label_selector: term 'sweep' is not key=value");
  ExpectSelectorError("sweep=a,", "label_selector: term '' is not key=value");
  ExpectSelectorError("=a", "label_selector: term '=a' has an empty key");
  ExpectSelectorError("a b=c",
                      "label_selector: term 'a b=c': key 'a b' (value 'c') must be 1..63 "
                      "characters of [A-Za-z0-9._-] starting with a letter or digit");
  ExpectSelectorError("sweep=a=b",
                      "label_selector: term 'sweep=a=b': value 'a=b' of key 'sweep' must be "
                      "0..63 characters of [A-Za-z0-9._-]");
  ExpectSelectorError("a=1,a=2", "label_selector: term 'a=2': key 'a' is given twice");
  std::string many;
  for (int i = 0; i < 17; ++i) many += (i ? ",k" : "k") + std::to_string(i) + "=v";
  ExpectSelectorError(many, "label_selector: more than 16 terms (a job carries at most 16 labels)");
}

TEST_F(LabelsTest, ARequestIdRetryMustRepeatTheLabels) {
  v1::Job a, b, c, d;
  ASSERT_TRUE(CreateLabelled({{"sweep", "s"}}, &a, "req-l").ok());
  ASSERT_TRUE(CreateLabelled({{"sweep", "s"}}, &b, "req-l").ok());
  EXPECT_EQ(a.id(), b.id());
  EXPECT_EQ(b.labels().at("sweep"), "s");
  for (const std::map<std::string, std::string>& other :
       {std::map<std::string, std::string>{{"sweep", "t"}}, std::map<std::string, std::string>{},
        std::map<std::string, std::string>{{"sweep", "s"}, {"x", "1"}}}) {
    const grpc::Status s = CreateLabelled(other, &c, "req-l");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_EQ(s.error_message(), "request_id req-l was used for job " + a.id() +
                                     " with a different spec, name or labels");
  }
  // And without labels, as before labels existed.
  ASSERT_TRUE(CreateLabelled({}, &c, "req-m").ok());
  ASSERT_TRUE(CreateLabelled({}, &d, "req-m").ok());
  EXPECT_EQ(c.id(), d.id());
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
