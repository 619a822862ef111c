// Tensor files (core/tensor_file.h): bit-exact round trips, every malformed
// input refused as DATA_LOSS, and the LibTorch archives gantry wrote before
// them still restore (a checkpoint or snapshot stored by an older gantryd is
// never lost).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <sstream>

#include "core/snapshot.h"
#include "core/tensor_file.h"
#include "core/trainer.h"

namespace gantry {
namespace {

TEST(TensorFileTest, RoundTripIsBitExact) {
  torch::manual_seed(3);
  const at::Tensor f = torch::randn({3, 5});
  const at::Tensor l = torch::tensor({int64_t{-7}, int64_t{1} << 62}, torch::kLong);
  const at::Tensor b = torch::randint(0, 255, {17}, torch::kByte);
  const at::Tensor scalar = torch::tensor(2.5f);
  const at::Tensor empty = torch::empty({0, 4});
  TensorFileWriter w;
  w.Add("f", f);
  w.Add("l", l);
  w.Add("b", b);
  w.Add("scalar", scalar);
  w.Add("empty", empty);
  w.Add("strided", f.t());  // written contiguous
  const std::string bytes = std::move(w).Finish();
  ASSERT_TRUE(IsTensorFile(bytes));
  auto got = ReadTensorFile(bytes);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 6u);
  EXPECT_TRUE(got->at("f").equal(f));
  EXPECT_TRUE(got->at("l").equal(l));
  EXPECT_TRUE(got->at("b").equal(b));
  EXPECT_TRUE(got->at("scalar").equal(scalar));
  EXPECT_EQ(got->at("scalar").dim(), 0);
  EXPECT_EQ(got->at("empty").sizes(), (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(got->at("strided").equal(f.t()));
}

TEST(TensorFileTest, MalformedInputIsDataLoss) {
  TensorFileWriter w;
  w.Add("x", torch::ones({4, 4}));
  const std::string good = std::move(w).Finish();
  auto code = [](const std::string& bytes) { return ReadTensorFile(bytes).status().code(); };
  EXPECT_EQ(code(""), StatusCode::kDataLoss);
  EXPECT_EQ(code("GTENSOR1"), StatusCode::kDataLoss);                      // no count
  for (size_t n = 8; n < good.size(); n += 7) EXPECT_EQ(code(good.substr(0, n)), StatusCode::kDataLoss) << n;
  EXPECT_EQ(code(good + "x"), StatusCode::kDataLoss);                      // trailing bytes
  std::string bad_dtype = good;
  bad_dtype[8 + 4 + 2 + 1] = 9;
  EXPECT_EQ(code(bad_dtype), StatusCode::kDataLoss);
  std::string huge = good;  // the first dimension claims 2^62 rows
  const int64_t big = int64_t{1} << 62;
  std::memcpy(huge.data() + 8 + 4 + 2 + 1 + 2, &big, sizeof big);
  auto s = ReadTensorFile(huge);
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("larger than the file"), std::string::npos) << s.status().message();
  // A record by hand: name "y", float32, the given dimensions, no data.
  auto record = [](std::vector<int64_t> dims, uint8_t dtype = 1) {
    std::string b = "GTENSOR1";
    const uint32_t one = 1;
    b.append(reinterpret_cast<const char*>(&one), 4);
    const uint16_t len = 1;
    b.append(reinterpret_cast<const char*>(&len), 2);
    b += "y";
    b += static_cast<char>(dtype);
    b += static_cast<char>(dims.size());
    for (int64_t d : dims) b.append(reinterpret_cast<const char*>(&d), 8);
    return b;
  };
  EXPECT_TRUE(ReadTensorFile(record({0})).ok());  // an empty tensor is fine
  EXPECT_EQ(code(record({-1})), StatusCode::kDataLoss);
  EXPECT_EQ(code(record(std::vector<int64_t>(9, 1))), StatusCode::kDataLoss);  // ndim > 8
  // Empty, but with strides that would overflow: refused before any allocation.
  EXPECT_EQ(code(record({0, int64_t{1} << 62, int64_t{1} << 62})), StatusCode::kDataLoss);
  TensorFileWriter twice;
  twice.Add("x", torch::ones({1}));
  twice.Add("x", torch::ones({1}));
  EXPECT_EQ(code(std::move(twice).Finish()), StatusCode::kDataLoss);
}

// What gantryd wrote before tensor files: LibTorch archives of the same names.
std::string LegacyArchive(const std::map<std::string, at::Tensor>& tensors) {
  torch::serialize::OutputArchive ar;
  for (const auto& [name, t] : tensors) ar.write(name, t);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

TEST(TensorFileTest, OlderArchivesStillRestore) {
  JobSpec spec;
  spec.epochs = 4;
  spec.dataset.size = 256;
  auto a = std::move(Trainer::Create(spec)).value();
  ASSERT_TRUE(a->RunEpoch().ok());
  const std::string state = *a->SaveState();
  // The same tensors as an older gantryd's checkpoint.
  auto tensors = ReadTensorFile(state);
  ASSERT_TRUE(tensors.ok());
  const std::string legacy = LegacyArchive(*tensors);
  ASSERT_FALSE(IsTensorFile(legacy));
  auto b = std::move(Trainer::Create(spec)).value();
  ASSERT_TRUE(b->RestoreState(legacy).ok());
  EXPECT_EQ(*b->SaveState(), state) << "the restored state is the saved one, bit for bit";
  const EpochReport ra = *a->RunEpoch(), rb = *b->RunEpoch();
  EXPECT_EQ(ra.loss_d, rb.loss_d);
  EXPECT_EQ(ra.loss_g, rb.loss_g);

  const auto snap = a->Snapshot();
  const std::string snap_bytes = *SerializeSnapshot(*snap);
  auto snap_tensors = ReadTensorFile(snap_bytes);
  ASSERT_TRUE(snap_tensors.ok());
  auto old_snap = DeserializeSnapshot(LegacyArchive(*snap_tensors));
  ASSERT_TRUE(old_snap.ok()) << old_snap.status().ToString();
  EXPECT_EQ((*old_snap)->epoch(), snap->epoch());
  EXPECT_TRUE((*old_snap)->Sample(5, 0, 100).equal(snap->Sample(5, 0, 100)));
  EXPECT_EQ(DeserializeSnapshot("neither").status().code(), StatusCode::kDataLoss);
}

TEST(TensorFileTest, SnapshotShapesMustChain) {
  TensorFileWriter w;
  w.Add("epoch", torch::tensor({int64_t{1}}));
  w.Add("count", torch::tensor({int64_t{4}}));
  w.Add("t0", torch::ones({16, 2}));
  w.Add("t1", torch::ones({16}));
  w.Add("t2", torch::ones({2, 15}));  // 15 inputs after a 16-wide layer
  w.Add("t3", torch::ones({2}));
  auto s = DeserializeSnapshot(std::move(w).Finish());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("do not chain"), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace gantry
