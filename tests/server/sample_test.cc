// Sample, SampleStream and ExportGenerator against a real server.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/random.h"
#include "tests/common/paths.h"
#include "tests/common/reference.h"
#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

class SampleTest : public ServerHarness {
 protected:
  void SetUp() override {
    StartServer();
    v1::JobSpec spec = SmallSpec(12);
    spec.set_checkpoint_every(5);
    id_ = MustCreate(spec);
    ASSERT_EQ(WaitForEnd(id_).state(), v1::JOB_STATE_SUCCEEDED);
  }

  grpc::Status Sample(int64_t count, std::optional<uint64_t> seed, std::optional<int64_t> epoch,
                      v1::SampleResponse* resp) {
    grpc::ClientContext ctx;
    v1::SampleRequest req;
    req.set_job_id(id_);
    req.set_count(count);
    if (seed) req.set_seed(*seed);
    if (epoch) req.set_epoch(*epoch);
    return stub_->Sample(&ctx, req, resp);
  }

  std::string id_;
};

std::vector<float> Values(const v1::SampleResponse& r) {
  return {r.points().values().begin(), r.points().values().end()};
}

TEST_F(SampleTest, SameSeedSamePoints) {
  v1::SampleResponse a, b, c;
  ASSERT_TRUE(Sample(500, 42, {}, &a).ok());
  ASSERT_TRUE(Sample(500, 42, {}, &b).ok());
  ASSERT_TRUE(Sample(500, 43, {}, &c).ok());
  EXPECT_EQ(a.seed(), 42u);
  EXPECT_EQ(a.epoch(), 12);
  EXPECT_EQ(a.points().dim(), 2);
  EXPECT_EQ(a.points().values_size(), 1000);
  EXPECT_EQ(Values(a), Values(b));
  EXPECT_NE(Values(a), Values(c));
  // Without a seed the server picks one and says which.
  v1::SampleResponse d, e;
  ASSERT_TRUE(Sample(100, {}, {}, &d).ok());
  ASSERT_TRUE(Sample(100, d.seed(), {}, &e).ok());
  EXPECT_EQ(Values(d), Values(e));
}

TEST_F(SampleTest, KeptEpochsAndErrors) {
  v1::SampleResponse at5, at10, latest;
  ASSERT_TRUE(Sample(50, 1, 5, &at5).ok());
  ASSERT_TRUE(Sample(50, 1, 10, &at10).ok());
  ASSERT_TRUE(Sample(50, 1, {}, &latest).ok());
  EXPECT_EQ(at5.epoch(), 5);
  EXPECT_NE(Values(at5), Values(at10));
  EXPECT_NE(Values(at10), Values(latest));
  v1::SampleResponse r;
  grpc::Status s = Sample(50, 1, 7, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  // Kept: every checkpoint_every (5, 10), the last (12), and each new best
  // evaluated epoch (1 is the first evaluation; 10 and 12 are kept anyway).
  EXPECT_EQ(s.error_message(), "epoch: no snapshot of job " + id_ +
                                   " is kept for epoch 7; kept: 1, 5, 10, 12 and the latest, 12");
  s = Sample(0, 1, {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "count: 0 is out of range 1..10000000");
  s = Sample(10'000'001, 1, {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  s = Sample(500'001, 1, {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(),
            "count: 500001 points of dimension 2 is 1000002 values, over Sample's limit of "
            "1000000 values per message; use SampleStream");
}

TEST_F(SampleTest, DatasetIsTheJobsTrainingData) {
  grpc::ClientContext ctx;
  v1::GetDatasetRequest req;
  req.set_job_id(id_);
  req.set_max_points(100);
  v1::GetDatasetResponse resp;
  ASSERT_TRUE(stub_->GetDataset(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.total_points(), 256);
  ASSERT_EQ(resp.points().dim(), 2);
  ASSERT_EQ(resp.points().values_size(), 200);
  for (int i = 0; i < 100; ++i) {  // the sine data: y = sin x
    EXPECT_NEAR(resp.points().values(2 * i + 1), std::sin(resp.points().values(2 * i)), 1e-6);
  }
  grpc::ClientContext bad_ctx;
  req.set_max_points(500'001);
  const grpc::Status s = stub_->GetDataset(&bad_ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "max_points: 500001 is out of range 1..500000");
}

TEST_F(SampleTest, StreamGivesTheSamePointsAsUnary) {
  v1::SampleResponse unary;
  ASSERT_TRUE(Sample(300'000, 9, {}, &unary).ok());
  grpc::ClientContext ctx;
  v1::SampleRequest req;
  req.set_job_id(id_);
  req.set_count(300'000);
  req.set_seed(9);
  auto reader = stub_->SampleStream(&ctx, req);
  std::vector<float> streamed;
  v1::SampleResponse chunk;
  int chunks = 0;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset() * 2, static_cast<int64_t>(streamed.size()));
    EXPECT_EQ(chunk.seed(), 9u);
    streamed.insert(streamed.end(), chunk.points().values().begin(), chunk.points().values().end());
    ++chunks;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(chunks, 1);
  EXPECT_EQ(streamed, Values(unary));
}

TEST_F(SampleTest, StreamDeliversTenMillionPoints) {
  grpc::ClientContext ctx;
  v1::SampleRequest req;
  req.set_job_id(id_);
  req.set_count(10'000'000);
  req.set_seed(3);
  auto reader = stub_->SampleStream(&ctx, req);
  int64_t values = 0;
  v1::SampleResponse chunk;
  while (reader->Read(&chunk)) values += chunk.points().values_size();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(values, 20'000'000);
}

TEST_F(SampleTest, ExportedGeneratorRunsInPython) {
  grpc::ClientContext ctx;
  v1::ExportGeneratorRequest req;
  req.set_job_id(id_);
  auto reader = stub_->ExportGenerator(&ctx, req);
  std::string bytes;
  v1::ExportChunk chunk;
  while (reader->Read(&chunk)) {
    bytes += chunk.data();
    EXPECT_EQ(chunk.epoch(), 12);
  }
  ASSERT_TRUE(reader->Finish().ok());

  const auto dir = std::filesystem::temp_directory_path() / ("gantry_srv_export_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "g.pt", std::ios::binary) << bytes;
  auto snap = server_->manager().Snapshot(id_, std::nullopt);
  ASSERT_TRUE(snap.ok());
  at::Generator gen = MakeCpuGenerator(5);
  const torch::Tensor z = torch::randn({20, 2}, gen);
  const torch::Tensor expected = (*snap)->Forward(z);
  {
    std::ofstream zf(dir / "z.txt");
    zf.precision(9);
    for (int64_t i = 0; i < z.numel(); ++i) zf << z.view(-1)[i].item<float>() << "\n";
  }
  const std::string out = RunCommand(
      std::string(kPython) + " -c \"import torch,sys; g=torch.jit.load(sys.argv[1]); "
      "z=torch.tensor([float(l) for l in open(sys.argv[2])]).reshape(-1,2); "
      "print(' '.join('%.9g' % v for v in g(z).reshape(-1).tolist()))\" " +
      (dir / "g.pt").string() + " " + (dir / "z.txt").string());
  std::istringstream in(out);
  std::vector<float> got;
  for (float v; in >> v;) got.push_back(v);
  ASSERT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_NEAR(got[i], expected.view(-1)[i].item<float>(), 1e-6);
  std::filesystem::remove_all(dir);

  grpc::ClientContext bad_ctx;
  req.set_epoch(3);
  auto bad = stub_->ExportGenerator(&bad_ctx, req);
  while (bad->Read(&chunk)) {
  }
  EXPECT_EQ(bad->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace gantry::testing
