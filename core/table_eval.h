// TableEvaluator: the evidence a table job's rows are good, useful and
// private, measured against real rows the training never saw.
//
// The split (SplitTable): a permutation of the table's rows from
// DeriveSeed(seed, kEval, 0); HeldOutRows(spec) of them are held out.
// Without a target (or with a numeric one) the first HeldOutRows() of the
// permutation are held out. With a categorical or boolean target the split
// is stratified: the permutation is stably sorted by the target's level
// (missing last) and every row at which floor(i * held / n) steps is held
// out, so each level keeps its share of the rows to within one.
//
// Quality follows SDMetrics' published definitions (sdv-dev/SDMetrics
// 0.29, docs.sdv.dev/sdmetrics), computed on generated rows against the
// held-out rows (the training rows when eval_fraction is 0):
// - column shapes: KSComplement (1 - the two-sample Kolmogorov-Smirnov
//   statistic, missing values dropped) for continuous, integer and
//   datetime columns; TVComplement (1 - half the L1 distance of the level
//   frequencies, missing dropped) for categorical and boolean columns;
// - column pair trends: CorrelationSimilarity (1 - |r_real - r_synth| / 2,
//   Pearson's r on the rows where both are present) for two numeric
//   columns; ContingencySimilarity (1 - half the L1 distance of the joint
//   frequency tables, missing a value of its own) otherwise, a numeric
//   column discretised first as sdmetrics.utils.discretize_column does: the
//   10 equal-width bins np.histogram_bin_edges gives on the real values,
//   the outer ones open (codes 1..10; missing 11), the same edges for the
//   generated values (SDMetrics' QualityReport bins each side on its own
//   edges; one set of edges compares like with like). A pair whose score is
//   undefined (a constant column, no rows) is left out of the mean; with no
//   defined pair (one column) column_pairs is column_shapes;
// - missing values: MissingValueSimilarity, 1 - |missing share real -
//   missing share synthetic|;
// - coverage: RangeCoverage (numeric: the share of the real range the
//   generated values span, clipped to 0..1) and CategoryCoverage (the share
//   of real levels generated); adherence: BoundaryAdherence (the share of
//   present generated values inside the real min..max) and
//   CategoryAdherence (the share of generated values that are real levels;
//   generated rows can only hold the schema's levels, so this measures the
//   levels the real rows have); both over present generated values (SDMetrics
//   counts a generated missing cell as outside); a column whose generated
//   cells are all missing covers nothing (coverage 0);
// - the overall quality score: the mean of the column shapes score and the
//   column pair trends score, as SDMetrics' QualityReport defines it.
//
// Privacy: distance to closest record as SDMetrics' DCROverfittingProtection
// defines the distance (dcr_utils.py: per column |a - b| / range, at most 1,
// for numeric and datetime columns, 0/1 for categorical and boolean; both
// missing 0, one missing 1; the mean over columns), the ranges taken from the
// training rows. Departure: the training reference is a random subset of
// the training rows of the held-out's size (the training rows that come
// first in the split's permutation), so that a generator that does not
// memorise is as often closer to one as to the other (dcr_share about 0.5).
// At most kMaxDcrRows generated rows are measured, against at most
// kMaxDcrRows held-out rows (evenly spaced) and as many training rows. Figures: dcr_share (the
// share of generated rows strictly closer to the training reference than to
// every held-out row, a tie counting half: SDMetrics counts ties as closer
// to the held-out rows, which puts a generator that does not memorise a
// table of few levels, where ties are common, well below 0.5), exact_copies (the share of generated rows equal to
// any training row), dcr_p5 (the 5th percentile of generated rows'
// distances to the training reference) and holdout_dcr_p5 (the same for the
// held-out rows: what real, unseen rows look like). No held-out rows: no
// privacy figures.
//
// Utility (train on synthetic, test on real), when spec.target names a
// column: a categorical or boolean target trains a multinomial logistic
// regression (L2 1e-3, full-batch L-BFGS from zero weights, at most 100
// iterations and 300 loss evaluations), scored by macro F1 over the classes
// in the true or predicted labels (scikit-learn's f1_score average="macro"); a
// numeric one trains a ridge regression (L2 1e-3, closed form), scored by
// R^2. Features: the other columns, numeric ones standardised by the
// real training subset's mean and deviation with missing as 0 plus a
// missing flag, categorical ones one-hot (their kMaxUtilityLevels most
// frequent levels, the rest and missing in one more slot). Rows with a
// missing target are dropped; at most kMaxUtilityFeatures features (a
// column that would pass them is left out). The synthetic model trains on
// the evaluation's first generated rows, at most 2000; the real baseline on
// as many training rows (the first in the split's permutation), computed
// once; both are tested on the held-out rows. Deterministic: no random
// draws, one thread.
//
// Thread-safety: immutable after Create(); Evaluate() and Report() are
// const and may run on several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/report.h"
#include "core/spec.h"
#include "core/status.h"
#include "core/table.h"

namespace gantry {

inline constexpr int64_t kMaxDcrRows = 2000;
inline constexpr int64_t kMaxUtilityLevels = 50;
inline constexpr int kContingencyBins = 10;
inline constexpr int kReportBins = 20;          // numeric histogram bins in a report
inline constexpr int64_t kMaxReportLevels = 30;  // bars per categorical column in a report
inline constexpr int64_t kMaxReportLabelBytes = 64;  // longer level names are cut in a report
inline constexpr int64_t kMaxReportNameBytes = 200;  // and longer column names
inline constexpr int64_t kMaxUtilityFeatures = 512;

struct TableSplit {
  std::vector<int64_t> train;     // sorted row indices
  std::vector<int64_t> held_out;  // sorted
  // The training rows in the permutation's order (a random order): the DCR
  // reference and the utility baseline take their first rows.
  std::vector<int64_t> train_order;
};

// The split of `table` described above (spec: seed, eval_fraction, target).
StatusOr<TableSplit> SplitTable(const Table& table, const JobSpec& spec);

// One column of a report.
struct ColumnReport {
  std::string name;
  ColumnType type = ColumnType::kContinuous;
  std::string shape_metric;   // "KSComplement" or "TVComplement"
  double shape = 0;           // NaN when undefined (no present values on a side)
  double missing_real = 0;    // shares of missing cells
  double missing_synthetic = 0;
  double coverage = 0;        // RangeCoverage or CategoryCoverage
  double adherence = 0;       // BoundaryAdherence or CategoryAdherence
  // The distribution drawn in a report: numeric columns kReportBins
  // equal-width bins over the real min..max (edges has bins + 1 values, in
  // the column's own units: days since 1970 for datetime), categorical ones
  // their most frequent real levels (labels, cut to kMaxReportLabelBytes),
  // at most kMaxReportLevels, then
  // "(other)" when levels were left out; both end with "(missing)" when
  // either side has missing cells. Frequencies are shares of all rows.
  std::vector<double> edges;
  std::vector<std::string> labels;
  std::vector<double> real;
  std::vector<double> synthetic;
};

// One pair of columns (a < b).
struct PairReport {
  int a = 0, b = 0;
  std::string metric;      // "CorrelationSimilarity" or "ContingencySimilarity"
  double score = 0;        // NaN when undefined
  // For the heatmaps: Pearson's r for numeric pairs, Cramer's V (0..1) of
  // the (discretised) contingency table otherwise; NaN when undefined.
  double real = 0;
  double synthetic = 0;
};

struct PrivacyReport {
  double dcr_share = 0;
  double exact_copies = 0;
  double dcr_p5 = 0;
  double holdout_dcr_p5 = 0;
  double holdout_exact_copies = 0;  // the share of held-out rows equal to a training row
  int64_t reference_rows = 0;       // training reference rows = held-out rows compared
  int64_t synthetic_rows = 0;       // generated rows compared
  // "no sign of memorisation", "some rows are closer to the training data
  // than unseen rows are" or "the generator copies training rows", from
  // dcr_share (<= 0.55, <= 0.7, above) and exact copies beyond the held-out's.
  std::string verdict;
};

struct UtilityReport {
  std::string target;
  std::string task;           // "classification" or "regression"
  std::string score_name;     // "macro_f1" or "r2"
  double synthetic = 0;       // train on synthetic, test on real
  double real = 0;            // train on real, test on real
  double synthetic_accuracy = 0;  // classification only
  double real_accuracy = 0;
  int64_t train_rows = 0;     // rows each model trained on
  int64_t test_rows = 0;
};

struct TableReport {
  EvalMetrics metrics;        // the same figures Evaluate() gives
  std::vector<ColumnReport> columns;
  std::vector<PairReport> pairs;  // every pair, in (a, b) order
  std::optional<PrivacyReport> privacy;  // absent without held-out rows
  std::optional<UtilityReport> utility;  // absent without a target
  int64_t real_rows = 0;      // the real rows compared against
  int64_t synthetic_rows = 0;
};

class TableEvaluator {
 public:
  // `table` holds every row; the split, the real side's statistics and the
  // utility baseline are computed here (once per job).
  static StatusOr<std::unique_ptr<TableEvaluator>> Create(std::shared_ptr<const Table> table,
                                                           const JobSpec& spec);
  // As Create with a given split (benchmarks: every program on the same
  // rows). The split's indices must be distinct rows of `table`.
  static StatusOr<std::unique_ptr<TableEvaluator>> CreateWithSplit(std::shared_ptr<const Table> table,
                                                                    const JobSpec& spec, TableSplit split);
  ~TableEvaluator();
  TableEvaluator(const TableEvaluator&) = delete;
  TableEvaluator& operator=(const TableEvaluator&) = delete;

  const TableSplit& split() const;
  // The real rows quality is measured against (column-major, Table::values
  // encodings).
  const std::vector<std::vector<double>>& real_values() const;

  // Every figure of EvalMetrics' table part for `generated` (column-major,
  // one vector per schema column, all the same length >= 1, each value a
  // valid Table::values encoding: a level index below the column's level
  // count, or NaN; what TableRowStream and ParseCell give).
  EvalMetrics Evaluate(const std::vector<std::vector<double>>& generated) const;
  // The same figures with what a report draws.
  TableReport Report(const std::vector<std::vector<double>>& generated) const;

 private:
  struct Impl;
  explicit TableEvaluator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry
