// Trainer: the seed program's training loop, step for step, for any JobSpec.
//
// Per epoch it draws, from the job's own generator and in this order: the
// DataLoader's two int64 seeds (the second seeds a fresh generator for the
// epoch's randperm), then per batch randn(batch, latent), the
// discriminator's dropout masks, randn(batch, latent) again and the masks of
// the generator step. With the default spec and seed 111 its last-batch
// losses equal those the tutorial's PyTorch program prints.
//
// A dataset whose size is not a multiple of the batch size ends each epoch
// with a smaller batch (labels sized to it). Reporting (preview points, the
// held-out evaluation of core/metrics.h on the first, every eval_every-th
// and the last epoch) uses generators derived from (seed, epoch), never the
// training generator, so it never changes the training. After each
// evaluation the trainer tracks the best epoch by spec.select_by and, with
// spec.patience, stops early once that many epochs passed without an
// improvement of spec.min_delta; both are part of the saved state.
//
// The epoch runs on one of two paths (spec.trainer_path): the fast path
// (fast_loop.h: no autograd, preallocated buffers, the same sgemm calls) or
// the ATen path (LibTorch modules and autograd). kAuto uses the fast path
// when it covers the spec and FastPathSelfTest() passed on this machine.
//
// Thread-safety: a Trainer is used by one thread at a time. Snapshot()
// returns an immutable object that any thread may use.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/report.h"
#include "core/snapshot.h"
#include "core/spec.h"
#include "core/status.h"

namespace gantry {

class Trainer {
 public:
  // Validates `spec`, builds the data and both networks. INVALID_ARGUMENT for
  // a bad spec.
  static StatusOr<std::unique_ptr<Trainer>> Create(const JobSpec& spec);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains the next epoch and reports on it. FAILED_PRECONDITION once all
  // epochs are done; CANCELLED if `*cancel` became true between two batches
  // (the trainer is then broken: it refuses to save or train further).
  StatusOr<EpochReport> RunEpoch(const std::atomic<bool>* cancel = nullptr);

  const JobSpec& spec() const;
  // The loop that trains this job: kFast (fast_loop.h) or kAten (autograd,
  // the reference). Both give the same bits; a state saved by one restores
  // into the other. path_note() says why kAten was chosen (empty for kFast).
  TrainerPath path() const;
  const std::string& path_note() const;
  int64_t epochs_done() const;
  // All epochs trained, or early stopping ended training (the last report's
  // stop_reason says why).
  bool finished() const;
  // The best evaluated epoch so far by spec.select_by (0 before the first).
  int64_t best_epoch() const;
  // The generator's weights as of now (after epochs_done() epochs).
  std::shared_ptr<const GeneratorSnapshot> Snapshot() const;

  // The complete state: both networks, both Adam states, the random
  // generator and the epoch. A trainer created from the same spec and
  // restored from it continues bit for bit.
  StatusOr<std::string> SaveState() const;
  // DATA_LOSS for unreadable bytes, INVALID_ARGUMENT for a state that belongs
  // to another spec. On error the trainer is unchanged.
  Status RestoreState(const std::string& bytes);

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry
