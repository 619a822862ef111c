// TableCodec: CTGAN's data transformer, fitted deterministically.
//
// Each column becomes spans of the encoded row (Xu et al. 2019, section 4.2):
// - continuous, integer and datetime columns: mode-specific normalisation. A
//   Gaussian mixture (at most max_modes modes; EM from quantile starts, no
//   randomness; modes below 0.5% weight dropped, as CTGAN's weight_threshold)
//   gives a one-hot mode and a scalar (x - mean_k) / (4 std_k) clipped to
//   [-0.99, 0.99]; the mode of a row is drawn from its posterior. A column
//   with missing cells gets a two-way one-hot [present, missing] too.
// - categorical and boolean columns: a one-hot of the levels, plus one for
//   "missing" when the column has missing cells. These are the conditional
//   vector's columns (training-by-sampling, log-frequency).
//
// Decoding takes the generator's raw output: tanh for scalars, a category
// drawn from each one-hot span's softmax (the argmax of a Gumbel-softmax, as
// CTGAN samples), then the inverse of the normalisation; integers are
// rounded, every numeric value is clipped to the column's range.
//
// Thread-safety: immutable after Fit or Load; every const method may be
// called from many threads at once.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/table.h"

namespace gantry {

// The encoded row's layout: every numeric column's scalar first (one tanh
// span), then the one-hot spans grouped by width, each group `count`
// adjacent spans of `dim` entries (so that one softmax over a [rows, count,
// dim] view activates a whole group). Within a group the discrete columns'
// spans come last, in column order.
struct Span {
  int64_t start = 0;
  int64_t dim = 0;       // entries of one span
  int64_t count = 1;     // adjacent spans of this width (softmax groups)
  bool softmax = false;  // else tanh over `dim` scalars
};

// How one column is encoded.
struct ColumnCode {
  bool numeric = false;  // continuous, integer, datetime
  // numeric: the kept modes, the scalar's position, the modes' span, and
  // the [present, missing] span (-1: no missing cell in training).
  std::vector<double> means, stds;
  int64_t scalar_at = -1, modes_at = -1, missing_at = -1;
  double fill = 0;  // encodes a missing cell's scalar and mode (the mean)
  // discrete: the one-hot's start and width (levels, plus 1 for missing as
  // the last category when has_missing), and its start in the cond vector.
  int64_t onehot_at = -1, categories = 0, cond_at = -1;
  bool has_missing = false;
  // discrete: each category's share of the training rows (sampling draws
  // conditional vectors from these), and its row count.
  std::vector<double> freq;
  std::vector<int64_t> counts;
};

class TableCodec {
 public:
  // Fits the codec on `rows` of `table` (all rows when empty).
  static StatusOr<std::shared_ptr<const TableCodec>> Fit(const Table& table,
                                                         const std::vector<int64_t>& rows,
                                                         int64_t max_modes);

  const TableSchema& schema() const { return schema_; }
  const std::vector<ColumnCode>& codes() const { return codes_; }
  // The tanh span (possibly empty), then the softmax groups, in order.
  const std::vector<Span>& spans() const { return spans_; }
  // Softmax groups holding discrete columns: for group g, the discrete
  // columns (indices into discrete()) of its last spans, in order.
  struct DiscreteGroup {
    int64_t start = 0;  // of the first discrete span in the group
    int64_t dim = 0;
    std::vector<int> columns;  // indices into discrete()
  };
  const std::vector<DiscreteGroup>& discrete_groups() const { return discrete_groups_; }
  int64_t width() const { return width_; }        // the encoded row's width
  int64_t cond_width() const { return cond_width_; }
  // Indices (into schema().columns) of the discrete columns, in order.
  const std::vector<int>& discrete() const { return discrete_; }

  // Encodes `rows` of `table` as [rows.size(), width()] floats, drawing each
  // numeric cell's mode from `gen` (one uniform per numeric column and row,
  // column by column).
  at::Tensor Encode(const Table& table, const std::vector<int64_t>& rows, at::Generator& gen) const;

  // Decodes raw generator outputs [n, width()] into Table-encoded values
  // (values[c] has n entries). Each one-hot span's category is drawn from
  // the softmax of its logits (what CTGAN's argmax of a Gumbel-softmax
  // draws) by inverse CDF: per softmax group (spans()), in order, one
  // rand({n, count}) from `gen`, row-major (row, then span in the group).
  std::vector<std::vector<double>> Decode(const at::Tensor& raw, at::Generator& gen) const;

  // Serialised as named tensors (prefix "codec.") plus the schema's text.
  void Save(std::map<std::string, at::Tensor>* out) const;
  static StatusOr<std::shared_ptr<const TableCodec>> Load(const std::map<std::string, at::Tensor>& in);

 private:
  void Layout();

  TableSchema schema_;
  std::vector<ColumnCode> codes_;
  std::vector<Span> spans_;
  std::vector<int> discrete_;
  std::vector<DiscreteGroup> discrete_groups_;
  int64_t width_ = 0;
  int64_t cond_width_ = 0;
};

// A 1-D Gaussian mixture by EM: at most `max_modes` modes (fewer for fewer
// distinct values), modes under `min_weight` dropped, sorted by mean.
// Deterministic: the starts are quantiles. Exposed for tests.
struct Mixture {
  std::vector<double> weights, means, stds;
};
Mixture FitMixture(const std::vector<double>& values, int64_t max_modes, double min_weight = 0.005);

// The schema as text and back (for snapshots and checkpoints; a line per
// column, fields tab-separated, levels escaped).
std::string SchemaToText(const TableSchema& schema);
StatusOr<TableSchema> SchemaFromText(const std::string& text);

}  // namespace gantry
