// Sampling from snapshots, and the TorchScript export read back by Python.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/export.h"
#include "core/random.h"
#include "core/trainer.h"
#include "tests/common/paths.h"
#include "tests/common/reference.h"

namespace gantry {
namespace {

std::shared_ptr<const GeneratorSnapshot> TrainedSnapshot(int64_t epochs, JobSpec spec = {}) {
  spec.epochs = epochs;
  auto t = std::move(Trainer::Create(spec)).value();
  for (int64_t i = 0; i < epochs; ++i) EXPECT_TRUE(t->RunEpoch().ok());
  return t->Snapshot();
}

TEST(SamplingTest, SameSeedSamePointsDifferentSeedDifferentPoints) {
  auto snap = TrainedSnapshot(3);
  const torch::Tensor a = snap->Sample(7, 0, 1000);
  const torch::Tensor b = snap->Sample(7, 0, 1000);
  const torch::Tensor c = snap->Sample(8, 0, 1000);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{1000, 2}));
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.equal(c));
}

TEST(SamplingTest, ChunkedRangesEqualOneCall) {
  auto snap = TrainedSnapshot(1);
  const int64_t n = 3 * kSampleBlock + 123;
  const torch::Tensor whole = snap->Sample(99, 0, n);
  std::vector<torch::Tensor> parts;
  for (int64_t off = 0; off < n; off += 1000) {
    parts.push_back(snap->Sample(99, off, std::min<int64_t>(1000, n - off)));
  }
  EXPECT_TRUE(whole.equal(torch::cat(parts)));
}

// Sample's points, bit for bit, are Forward() of each whole block of
// latent points drawn by randn from the block's own generator, cut to the
// asked range: the recipe SampleInto followed before it wrote into scratch
// and ran parts of blocks alone.
torch::Tensor ForwardOfBlocks(const GeneratorSnapshot& snap, uint64_t seed, int64_t offset,
                              int64_t count) {
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < count;) {
    const int64_t index = offset + done;
    const int64_t skip = index % kSampleBlock;
    const int64_t take = std::min(kSampleBlock - skip, count - done);
    at::Generator gen =
        MakeCpuGenerator(DeriveSeed(seed, RandomStream::kSample, index / kSampleBlock));
    const torch::Tensor z = torch::randn({kSampleBlock, snap.latent_dim()}, gen);
    parts.push_back(snap.Forward(z).slice(0, skip, skip + take));
    done += take;
  }
  return torch::cat(parts);
}

TEST(SamplingTest, SampleIsForwardOfTheSeededBlocksBitForBit) {
  // The seed job's shape, no hidden layer, and one too wide for the kept
  // scratch (allocated per call).
  for (const std::vector<int64_t>& widths :
       {std::vector<int64_t>{2, 16, 32, 2}, {3, 2}, {8, 700, 300, 3}}) {
    torch::manual_seed(static_cast<uint64_t>(widths.back()));
    std::vector<at::Tensor> tensors;
    for (size_t i = 0; i + 1 < widths.size(); ++i) {
      tensors.push_back(torch::randn({widths[i + 1], widths[i]}));
      tensors.push_back(torch::randn({widths[i + 1]}));
    }
    const GeneratorSnapshot snap(std::move(tensors), 1);
    // Each part twice: the first of its size also runs the whole block (to
    // check that a part alone is exact), later ones may run the part alone.
    for (int pass = 0; pass < 2; ++pass) {
      for (auto [offset, count] : {std::pair<int64_t, int64_t>{0, 1000}, {0, 1},
                                    {kSampleBlock - 7, 20}, {70, 64}, {3, 2 * kSampleBlock + 5},
                                    {5 * kSampleBlock + 100, 3000}}) {
        const uint64_t seed = 11 + static_cast<uint64_t>(pass);
        const torch::Tensor got = snap.Sample(seed, offset, count);
        const torch::Tensor want = ForwardOfBlocks(snap, seed, offset, count);
        ASSERT_EQ(got.sizes(), want.sizes());
        EXPECT_EQ(std::memcmp(got.data_ptr<float>(), want.data_ptr<float>(),
                              static_cast<size_t>(want.numel()) * sizeof(float)),
                  0)
            << "widths " << widths.size() << " offset " << offset << " count " << count
            << " pass " << pass;
      }
    }
  }
}

TEST(SamplingTest, SnapshotIsIsolatedFromFurtherTraining) {
  JobSpec spec;
  spec.epochs = 4;
  auto t = std::move(Trainer::Create(spec)).value();
  ASSERT_TRUE(t->RunEpoch().ok());
  auto snap = t->Snapshot();
  const torch::Tensor before = snap->Sample(1, 0, 100);
  // Sampling from another thread while training continues.
  torch::Tensor during;
  std::thread sampler([&] { during = snap->Sample(1, 0, 100); });
  ASSERT_TRUE(t->RunEpoch().ok());
  sampler.join();
  EXPECT_TRUE(before.equal(during));
  EXPECT_TRUE(before.equal(snap->Sample(1, 0, 100)));
  EXPECT_EQ(snap->epoch(), 1);
  EXPECT_FALSE(before.equal(t->Snapshot()->Sample(1, 0, 100)));
}

// How far a generator's points lie from the sine curve, as mean |y - sin x|.
double SineError(const GeneratorSnapshot& snap) {
  const torch::Tensor pts = snap.Sample(5, 0, 2000);
  return (pts.select(1, 1) - torch::sin(pts.select(1, 0))).abs().mean().item<double>();
}

// Training draws the generator onto the curve. The exact figure depends on
// the machine (OpenBLAS picks its kernels per CPU), so the bound is loose and
// relative: far nearer than after one epoch, and near in absolute terms.
TEST(SamplingTest, TrainedSineGeneratorLiesNearTheCurve) {
  const double untrained = SineError(*TrainedSnapshot(1));
  const double trained = SineError(*TrainedSnapshot(300));
  std::printf("mean |y - sin x|: %.4f after 1 epoch, %.4f after 300\n", untrained, trained);
  EXPECT_LT(trained, 0.5 * untrained);
  EXPECT_LT(trained, 0.3);
}

TEST(ExportTest, PythonRunsTheExportedGenerator) {
  JobSpec spec;
  spec.latent_dim = 3;
  spec.generator_hidden = {8, 16, 4};
  auto snap = TrainedSnapshot(2, spec);
  auto bytes = ExportTorchScript(*snap);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("gantry_export_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto model = dir / "generator.pt", z_file = dir / "z.pt", out_file = dir / "out.txt";
  std::ofstream(model, std::ios::binary) << *bytes;

  at::Generator gen = MakeCpuGenerator(3);
  const torch::Tensor z = torch::randn({50, 3}, gen);
  const torch::Tensor expected = snap->Forward(z);
  {
    std::ofstream zf(z_file);
    zf.precision(9);
    for (int64_t i = 0; i < z.numel(); ++i) zf << z.view(-1)[i].item<float>() << "\n";
  }
  const std::string script =
      "import torch,sys\n"
      "g=torch.jit.load(sys.argv[1])\n"
      "z=torch.tensor([float(l) for l in open(sys.argv[2])]).reshape(-1, g.latent_dim)\n"
      "out=g(z)\n"
      "open(sys.argv[3],'w').write('\\n'.join('%.9g' % v for v in out.reshape(-1).tolist()))\n"
      "print(g.latent_dim, g.data_dim, g.epoch)\n";
  std::ofstream(dir / "run.py") << script;
  const std::string printed = testing::RunCommand(std::string(testing::kPython) + " " +
                                                  (dir / "run.py").string() + " " + model.string() +
                                                  " " + z_file.string() + " " + out_file.string());
  EXPECT_EQ(printed, "3 2 2\n");
  std::ifstream in(out_file);
  std::vector<float> got;
  for (float v; in >> v;) got.push_back(v);
  ASSERT_EQ(got.size(), 100u);
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_NEAR(got[i], expected.view(-1)[i].item<float>(), 1e-6) << i;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry
