// JobSpec: everything that defines a training job, as plain C++ values.
//
// The defaults are the tutorial's seed program (tests/reference/seed_program.py): dataset `sine`
// with 1024 points, discriminator 2->256->128->64->1 (ReLU, dropout 0.3,
// sigmoid), generator 2->16->32->2 (ReLU), latent dimension 2, Adam with
// learning rate 0.001 and betas (0.9, 0.999), batch 32, 300 epochs, BCE loss,
// seed 111. Validate() checks every field; each rejection names the field,
// the value and the allowed range. The same spec and seed always train to the
// same numbers.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/table.h"

namespace gantry {

enum class DatasetKind {
  kSine,       // x uniform on [0, 2*pi], y = sin x (the seed program's data)
  kCircle,     // unit circle
  kRing8,      // 8 Gaussians on a circle of radius 2
  kGrid25,     // 5x5 Gaussians on {-4,-2,0,2,4}^2
  kTwoMoons,   // two interleaved half circles
  kSpiral,     // one arm of an Archimedean spiral
  kSwissRoll,  // the 2-D Swiss roll
  kUser,       // points supplied with the job (any dimension)
  kTable,      // an uploaded table (DatasetSpec::table): the CTGAN-class model
};

// "sine", "circle", "ring8", "grid25", "two_moons", "spiral", "swiss_roll", "user", "table":
// the names of core/api_limits.h (kDatasetKindNames), in this enum's order.
const char* DatasetKindName(DatasetKind kind);
std::optional<DatasetKind> ParseDatasetKind(const std::string& name);
// Noise used when DatasetSpec::noise is unset.
double DefaultNoise(DatasetKind kind);

// Which training loop runs a job (trainer.h). Every path gives the same
// bits; they differ only in speed.
enum class TrainerPath {
  kAuto,  // the fast path where it covers the job and passed its self-test
  kFast,  // the fast path, or INVALID_ARGUMENT when it cannot run this job
  kAten,  // LibTorch modules and autograd (the reference implementation)
};

// "auto", "fast", "aten".
const char* TrainerPathName(TrainerPath path);
std::optional<TrainerPath> ParseTrainerPath(const std::string& name);

// The game the two networks play (see JobSpec::loss).
enum class Loss {
  kBce,            // the seed program's: sigmoid D, binary cross-entropy (G: BCE against "real")
  kNonSaturating,  // the same objective on logits: softplus losses, no sigmoid
  kHinge,          // D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z)); no sigmoid
  kWganGp,         // critic: D(G(z)) - D(x) + gp_weight * (|grad D(x^)| - 1)^2; G: -D(G(z))
};

// "bce", "non_saturating", "hinge", "wgan_gp".
const char* LossName(Loss loss);
std::optional<Loss> ParseLoss(const std::string& name);

// A held-out quality metric (see core/metrics.h).
enum class Metric {
  kSlicedW1, kMmd, kPrecision, kRecall, kDensity, kCoverage,  // point clouds
  kColumnDistance, kQuality, kColumnShapes, kColumnPairs, kUtility, kDcrShare,  // tables
};

// "sliced_w1", "mmd", "precision", "recall", "density", "coverage"; for
// tables (core/table_eval.h) "column_distance", "quality", "column_shapes",
// "column_pairs", "utility" (needs a target) and "dcr_share".
const char* MetricName(Metric metric);
std::optional<Metric> ParseMetric(const std::string& name);
// True for the metrics where a larger value is better (all but sliced_w1,
// mmd, column_distance and dcr_share).
bool HigherIsBetter(Metric metric);
// True for the table metrics.
bool IsTableMetric(Metric metric);

// kTable: where the rows come from. The server reads the uploaded table
// (table_id) with the overrides into `data` before the job is validated
// and trained; core never reads the store.
struct TableSpec {
  std::string table_id;
  std::map<std::string, ColumnType> overrides;  // by column name
  std::shared_ptr<const Table> data;            // the parsed table (immutable)
};

struct DatasetSpec {
  DatasetKind kind = DatasetKind::kSine;
  // Number of points to draw for built-in kinds, 2..kMaxDatasetPoints.
  // Ignored for kUser (the row count of `points` is the size).
  int64_t size = 1024;
  // Standard deviation of the Gaussian noise for built-in kinds, 0..10.
  // Unset: DefaultNoise(kind) (0 for sine, so the seed data stays exact).
  std::optional<double> noise;
  // kUser only: the dimension of each point (1..64) and the points themselves,
  // row-major, rows * dim floats, every value finite, at least 2 rows.
  int64_t dim = 0;
  std::vector<float> points;
  // kUser only, optional: a name per dimension (a CSV file's header), empty
  // or exactly dim distinct names of 1..kMaxColumnName characters.
  std::vector<std::string> columns;
  TableSpec table;  // kTable only
};

struct JobSpec {
  DatasetSpec dataset;
  int64_t latent_dim = 2;                                // 1..64
  std::vector<int64_t> generator_hidden = {16, 32};      // 0..16 layers, each 1..4096
  std::vector<int64_t> discriminator_hidden = {256, 128, 64};
  double dropout = 0.3;         // discriminator dropout, [0, 1)
  double learning_rate = 0.001; // Adam, both networks; finite, (0, 10]
  double beta1 = 0.9;           // [0, 1)
  double beta2 = 0.999;         // [0, 1)
  int64_t batch_size = 32;      // 1..dataset rows
  int64_t epochs = 300;         // 1..100000
  uint64_t seed = 111;          // any
  int64_t preview_points = 64;  // generated points in each epoch report, 0..4096
  int64_t checkpoint_every = 10;  // epochs between checkpoints, 1..100000
  TrainerPath trainer_path = TrainerPath::kAuto;  // speed only: results are identical

  // The loss. kBce with no spectral norm is the seed program (and the only
  // loss the fast path covers); the others train on the ATen path.
  Loss loss = Loss::kBce;
  double gp_weight = 10;          // kWganGp's gradient-penalty weight, [0, 1000]
  // Discriminator steps per generator step, 1..100; unset: NCritic()'s default.
  std::optional<int64_t> n_critic;
  bool spectral_norm = false;     // spectral normalisation of D's linear layers

  // Held-out evaluation (core/metrics.h), every eval_every epochs and after
  // the last; it never draws from the training generator.
  int64_t eval_every = 10;        // 1..kMaxEpochs
  double eval_fraction = 0;       // kUser only: rows held out, [0, 0.5]; 0 = evaluate on the training set
  int64_t eval_points = 512;      // generated points per evaluation, 16..10000
  Metric select_by = Metric::kSlicedW1;  // picks the best epoch and drives early stopping
  int64_t patience = 0;           // epochs without an improvement >= min_delta before stopping; 0 = off
  double min_delta = 0;           // [0, 1e6]
  // A job whose losses become non-finite: false ends it FAILED (the
  // server does, naming the epoch), true keeps it training. The
  // non_finite alarm (core/alarms.h) is raised either way.
  bool continue_on_non_finite = false;

  // Table jobs (kTable) only; TableDefaults() gives CTGAN's values for the
  // fields above.
  double weight_decay = 1e-6;     // Adam's L2 weight decay, [0, 1]
  int64_t pac = 10;               // rows per discriminator input, 1..64; batch_size is a multiple
  int64_t max_modes = 10;         // Gaussian-mixture modes per numeric column, 1..32
  // A column to predict (core/table_eval.h): stratifies the held-out split
  // (categorical and boolean targets) and adds utility to each evaluation.
  std::string target;             // empty: none
  // The privacy constraint: the best epoch and early stopping consider only
  // evaluated epochs whose dcr_share is at most this; 0 = off, else (0, 1].
  double max_dcr_share = 0;

  // Where training starts and how it changes, for the server (the Trainer
  // ignores these; core/spec_params.h applies them): another job's kept
  // checkpoint of epoch init_epoch (1..epochs-1), keeping the last epoch's
  // checkpoint when the job succeeds, and hyper-parameter changes by epoch.
  std::string init_job_id;  // empty: from scratch
  int64_t init_epoch = 0;
  bool keep_checkpoint = false;
  struct Change {
    int64_t after_epoch = 0;                     // 1..epochs-1, ascending
    std::map<std::string, std::string> params;   // mutable parameters (IsMutableParam)
  };
  std::vector<Change> schedule;
};

// A spec for a table job with CTGAN's defaults: latent_dim 128, generator
// and discriminator (256, 256), Adam lr 2e-4, betas (0.5, 0.9), weight
// decay 1e-6, batch 500, dropout 0.5, wgan_gp (weight 10, n_critic 1), pac
// 10, 300 epochs, 10 modes; evaluation: 20% of the rows held out (at most
// kMaxTableHeldOut), 1000 generated rows, select_by quality.
JobSpec TableDefaults();
inline constexpr int64_t kMaxTableHeldOut = 10'000;
inline constexpr int64_t kMaxUtilityClasses = 50;  // levels of a categorical target
inline constexpr int64_t kMinPrivacyRows = 10;      // held-out rows max_dcr_share needs
inline constexpr int64_t kMaxPac = 64;
inline constexpr int64_t kMaxModes = 32;
inline constexpr int64_t kMaxTableBatch = 100'000;

inline constexpr int64_t kMaxEpochs = 100000;
inline constexpr int64_t kMaxDim = 64;
inline constexpr int64_t kMaxHiddenLayers = 16;
inline constexpr int64_t kMaxHiddenSize = 4096;
inline constexpr int64_t kMaxDatasetPoints = 10'000'000;
inline constexpr int64_t kMaxPreviewPoints = 4096;
inline constexpr int64_t kMinEvalPoints = 16;
inline constexpr int64_t kMaxEvalPoints = 10000;
inline constexpr int64_t kMaxNCritic = 100;
inline constexpr int64_t kMaxColumnName = 64;

// The number of rows in the training set described by `d`.
int64_t DatasetRows(const DatasetSpec& d);
// The dimension of each data point (2 for built-in kinds).
int64_t DataDim(const DatasetSpec& d);
// Rows held out for evaluation (user data with eval_fraction > 0: the
// floor of rows * eval_fraction; else 0), and the rows left to train on.
int64_t HeldOutRows(const JobSpec& spec);
int64_t TrainingRows(const JobSpec& spec);
// spec.n_critic, or its default: 5 for kWganGp, else 1.
int64_t NCritic(const JobSpec& spec);
// True when the job trains exactly as the seed program does: kBce, one
// discriminator step per generator step, no spectral norm.
bool IsSeedGame(const JobSpec& spec);

// OK, or INVALID_ARGUMENT naming the first bad field, its value and the
// allowed range, e.g. "batch_size: 0 is out of range 1..1024 (dataset rows)".
Status Validate(const JobSpec& spec);

}  // namespace gantry
