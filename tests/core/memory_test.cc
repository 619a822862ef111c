// The admission estimate (core/memory.h): its parts follow the spec's sizes,
// and sizes parse and print as gantryd's flags and messages use them. That
// the total is not below a real job's peak is checked against gantryd itself
// (tests/e2e/hostile_inputs_test.py, tests/bench/memory_bench.py).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/memory.h"

namespace gantry {
namespace {

TEST(MemoryTest, ParametersOfTheSeedNetworks) {
  JobSpec spec;  // G 2-16-32-2, D 2-256-128-64-1
  EXPECT_EQ(GeneratorParameters(spec), (2 * 16 + 16) + (16 * 32 + 32) + (32 * 2 + 2));
  EXPECT_EQ(DiscriminatorParameters(spec),
            (2 * 256 + 256) + (256 * 128 + 128) + (128 * 64 + 64) + (64 * 1 + 1));
  const MemoryEstimate e = EstimateMemory(spec);
  EXPECT_EQ(e.model, 16 * (GeneratorParameters(spec) + DiscriminatorParameters(spec)));
  EXPECT_EQ(e.total(), e.model + e.activations + e.dataset + e.reporting + e.checkpoint + e.overhead);
  EXPECT_LT(e.total(), 64 << 20);
}

TEST(MemoryTest, EachPartGrowsWithWhatDrivesIt) {
  JobSpec base;
  const MemoryEstimate b = EstimateMemory(base);
  JobSpec batch = base;
  batch.batch_size = 1024;
  EXPECT_GT(EstimateMemory(batch).activations, 16 * b.activations);
  EXPECT_EQ(EstimateMemory(batch).model, b.model);
  JobSpec wide = base;
  wide.discriminator_hidden = {1024, 1024};
  EXPECT_GT(EstimateMemory(wide).model, 10 * b.model);
  EXPECT_GT(EstimateMemory(wide).checkpoint, 10 * b.checkpoint);
  JobSpec rows = base;
  rows.dataset.size = 1'000'000;
  EXPECT_GT(EstimateMemory(rows).dataset, 500 * b.dataset);
  JobSpec user = base;
  user.dataset.kind = DatasetKind::kUser;
  user.dataset.dim = 8;
  user.dataset.points.assign(8 * 1024, 1.f);
  EXPECT_GT(EstimateMemory(user).dataset, EstimateMemory(base).dataset);
}

TEST(MemoryTest, TheLargestSpecIsHugeButFinite) {
  JobSpec spec;
  spec.generator_hidden.assign(16, 4096);
  spec.discriminator_hidden.assign(16, 4096);
  spec.dataset.size = kMaxDatasetPoints;
  spec.batch_size = kMaxDatasetPoints;
  const MemoryEstimate e = EstimateMemory(spec);
  EXPECT_GT(e.model, int64_t{7} << 30);  // 503M parameters, 16 bytes each
  EXPECT_GT(e.activations, int64_t{1} << 40);
  EXPECT_GT(e.total(), 0);
}

TEST(MemoryTest, ParseBytes) {
  int64_t b = -1;
  EXPECT_TRUE(ParseBytes("123", &b));
  EXPECT_EQ(b, 123);
  EXPECT_TRUE(ParseBytes("64KiB", &b));
  EXPECT_EQ(b, 64 << 10);
  EXPECT_TRUE(ParseBytes("512M", &b));
  EXPECT_EQ(b, int64_t{512} << 20);
  EXPECT_TRUE(ParseBytes("4gib", &b));
  EXPECT_EQ(b, int64_t{4} << 30);
  EXPECT_TRUE(ParseBytes("1.5G", &b));
  EXPECT_EQ(b, int64_t{3} << 29);
  EXPECT_TRUE(ParseBytes("0", &b));
  EXPECT_EQ(b, 0);
  const std::string overflow(400, '9');
  const std::string underflow = "0." + std::string(400, '0') + "1";
  for (const std::string& bad : {std::string(""), std::string("-1"), std::string("1..5G"), std::string("."),
                                 std::string("12XB"), std::string("G"), std::string("1 G"), std::string("0x10"),
                                 std::string("1e9"), std::string("0.5"), overflow, underflow}) {
    EXPECT_FALSE(ParseBytes(bad, &b)) << bad;
  }
}

TEST(MemoryTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(int64_t{1} << 30), "1.0 GiB");
}

TEST(MemoryTest, AvailableMemoryIsTheMachinesOrLess) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  ASSERT_TRUE(meminfo >> key >> kib);
  ASSERT_EQ(key, "MemTotal:");
  const int64_t m = AvailableMemory();
  EXPECT_GT(m, 0);
  EXPECT_LE(m, kib * 1024) << "never more than the machine has";
}

}  // namespace
}  // namespace gantry
