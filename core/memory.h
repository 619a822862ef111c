// EstimateMemory: how much memory a job takes at its peak, from its spec
// alone, before anything is allocated.
//
// It is what admission decides by (gantryd's --max-job-memory and
// --max-memory), so it errs high: it covers whichever training loop runs the
// job (the fast path's buffers or the ATen path's autograd tensors), the
// trainer checkpoint that a drain may write at any epoch, and the generator
// snapshots of the kept epochs while they are serialised. Each part is a
// plain function of the spec's sizes; tests/bench/memory_bench.py compares
// the total with the measured peak of real jobs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/spec.h"

namespace gantry {

struct MemoryEstimate {
  int64_t model = 0;        // parameters, gradients and Adam's two moments, both networks
  int64_t activations = 0;  // one batch's activations, dropout masks and gradients
  int64_t dataset = 0;      // the training points (every copy the job holds), the permutation
  int64_t reporting = 0;    // quality figure, preview, generator snapshots and their files
  int64_t checkpoint = 0;   // a trainer checkpoint while it is serialised and written
  int64_t overhead = 0;     // per job: its thread, BLAS and allocator caches

  int64_t total() const {
    return model + activations + dataset + reporting + checkpoint + overhead;
  }
  // "1.2 GiB (model 800 MiB, activations 300 MiB, ...)".
  std::string ToString() const;
};

// The spec must be valid (Validate); the figures saturate rather than overflow.
MemoryEstimate EstimateMemory(const JobSpec& spec);

// The number of parameters (weights and biases) of the generator and of the
// discriminator.
int64_t GeneratorParameters(const JobSpec& spec);
int64_t DiscriminatorParameters(const JobSpec& spec);

// The machine's physical memory, or the cgroup's memory limit (v2
// memory.max, v1 memory.limit_in_bytes) when that is smaller: what a
// container may really use.
int64_t AvailableMemory();

// "512 B", "12.5 KiB", "1.0 MiB", "10.9 GiB".
std::string FormatBytes(int64_t bytes);

// Parses "123", "64KiB", "512M", "4GiB", "1.5G", "2T" (binary units; an
// optional B; case-insensitive). False for anything else, negatives
// included.
bool ParseBytes(const std::string& text, int64_t* bytes);

}  // namespace gantry
