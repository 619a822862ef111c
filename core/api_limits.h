// Names and limits of gantry's API that core, server and client share: one
// definition each. Header-only, and includes neither LibTorch nor gRPC nor
// generated protobuf code, so the client (which never links gantry_core)
// includes it too.
//
// Thread-safety: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gantry {

// The most float values one message carries (a unary Sample, a GetDataset
// reply, a SampleStream chunk): 1,000,000 packed floats are 4,000,000 bytes,
// which with the message's few other fields fits gRPC's default 4 MiB
// (4,194,304-byte) message limit.
inline constexpr int64_t kMaxMessageValues = 1'000'000;

// A dataset kind's name (the CLI's --dataset, core's spec and messages) and
// its value in the proto enum gantry.v1.DatasetKind.
struct DatasetKindEntry {
  int proto_value;   // gantry.v1.DatasetKind: DATASET_KIND_SINE = 1 ...
  const char* name;  // "sine"
};

// Every dataset kind, in proto enum order: entry i is proto value i + 1 (and
// core's DatasetKind value i). DATASET_KIND_UNSPECIFIED (0) means sine and
// has no entry of its own.
inline constexpr DatasetKindEntry kDatasetKindNames[] = {
    {1, "sine"},      {2, "circle"}, {3, "ring8"},      {4, "grid25"},
    {5, "two_moons"}, {6, "spiral"}, {7, "swiss_roll"}, {8, "user"}, {9, "table"},
};
inline constexpr size_t kDatasetKindCount = sizeof kDatasetKindNames / sizeof kDatasetKindNames[0];

// The name of a proto DatasetKind value (0 reads as sine), or nullptr.
constexpr const char* DatasetKindNameOfProto(int proto_value) {
  if (proto_value == 0) proto_value = 1;
  for (const DatasetKindEntry& k : kDatasetKindNames) {
    if (k.proto_value == proto_value) return k.name;
  }
  return nullptr;
}

namespace api_limits_internal {
constexpr bool InProtoOrder() {
  for (size_t i = 0; i < kDatasetKindCount; ++i) {
    if (kDatasetKindNames[i].proto_value != static_cast<int>(i) + 1) return false;
  }
  return true;
}
}  // namespace api_limits_internal
static_assert(api_limits_internal::InProtoOrder(), "kDatasetKindNames must be in proto enum order");

// A study's search parameters: the JobSpec fields a study varies, by their
// API names (core/spec_params.h reads and sets them; `gantry sweep` gives
// only these several values).
inline constexpr const char* kStudyParamNames[] = {
    "learning_rate", "beta1",      "beta2",    "dropout", "gp_weight",        "weight_decay",
    "latent_dim",    "batch_size", "n_critic", "pac",     "generator_hidden", "discriminator_hidden",
    "loss",          "spectral_norm", "seed"};
// A study's bounds (server/studies/study_spec.h): values of one choice
// parameter, trial jobs at once, and its own labels (its jobs add study,
// trial and segment).
inline constexpr int64_t kMaxStudyChoices = 100;
inline constexpr int64_t kMaxStudyConcurrency = 64;
inline constexpr size_t kMaxStudyOwnLabels = 13;

}  // namespace gantry
