#include "core/table_quality.h"

#include <algorithm>
#include <cmath>

namespace gantry {

double KsSorted(const std::vector<double>& a, const std::vector<double>& b) {
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  size_t i = 0, j = 0;
  double d = 0;
  while (i < a.size() && j < b.size()) {
    const double x = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    d = std::max(d, std::fabs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
  }
  return d;
}

namespace {

double KsStatistic(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return KsSorted(a, b);
}

}  // namespace

double ColumnDistance(const ColumnSchema& column, const std::vector<double>& a,
                      const std::vector<double>& b) {
  if (a.empty() || b.empty()) return a.empty() == b.empty() ? 0 : 1;
  if (column.type == ColumnType::kCategorical || column.type == ColumnType::kBoolean) {
    const size_t levels = column.levels.size();
    std::vector<double> pa(levels + 1, 0), pb(levels + 1, 0);
    auto count = [&](const std::vector<double>& v, std::vector<double>& p) {
      for (double x : v) {
        const size_t k = std::isnan(x) || x < 0 || x >= static_cast<double>(levels)
                             ? levels
                             : static_cast<size_t>(x);
        p[k] += 1.0 / static_cast<double>(v.size());
      }
    };
    count(a, pa);
    count(b, pb);
    double tv = 0;
    for (size_t k = 0; k <= levels; ++k) tv += std::fabs(pa[k] - pb[k]);
    return 0.5 * tv;
  }
  std::vector<double> xa, xb;
  for (double x : a) {
    if (!std::isnan(x)) xa.push_back(x);
  }
  for (double x : b) {
    if (!std::isnan(x)) xb.push_back(x);
  }
  const double ma = 1 - static_cast<double>(xa.size()) / static_cast<double>(a.size());
  const double mb = 1 - static_cast<double>(xb.size()) / static_cast<double>(b.size());
  const double dm = std::fabs(ma - mb);
  double ks;
  if (xa.empty() || xb.empty()) {
    ks = xa.empty() == xb.empty() ? 0 : 1;
  } else {
    ks = KsStatistic(std::move(xa), std::move(xb));
  }
  return (1 - dm) * ks + dm;
}

double MeanColumnDistance(const TableSchema& schema, const std::vector<std::vector<double>>& a,
                          const std::vector<std::vector<double>>& b) {
  if (schema.columns.empty()) return 0;
  double sum = 0;
  for (size_t c = 0; c < schema.columns.size(); ++c) sum += ColumnDistance(schema.columns[c], a[c], b[c]);
  return sum / static_cast<double>(schema.columns.size());
}

}  // namespace gantry
