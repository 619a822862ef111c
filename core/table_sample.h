// Rows from a table generator (GeneratorSnapshot::table()), optionally
// meeting conditions.
//
// Candidate rows come in blocks of kSampleBlock: block b draws, from a
// generator seeded with DeriveSeed(seed, kSample, b), the latent noise
// (randn [kSampleBlock, latent_dim]), then the conditional vector (without
// a categorical condition: a discrete column uniformly and its category by
// the training rows' frequencies, randint then one uniform per row; with
// one: that category in every row, no draw), then the codec's uniforms as
// it decodes (TableCodec::Decode: per softmax group, [rows, spans]). Rows that meet every condition are kept, in order. So the
// same snapshot, seed and conditions always give the same rows, and
// without conditions row i is candidate i (any range can start anywhere).
//
// Conditions: `column = value` (a level, a number, a date as the column
// writes it; empty or NA: a missing cell) or `column = LO..HI` (numeric and
// datetime columns, inclusive). The first condition on a categorical or
// boolean column steers the conditional vector, as CTGAN's
// condition_column does; every condition is then enforced by rejection,
// within a budget of candidates (kRejectionFactor per requested row plus
// 16 blocks, at most kMaxCandidates).
//
// Thread-safety: a TableRowStream is used by one thread at a time; many
// streams may share a snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/snapshot.h"
#include "core/status.h"
#include "core/table.h"

namespace gantry {

inline constexpr int64_t kRejectionFactor = 200;
inline constexpr int64_t kMaxCandidates = 4'000'000;

struct RowCondition {
  int column = 0;
  bool missing = false;  // the cell is missing
  double lo = 0, hi = 0; // the Table::values encoding, inclusive (lo == hi: equality)
};

// Reads `column=value` pairs against `schema`. INVALID_ARGUMENT naming the
// column for an unknown column, a value the column never had (a level not
// seen, a number outside the column's range), a range on a categorical
// column, or two conditions on one column.
StatusOr<std::vector<RowCondition>> ParseConditions(
    const TableSchema& schema, const std::vector<std::pair<std::string, std::string>>& where);

class TableRowStream {
 public:
  // `snapshot` must be a table generator. `offset`: rows to skip first.
  // `total`: the rows the caller will ask for in all (sizes the budget).
  TableRowStream(std::shared_ptr<const GeneratorSnapshot> snapshot, uint64_t seed,
                 std::vector<RowCondition> where, int64_t offset, int64_t total);

  // Appends the next `n` rows to (*columns)[c] for each column c (resized
  // to the schema's columns). FAILED_PRECONDITION when the budget ran out
  // first, saying how many rows met the conditions among how many
  // candidates; the rows found so far are appended.
  Status Next(int64_t n, std::vector<std::vector<double>>* columns);

 private:
  void NextBlock();

  std::shared_ptr<const GeneratorSnapshot> snapshot_;
  uint64_t seed_;
  std::vector<RowCondition> where_;
  int64_t budget_;
  int64_t candidates_ = 0;  // drawn so far
  int64_t accepted_ = 0;
  int64_t block_ = 0;
  int64_t skip_ = 0;        // rows still to skip
  int steer_ = -1;          // the condition that sets the conditional vector
  std::vector<std::vector<double>> pending_;  // accepted rows of the current block
  size_t pending_at_ = 0;
  at::Tensor work_, out_;  // the network's buffers, reused block after block within a Next()
};

// The values of `columns` (TableRowStream's output) for one column, as the
// CSV would write them.
std::vector<std::string> FormatColumn(const ColumnSchema& column, const std::vector<double>& values);

}  // namespace gantry
