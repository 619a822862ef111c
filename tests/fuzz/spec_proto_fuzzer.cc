// A JobSpec from arbitrary protobuf bytes, through what CreateJob does with
// it: conversion, validation, the admission estimate and the effective spec.
#include <cstddef>
#include <cstdint>

#include "core/memory.h"
#include "server/jobs/convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gantry::v1::JobSpec proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto spec = gantry::SpecFromProto(proto);
  if (!spec.ok()) return 0;
  if (!gantry::Validate(*spec).ok()) return 0;
  const gantry::MemoryEstimate e = gantry::EstimateMemory(*spec);
  if (e.total() <= 0) __builtin_trap();  // a valid spec always needs memory
  (void)e.ToString();
  // The effective spec converts back to the same core spec.
  auto again = gantry::SpecFromProto(gantry::SpecToProto(*spec));
  if (!again.ok() || !gantry::Validate(*again).ok()) __builtin_trap();
  return 0;
}
