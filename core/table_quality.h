// The table quality figure that picks a table job's best epoch: the mean
// over columns of a per-column distance between generated and real rows,
// 0 (the same marginals) .. 1, lower is better.
// - continuous, integer, datetime: the two-sample Kolmogorov-Smirnov
//   statistic on the present values (1 when one side has values and the
//   other none), then weighted with the missing rates: d = (1 - |m_a - m_b|)
//   * ks + |m_a - m_b| where m is each side's share of missing cells;
// - categorical, boolean: the total variation distance of the level
//   frequencies, missing counting as a level of its own.
// (SDMetrics' KSComplement and TVComplement are 1 minus these.)
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "core/table.h"

namespace gantry {

// The two-sample Kolmogorov-Smirnov statistic of two sorted, non-empty
// samples (ties handled: the ECDFs are compared after each distinct value).
double KsSorted(const std::vector<double>& a, const std::vector<double>& b);

// Column c's distance between `a` and `b` (Table::values encodings; NaN is
// missing).
double ColumnDistance(const ColumnSchema& column, const std::vector<double>& a,
                      const std::vector<double>& b);

// The mean of ColumnDistance over the schema's columns; a[c] and b[c] hold
// column c's values.
double MeanColumnDistance(const TableSchema& schema, const std::vector<std::vector<double>>& a,
                          const std::vector<std::vector<double>>& b);

}  // namespace gantry
