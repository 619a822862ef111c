// TableTrainer: the CTGAN-class model for table jobs (Xu et al. 2019; the
// reference is sdv-dev/CTGAN 0.12), trained with LibTorch's autograd.
//
// - Data: the table's rows split once into training and held-out rows
//   (SplitTable, core/table_eval.h: a permutation from DeriveSeed(seed,
//   kEval, 0), HeldOutRows() of it held out, stratified on a categorical
//   target). The codec
//   (table_codec.h) is fitted on the training rows and encodes them, its
//   mode draws from DeriveSeed(seed, kTableEncode, 0).
// - Generator: Residual(i, o) = cat(relu(batchnorm(linear(x))), x) for each
//   of generator_hidden, then a linear layer to the codec's width. Input:
//   latent_dim normal noise and the conditional vector.
// - Discriminator: pac rows at once (their encodings and conditional vectors
//   concatenated), linear + leaky_relu(0.2) + dropout for each of
//   discriminator_hidden, then linear to 1. WGAN-GP (gp_weight on pac-rows
//   interpolates), Adam (lr, beta1, beta2, weight_decay) for both nets.
// - Each step draws from the job's generator, in this order: n_critic times
//   [noise (randn [batch, latent_dim]); the conditional vector (randint of
//   the discrete column, one uniform per row for its category by
//   log-frequency); randperm(batch) pairing real rows with the vectors; one
//   uniform per row picking a real row of that category; the generator's
//   Gumbel noise (rand [batch, width], then -log(-log(u))); the discriminator's dropout
//   masks on real and fake rows together; the interpolation weights; the
//   masks on the interpolates], then for the generator [noise; conditional
//   vector; Gumbel noise; masks]. Initial weights: each linear layer of the
//   generator, then of the discriminator, as PyTorch's default reset does.
// - An epoch is max(1, training rows / batch_size) steps. Evaluation (on
//   the first, every eval_every-th and the last epoch) samples eval_points
//   rows from the epoch's snapshot with DeriveSeed(seed, kEval, epoch) and
//   measures them with TableEvaluator (quality, privacy, utility against
//   the held-out rows, or training rows when eval_fraction is 0); it tracks
//   the best epoch by select_by and early stopping as the point trainer
//   does, over the epochs whose dcr_share is at most max_dcr_share when
//   that constraint is set. EpochReport.quality is the overall quality.
//
// Thread-safety: used by one thread at a time; Snapshot() returns an
// immutable object for any thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "core/report.h"
#include "core/snapshot.h"
#include "core/spec.h"
#include "core/status.h"
#include "core/table_eval.h"

namespace gantry {

class TableTrainer {
 public:
  // spec.dataset.kind must be kTable with its data loaded; Validate()s it.
  static StatusOr<std::unique_ptr<TableTrainer>> Create(const JobSpec& spec);
  // As Create with a given split instead of SplitTable's (benchmarks: the
  // same training and held-out rows as another program).
  static StatusOr<std::unique_ptr<TableTrainer>> CreateWithSplit(const JobSpec& spec, TableSplit split);
  ~TableTrainer();
  TableTrainer(const TableTrainer&) = delete;
  TableTrainer& operator=(const TableTrainer&) = delete;

  // As Trainer::RunEpoch.
  StatusOr<EpochReport> RunEpoch(const std::atomic<bool>* cancel = nullptr);
  int64_t epochs_done() const;
  bool finished() const;
  int64_t best_epoch() const;
  // The generator in evaluation form (batch norm folded into the linear
  // layers with its running statistics) with the codec.
  std::shared_ptr<const GeneratorSnapshot> Snapshot() const;
  StatusOr<std::string> SaveState() const;
  Status RestoreState(const std::string& bytes);

  // For benchmarks: the training rows' encoded width, the conditional
  // vector's width, and seconds spent building (split, codec fit, encode).
  int64_t encoded_width() const;
  int64_t cond_width() const;
  double preprocess_seconds() const;

 private:
  struct Impl;
  explicit TableTrainer(std::unique_ptr<Impl> impl);
  static StatusOr<std::unique_ptr<TableTrainer>> CreateImpl(const JobSpec& spec, std::optional<TableSplit> split);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry
