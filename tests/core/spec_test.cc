// Every validation rule of JobSpec, with the message it gives.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/spec.h"

namespace gantry {
namespace {

void ExpectInvalid(const JobSpec& spec, const std::string& expected_message) {
  const Status s = Validate(spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), expected_message);
}

TEST(SpecTest, DefaultsAreTheSeedProgram) {
  JobSpec s;
  EXPECT_TRUE(Validate(s).ok());
  EXPECT_EQ(s.dataset.kind, DatasetKind::kSine);
  EXPECT_EQ(s.dataset.size, 1024);
  EXPECT_EQ(s.discriminator_hidden, (std::vector<int64_t>{256, 128, 64}));
  EXPECT_EQ(s.generator_hidden, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(s.latent_dim, 2);
  EXPECT_DOUBLE_EQ(s.dropout, 0.3);
  EXPECT_DOUBLE_EQ(s.learning_rate, 0.001);
  EXPECT_DOUBLE_EQ(s.beta1, 0.9);
  EXPECT_DOUBLE_EQ(s.beta2, 0.999);
  EXPECT_EQ(s.batch_size, 32);
  EXPECT_EQ(s.epochs, 300);
  EXPECT_EQ(s.seed, 111u);
  EXPECT_EQ(DataDim(s.dataset), 2);
  EXPECT_EQ(DatasetRows(s.dataset), 1024);
}

TEST(SpecTest, Epochs) {
  JobSpec s;
  s.epochs = 0;
  ExpectInvalid(s, "epochs: 0 is out of range 1..100000");
  s.epochs = 100001;
  ExpectInvalid(s, "epochs: 100001 is out of range 1..100000");
  s.epochs = 100000;
  EXPECT_TRUE(Validate(s).ok());
}

TEST(SpecTest, BatchSizeBoundedByDatasetRows) {
  JobSpec s;
  s.batch_size = 0;
  ExpectInvalid(s, "batch_size: 0 is out of range 1..1024 (dataset rows)");
  s.batch_size = 1025;
  ExpectInvalid(s, "batch_size: 1025 is out of range 1..1024 (dataset rows)");
  s.batch_size = 1024;
  EXPECT_TRUE(Validate(s).ok());
}

TEST(SpecTest, LearningRate) {
  JobSpec s;
  s.learning_rate = 0;
  ExpectInvalid(s, "learning_rate: 0 is out of range (0, 10]");
  s.learning_rate = -1;
  ExpectInvalid(s, "learning_rate: -1 is out of range (0, 10]");
  s.learning_rate = std::numeric_limits<double>::quiet_NaN();
  ExpectInvalid(s, "learning_rate: nan is out of range (0, 10]");
  s.learning_rate = std::numeric_limits<double>::infinity();
  ExpectInvalid(s, "learning_rate: inf is out of range (0, 10]");
  // Just past a bound: printed exactly, never rounded into the range.
  s.learning_rate = 10.0000001;
  ExpectInvalid(s, "learning_rate: 10.0000001 is out of range (0, 10]");
  s.learning_rate = std::nextafter(10.0, 11.0);
  ExpectInvalid(s, "learning_rate: 10.000000000000002 is out of range (0, 10]");
}

TEST(SpecTest, BetasAndDropout) {
  JobSpec s;
  s.beta1 = 1;
  ExpectInvalid(s, "beta1: 1 is out of range [0, 1)");
  s = JobSpec();
  s.beta2 = -0.1;
  ExpectInvalid(s, "beta2: -0.1 is out of range [0, 1)");
  s = JobSpec();
  s.dropout = 1;
  ExpectInvalid(s, "dropout: 1 is out of range [0, 1)");
  s.dropout = 0;
  EXPECT_TRUE(Validate(s).ok());
}

TEST(SpecTest, HiddenLayers) {
  JobSpec s;
  s.generator_hidden = {16, 0};
  ExpectInvalid(s, "generator_hidden[1]: 0 is out of range 1..4096");
  s = JobSpec();
  s.discriminator_hidden = {4097};
  ExpectInvalid(s, "discriminator_hidden[0]: 4097 is out of range 1..4096");
  s = JobSpec();
  s.discriminator_hidden.assign(17, 8);
  ExpectInvalid(s, "discriminator_hidden: 17 hidden layers is out of range 0..16");
  s.discriminator_hidden.clear();  // a linear discriminator is allowed
  EXPECT_TRUE(Validate(s).ok());
}

TEST(SpecTest, DimensionsAndCounts) {
  JobSpec s;
  s.latent_dim = 0;
  ExpectInvalid(s, "latent_dim: 0 is out of range 1..64");
  s = JobSpec();
  s.latent_dim = 65;
  ExpectInvalid(s, "latent_dim: 65 is out of range 1..64");
  s = JobSpec();
  s.preview_points = 4097;
  ExpectInvalid(s, "preview_points: 4097 is out of range 0..4096");
  s = JobSpec();
  s.checkpoint_every = 0;
  ExpectInvalid(s, "checkpoint_every: 0 is out of range 1..100000");
}

TEST(SpecTest, BuiltinDataset) {
  JobSpec s;
  s.dataset.size = 1;
  ExpectInvalid(s, "dataset.size: 1 is out of range 2..10000000");
  s = JobSpec();
  s.dataset.noise = -0.5;
  ExpectInvalid(s, "dataset.noise: -0.5 is out of range [0, 10]");
  s = JobSpec();
  s.dataset.points = {1, 2};
  ExpectInvalid(s, "dataset.points: only allowed with kind user, not sine");
}

TEST(SpecTest, UserDataset) {
  JobSpec s;
  s.dataset.kind = DatasetKind::kUser;
  s.dataset.dim = 0;
  ExpectInvalid(s, "dataset.dim: 0 is out of range 1..64");
  s.dataset.dim = 3;
  s.dataset.points = {1, 2, 3, 4};
  ExpectInvalid(s, "dataset.points: 4 values is not a multiple of dataset.dim 3");
  s.dataset.points = {1, 2, 3};
  ExpectInvalid(s, "dataset.points: 1 is out of range 2..10000000 rows");
  s.dataset.points = {1, 2, 3, 4, std::nanf(""), 6};
  ExpectInvalid(s, "dataset.points: row 1 column 1 is nan; every value must be finite");
  s.dataset.points = {1, 2, 3, 4, 5, 6};
  s.batch_size = 2;
  EXPECT_TRUE(Validate(s).ok());
  EXPECT_EQ(DataDim(s.dataset), 3);
  EXPECT_EQ(DatasetRows(s.dataset), 2);
  s.batch_size = 3;
  ExpectInvalid(s, "batch_size: 3 is out of range 1..2 (dataset rows)");
  s.batch_size = 2;
  s.dataset.noise = 0.1;
  ExpectInvalid(s, "dataset.noise: must be unset for user data");
}

TEST(SpecTest, DatasetNames) {
  for (const char* name : {"sine", "circle", "ring8", "grid25", "two_moons", "spiral",
                           "swiss_roll", "user"}) {
    auto kind = ParseDatasetKind(name);
    ASSERT_TRUE(kind.has_value()) << name;
    EXPECT_STREQ(DatasetKindName(*kind), name);
  }
  EXPECT_FALSE(ParseDatasetKind("mnist").has_value());
}

}  // namespace
}  // namespace gantry
