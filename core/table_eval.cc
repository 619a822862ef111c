#include "core/table_eval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#include "core/random.h"
#include "core/table_quality.h"

namespace gantry {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMaxPairColumns = 60;     // pair trends over the first 60 columns
constexpr int64_t kMaxUtilityRows = 2000;   // rows each utility model trains on
constexpr int kUtilityIterations = 100;
constexpr double kUtilityL2 = 1e-3;

bool Numeric(ColumnType t) {
  return t == ColumnType::kContinuous || t == ColumnType::kInteger || t == ColumnType::kDatetime;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  int64_t n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      s += x;
      ++n;
    }
  }
  return n == 0 ? kNaN : s / static_cast<double>(n);
}

// numpy's percentile with linear interpolation.
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

std::vector<double> Present(const std::vector<double>& v) {
  std::vector<double> out;
  out.reserve(v.size());
  for (double x : v) {
    if (!std::isnan(x)) out.push_back(x);
  }
  return out;
}

double MissingShare(const std::vector<double>& v) {
  if (v.empty()) return 0;
  int64_t m = 0;
  for (double x : v) m += std::isnan(x) ? 1 : 0;
  return static_cast<double>(m) / static_cast<double>(v.size());
}

// Pearson's r over rows where both are present; NaN when fewer than 2 such
// rows or a constant column.
double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0;
  int64_t n = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    sx += x[i];
    sy += y[i];
    ++n;
  }
  if (n < 2) return kNaN;
  const double mx = sx / static_cast<double>(n), my = sy / static_cast<double>(n);
  double cxy = 0, cxx = 0, cyy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    const double dx = x[i] - mx, dy = y[i] - my;
    cxy += dx * dy;
    cxx += dx * dx;
    cyy += dy * dy;
  }
  if (cxx == 0 || cyy == 0) return kNaN;
  return std::clamp(cxy / std::sqrt(cxx * cyy), -1.0, 1.0);
}

// A 64-bit hash of a row's values (NaN canonical).
uint64_t RowHash(const std::vector<std::vector<double>>& cols, size_t r) {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (const auto& col : cols) {
    double v = col[r];
    uint64_t bits = 0;
    if (std::isnan(v)) {
      bits = 0x7ff8000000000001ULL;
    } else {
      if (v == 0) v = 0;  // -0 and 0 alike
      std::memcpy(&bits, &v, sizeof bits);
    }
    h ^= bits + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
  }
  return h;
}

// A level's spelling for a report, at most kMaxReportLabelBytes (cut on a
// UTF-8 boundary, "..." appended), so a report's size stays bounded.
std::string ShortLabel(const std::string& s, int64_t max_bytes = kMaxReportLabelBytes) {
  if (s.size() <= static_cast<size_t>(max_bytes)) return s;
  size_t cut = static_cast<size_t>(max_bytes) - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

// The real side of one column.
struct RealColumn {
  bool numeric = false;
  int levels = 0;                 // categorical/boolean
  std::vector<double> sorted;     // numeric: present values, sorted
  double missing = 0;
  double min = 0, max = 0;        // numeric, present values
  bool any_present = false;
  std::vector<double> level_share;  // categorical: share of present values per level
  std::vector<int64_t> level_order;  // levels by descending real count (report)
  std::vector<double> edges;      // contingency bins (numpy's 10 equal-width edges; see Digitize)
  int codes = 0;                  // discrete codes for contingency
  std::vector<int32_t> real_codes;  // per real row (pair columns only)
};

// sdmetrics.utils.discretize_column: the real values' 10 equal-width bins
// with the outer edges opened to -inf and +inf, then np.digitize: codes
// 1..10, every value below the second edge 1, every value at or above the
// tenth 10; missing 11.
int Digitize(const std::vector<double>& edges, double v) {
  if (std::isnan(v)) return static_cast<int>(edges.size());
  const auto inner = std::upper_bound(edges.begin() + 1, edges.end() - 1, v) - edges.begin();
  return static_cast<int>(inner);
}

int Code(const RealColumn& rc, double v) {
  if (rc.numeric) return Digitize(rc.edges, v);
  return std::isnan(v) ? rc.levels : static_cast<int>(v);
}

// Distance to closest record (SDMetrics' dcr_utils.py), over rows stored
// column by column. Per column: numeric |a - b| / range at most 1 (range 0:
// 0 when equal, else 1), categorical 0 when equal; both missing 0, one
// missing 1. Written without branches so that the loop over rows vectorises:
// a NaN difference fails `d < 1` and counts 1.
struct DcrColumn {
  bool numeric = false;
  double inv_range = 0;  // 1 / range; a huge number for a constant column
};

struct DcrRows {
  std::vector<std::vector<double>> cols;          // column-major values
  std::vector<std::vector<unsigned char>> missing;  // per column, 1 = missing
  size_t rows = 0;
};

DcrRows MakeDcrRows(const std::vector<std::vector<double>>& values, const std::vector<int64_t>& rows) {
  DcrRows out;
  out.rows = rows.size();
  out.cols.resize(values.size());
  out.missing.resize(values.size());
  for (size_t c = 0; c < values.size(); ++c) {
    out.cols[c].reserve(rows.size());
    out.missing[c].reserve(rows.size());
    for (int64_t r : rows) {
      const double v = values[c][static_cast<size_t>(r)];
      out.cols[c].push_back(v);
      out.missing[c].push_back(std::isnan(v) ? 1 : 0);
    }
  }
  return out;
}

// The smallest mean distance from row `q` (one value per column) to the rows
// of `ref`; `acc` is scratch space.
double Closest(const std::vector<DcrColumn>& dc, const double* q, const DcrRows& ref, std::vector<double>* acc) {
  const size_t n = ref.rows;
  if (n == 0) return std::numeric_limits<double>::infinity();
  acc->assign(n, 0.0);
  double* a = acc->data();
  for (size_t c = 0; c < dc.size(); ++c) {
    const double* x = ref.cols[c].data();
    const unsigned char* miss = ref.missing[c].data();
    const double v = q[c];
    if (std::isnan(v)) {
      for (size_t r = 0; r < n; ++r) a[r] += miss[r] ? 0.0 : 1.0;
    } else if (dc[c].numeric) {
      const double k = dc[c].inv_range;
      for (size_t r = 0; r < n; ++r) {
        const double d = std::fabs(v - x[r]) * k;
        a[r] += d < 1.0 ? d : 1.0;
      }
    } else {
      for (size_t r = 0; r < n; ++r) a[r] += x[r] == v ? 0.0 : 1.0;
    }
  }
  return *std::min_element(a, a + n) / static_cast<double>(dc.size());
}

// ---- Utility: features, L-BFGS, models ----

struct FeatureColumn {
  int column = 0;
  bool numeric = false;
  double mean = 0, scale = 1;
  bool missing_flag = false;
  std::vector<int> slot_of_level;  // categorical: level -> slot (the last slot: other and missing)
  int slots = 0;
};

// Minimises f with L-BFGS (memory 10) and a backtracking Armijo line
// search, from x, for `iterations` iterations. f returns the value and
// writes the gradient. Deterministic: plain loops.
void Lbfgs(const std::function<double(const std::vector<double>&, std::vector<double>*)>& f,
           std::vector<double>* x, int iterations) {
  const size_t n = x->size();
  constexpr size_t kMemory = 10;
  std::vector<std::vector<double>> s_hist, y_hist;
  std::vector<double> rho_hist;
  std::vector<double> g(n), g_new(n), d(n), x_new(n), alpha(kMemory);
  double fx = f(*x, &g);
  int evaluations = 1;
  for (int it = 0; it < iterations && evaluations < 3 * iterations; ++it) {
    // Two-loop recursion: d = -H g.
    d = g;
    const size_t m = s_hist.size();
    for (size_t i = m; i-- > 0;) {
      alpha[i] = rho_hist[i] * std::inner_product(s_hist[i].begin(), s_hist[i].end(), d.begin(), 0.0);
      for (size_t k = 0; k < n; ++k) d[k] -= alpha[i] * y_hist[i][k];
    }
    if (m > 0) {
      const double yy = std::inner_product(y_hist[m - 1].begin(), y_hist[m - 1].end(), y_hist[m - 1].begin(), 0.0);
      const double gamma = 1.0 / (rho_hist[m - 1] * yy);
      for (double& v : d) v *= gamma;
    }
    for (size_t i = 0; i < m; ++i) {
      const double beta = rho_hist[i] * std::inner_product(y_hist[i].begin(), y_hist[i].end(), d.begin(), 0.0);
      for (size_t k = 0; k < n; ++k) d[k] += s_hist[i][k] * (alpha[i] - beta);
    }
    for (double& v : d) v = -v;
    double slope = std::inner_product(g.begin(), g.end(), d.begin(), 0.0);
    if (!(slope < 0)) {  // not a descent direction: restart with steepest descent
      s_hist.clear();
      y_hist.clear();
      rho_hist.clear();
      for (size_t k = 0; k < n; ++k) d[k] = -g[k];
      slope = -std::inner_product(g.begin(), g.end(), g.begin(), 0.0);
      if (slope == 0) return;
    }
    double step = m == 0 ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0;
    double f_new = 0;
    bool accepted = false;
    for (int tries = 0; tries < 30; ++tries) {
      for (size_t k = 0; k < n; ++k) x_new[k] = (*x)[k] + step * d[k];
      f_new = f(x_new, &g_new);
      ++evaluations;
      if (std::isfinite(f_new) && f_new <= fx + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) return;
    std::vector<double> s(n), y(n);
    for (size_t k = 0; k < n; ++k) {
      s[k] = x_new[k] - (*x)[k];
      y[k] = g_new[k] - g[k];
    }
    const double sy = std::inner_product(s.begin(), s.end(), y.begin(), 0.0);
    if (sy > 1e-12) {
      if (s_hist.size() == kMemory) {
        s_hist.erase(s_hist.begin());
        y_hist.erase(y_hist.begin());
        rho_hist.erase(rho_hist.begin());
      }
      s_hist.push_back(std::move(s));
      y_hist.push_back(std::move(y));
      rho_hist.push_back(1.0 / sy);
    }
    const double change = fx - f_new;
    *x = x_new;
    g = g_new;
    fx = f_new;
    if (change <= 1e-10 * std::max(1.0, std::fabs(fx))) return;
  }
}

struct Dataset {
  std::vector<double> x;  // rows x features, row-major
  std::vector<double> y;  // class index or the (scaled) target
  int64_t rows = 0;
};

struct ModelScore {
  double score = kNaN;
  double accuracy = kNaN;
};

}  // namespace

struct TableEvaluator::Impl {
  std::shared_ptr<const Table> table;
  JobSpec spec;
  TableSplit split;
  std::vector<std::vector<double>> real;  // column-major real rows
  std::vector<RealColumn> rc;
  int pair_columns = 0;
  std::vector<std::pair<int, int>> pairs;
  std::vector<double> pair_real_r;        // numeric pairs: the real Pearson r
  // Privacy.
  bool privacy = false;
  std::vector<DcrColumn> dcr;
  DcrRows reference, held;
  std::vector<uint64_t> train_hashes;     // sorted
  double holdout_dcr_p5 = 0, holdout_copies = 0;
  // Utility.
  int target = -1;
  bool classification = false;
  int classes = 0;
  double y_mean = 0, y_scale = 1;
  std::vector<FeatureColumn> features;
  int64_t feature_count = 0;
  Dataset test;
  ModelScore real_score;
  int64_t utility_rows = 0;

  Status Build();
  Status BuildUtility();
  Dataset Features(const std::vector<std::vector<double>>& cols, const std::vector<int64_t>& rows) const;
  ModelScore FitAndScore(const Dataset& train) const;
  void Compute(const std::vector<std::vector<double>>& gen, TableReport* out, bool detail) const;
  std::string Verdict(const PrivacyReport& p) const;
};

StatusOr<TableSplit> SplitTable(const Table& table, const JobSpec& spec) {
  const int64_t n = table.rows();
  const int64_t held = HeldOutRows(spec);
  if (held < 0 || held >= n) return Status::InvalidArgument("eval_fraction: holds out every row");
  int target = -1;
  if (!spec.target.empty()) {
    target = table.schema.Find(spec.target);
    if (target < 0) return Status::InvalidArgument("target: the table has no column '" + spec.target + "'");
  }
  at::Generator gen = MakeCpuGenerator(DeriveSeed(spec.seed, RandomStream::kEval, 0));
  std::vector<int64_t> perm = RandPerm(n, gen);
  std::vector<char> is_held(static_cast<size_t>(n), 0);
  const ColumnType tt = target >= 0 ? table.schema.columns[static_cast<size_t>(target)].type : ColumnType::kContinuous;
  if (held > 0 && target >= 0 && (tt == ColumnType::kCategorical || tt == ColumnType::kBoolean)) {
    const std::vector<double>& v = table.values[static_cast<size_t>(target)];
    const auto level = [&](int64_t r) {
      const double x = v[static_cast<size_t>(r)];
      return std::isnan(x) ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(x);
    };
    std::vector<int64_t> by = perm;
    std::stable_sort(by.begin(), by.end(), [&](int64_t a, int64_t b) { return level(a) < level(b); });
    for (int64_t i = 0; i < n; ++i) {
      if ((i + 1) * held / n > i * held / n) is_held[static_cast<size_t>(by[static_cast<size_t>(i)])] = 1;
    }
  } else {
    for (int64_t i = 0; i < held; ++i) is_held[static_cast<size_t>(perm[static_cast<size_t>(i)])] = 1;
  }
  TableSplit s;
  for (int64_t r : perm) {
    if (!is_held[static_cast<size_t>(r)]) s.train_order.push_back(r);
  }
  for (int64_t r = 0; r < n; ++r) (is_held[static_cast<size_t>(r)] ? s.held_out : s.train).push_back(r);
  return s;
}

Status TableEvaluator::Impl::Build() {
  const Table& t = *table;
  const size_t cols = t.values.size();
  if (split.train.empty()) return Status::InvalidArgument("the split has no training rows");
  for (const auto* rows : {&split.train, &split.held_out, &split.train_order}) {
    for (int64_t r : *rows) {
      if (r < 0 || r >= t.rows()) return Status::InvalidArgument("the split names a row outside the table");
    }
  }
  // The real rows: the held-out ones, else up to kMaxTableHeldOut training
  // rows, evenly spaced (as the trainer has always evaluated).
  std::vector<int64_t> eval = split.held_out;
  if (eval.empty()) {
    const auto n = static_cast<int64_t>(split.train.size());
    const int64_t m = std::min(n, kMaxTableHeldOut);
    for (int64_t i = 0; i < m; ++i) eval.push_back(split.train[static_cast<size_t>(i * n / m)]);
  }
  real.assign(cols, {});
  for (size_t c = 0; c < cols; ++c) {
    real[c].reserve(eval.size());
    for (int64_t r : eval) real[c].push_back(t.values[c][static_cast<size_t>(r)]);
  }
  pair_columns = static_cast<int>(std::min<int64_t>(static_cast<int64_t>(cols), kMaxPairColumns));
  rc.resize(cols);
  for (size_t c = 0; c < cols; ++c) {
    const ColumnSchema& schema = t.schema.columns[c];
    RealColumn& k = rc[c];
    k.numeric = Numeric(schema.type);
    k.missing = MissingShare(real[c]);
    if (k.numeric) {
      k.sorted = Present(real[c]);
      std::sort(k.sorted.begin(), k.sorted.end());
      k.any_present = !k.sorted.empty();
      if (k.any_present) {
        k.min = k.sorted.front();
        k.max = k.sorted.back();
      }
      // np.histogram_bin_edges(values) with bins=10: equal width over
      // min..max, or min-0.5..max+0.5 for a constant column.
      double lo = k.min, hi = k.max;
      if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
      }
      for (int i = 0; i <= kContingencyBins; ++i) {
        k.edges.push_back(lo + (hi - lo) * static_cast<double>(i) / kContingencyBins);
      }
      k.codes = kContingencyBins + 2;
    } else {
      k.levels = static_cast<int>(schema.levels.size());
      k.level_share.assign(static_cast<size_t>(k.levels), 0.0);
      std::vector<int64_t> counts(static_cast<size_t>(k.levels), 0);
      int64_t present = 0;
      for (double x : real[c]) {
        if (std::isnan(x)) continue;
        ++counts[static_cast<size_t>(x)];
        ++present;
      }
      k.any_present = present > 0;
      for (int l = 0; l < k.levels; ++l) {
        if (present > 0) k.level_share[static_cast<size_t>(l)] = static_cast<double>(counts[static_cast<size_t>(l)]) / static_cast<double>(present);
      }
      k.level_order.resize(static_cast<size_t>(k.levels));
      std::iota(k.level_order.begin(), k.level_order.end(), 0);
      std::stable_sort(k.level_order.begin(), k.level_order.end(),
                       [&](int64_t a, int64_t b) { return counts[static_cast<size_t>(a)] > counts[static_cast<size_t>(b)]; });
      k.codes = k.levels + 1;
    }
    if (static_cast<int>(c) < pair_columns) {
      k.real_codes.reserve(real[c].size());
      for (double x : real[c]) k.real_codes.push_back(Code(k, x));
    }
  }
  for (int a = 0; a < pair_columns; ++a) {
    for (int b = a + 1; b < pair_columns; ++b) {
      pairs.emplace_back(a, b);
      const bool both = rc[static_cast<size_t>(a)].numeric && rc[static_cast<size_t>(b)].numeric;
      pair_real_r.push_back(both ? Pearson(real[static_cast<size_t>(a)], real[static_cast<size_t>(b)]) : kNaN);
    }
  }
  // Privacy: with held-out rows.
  if (!split.held_out.empty()) {
    privacy = true;
    dcr.resize(cols);
    for (size_t c = 0; c < cols; ++c) {
      dcr[c].numeric = rc[c].numeric;
      if (!dcr[c].numeric) continue;
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (int64_t r : split.train) {
        const double x = t.values[c][static_cast<size_t>(r)];
        if (std::isnan(x)) continue;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
      const double range = hi >= lo ? hi - lo : 0;
      dcr[c].inv_range = range > 0 ? 1.0 / range : 1e300;
    }
    // At most kMaxDcrRows held-out rows (evenly spaced) and as many training
    // rows (the first of the permutation).
    std::vector<int64_t> held_rows;
    const size_t hn = split.held_out.size();
    const size_t hm = std::min(hn, static_cast<size_t>(kMaxDcrRows));
    for (size_t i = 0; i < hm; ++i) held_rows.push_back(split.held_out[i * hn / hm]);
    const size_t ref_rows = std::min(held_rows.size(), split.train_order.size());
    const std::vector<int64_t> ref(split.train_order.begin(), split.train_order.begin() + static_cast<std::ptrdiff_t>(ref_rows));
    reference = MakeDcrRows(t.values, ref);
    held = MakeDcrRows(t.values, held_rows);
    std::vector<double> d, q(cols), acc;
    d.reserve(held_rows.size());
    for (size_t i = 0; i < held_rows.size(); ++i) {
      for (size_t c = 0; c < cols; ++c) q[c] = held.cols[c][i];
      d.push_back(Closest(dcr, q.data(), reference, &acc));
    }
    holdout_dcr_p5 = Percentile(d, 5);
    train_hashes.reserve(split.train.size());
    for (int64_t r : split.train) train_hashes.push_back(RowHash(t.values, static_cast<size_t>(r)));
    std::sort(train_hashes.begin(), train_hashes.end());
    int64_t copies = 0;
    for (int64_t r : split.held_out) {
      copies += std::binary_search(train_hashes.begin(), train_hashes.end(), RowHash(t.values, static_cast<size_t>(r))) ? 1 : 0;
    }
    holdout_copies = static_cast<double>(copies) / static_cast<double>(split.held_out.size());
  }
  if (!spec.target.empty()) {
    target = t.schema.Find(spec.target);
    if (target < 0) return Status::InvalidArgument("target: the table has no column '" + spec.target + "'");
    GANTRY_RETURN_IF_ERROR(BuildUtility());
  }
  return Status::Ok();
}

Status TableEvaluator::Impl::BuildUtility() {
  const Table& t = *table;
  const ColumnSchema& ts = t.schema.columns[static_cast<size_t>(target)];
  classification = !Numeric(ts.type);
  classes = classification ? static_cast<int>(ts.levels.size()) : 0;
  if (classes > kMaxUtilityClasses) {
    return Status::InvalidArgument("target: '" + ts.name + "' has " + std::to_string(classes) +
                                   " levels; utility predicts at most " + std::to_string(kMaxUtilityClasses));
  }
  utility_rows = std::min<int64_t>({spec.eval_points, kMaxUtilityRows, static_cast<int64_t>(split.train_order.size())});
  const std::vector<int64_t> fit(split.train_order.begin(), split.train_order.begin() + utility_rows);
  // Feature columns, from the real fitting rows.
  int64_t count = 0;
  for (size_t c = 0; c < t.values.size(); ++c) {
    if (static_cast<int>(c) == target) continue;
    const ColumnSchema& s = t.schema.columns[c];
    FeatureColumn f;
    f.column = static_cast<int>(c);
    f.numeric = Numeric(s.type);
    if (f.numeric) {
      double sum = 0, sq = 0;
      int64_t n = 0;
      for (int64_t r : fit) {
        const double x = t.values[c][static_cast<size_t>(r)];
        if (std::isnan(x)) continue;
        sum += x;
        ++n;
      }
      f.mean = n > 0 ? sum / static_cast<double>(n) : 0;
      for (int64_t r : fit) {
        const double x = t.values[c][static_cast<size_t>(r)];
        if (!std::isnan(x)) sq += (x - f.mean) * (x - f.mean);
      }
      const double sd = n > 1 ? std::sqrt(sq / static_cast<double>(n)) : 0;
      f.scale = sd > 0 ? sd : 1;
      f.missing_flag = s.missing > 0;
      f.slots = f.missing_flag ? 2 : 1;
    } else {
      std::vector<int64_t> counts(s.levels.size(), 0);
      for (int64_t r : fit) {
        const double x = t.values[c][static_cast<size_t>(r)];
        if (!std::isnan(x)) ++counts[static_cast<size_t>(x)];
      }
      std::vector<int> order(s.levels.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return counts[static_cast<size_t>(a)] > counts[static_cast<size_t>(b)]; });
      const int keep = static_cast<int>(std::min<int64_t>(static_cast<int64_t>(order.size()), kMaxUtilityLevels));
      f.slot_of_level.assign(s.levels.size(), keep);
      for (int i = 0; i < keep; ++i) f.slot_of_level[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
      f.slots = keep + 1;
    }
    if (count + f.slots > kMaxUtilityFeatures) continue;  // this column does not fit; smaller ones may
    count += f.slots;
    features.push_back(std::move(f));
  }
  feature_count = count;
  if (!classification) {
    double sum = 0, sq = 0;
    int64_t n = 0;
    for (int64_t r : fit) {
      const double y = t.values[static_cast<size_t>(target)][static_cast<size_t>(r)];
      if (std::isnan(y)) continue;
      sum += y;
      ++n;
    }
    y_mean = n > 0 ? sum / static_cast<double>(n) : 0;
    for (int64_t r : fit) {
      const double y = t.values[static_cast<size_t>(target)][static_cast<size_t>(r)];
      if (!std::isnan(y)) sq += (y - y_mean) * (y - y_mean);
    }
    const double sd = n > 1 ? std::sqrt(sq / static_cast<double>(n)) : 0;
    y_scale = sd > 0 ? sd : 1;
  }
  // The test rows: the held-out ones, else the evaluation's real rows.
  std::vector<int64_t> all(real[static_cast<size_t>(target)].size());
  std::iota(all.begin(), all.end(), 0);
  test = Features(real, all);
  real_score = FitAndScore(Features(t.values, fit));
  return Status::Ok();
}

Dataset TableEvaluator::Impl::Features(const std::vector<std::vector<double>>& cols,
                                        const std::vector<int64_t>& rows) const {
  Dataset d;
  const auto f = static_cast<size_t>(feature_count);
  for (int64_t r : rows) {
    const double y = cols[static_cast<size_t>(target)][static_cast<size_t>(r)];
    if (std::isnan(y)) continue;
    const size_t base = d.x.size();
    d.x.resize(base + f, 0.0);
    size_t slot = 0;
    for (const FeatureColumn& fc : features) {
      const double v = cols[static_cast<size_t>(fc.column)][static_cast<size_t>(r)];
      if (fc.numeric) {
        d.x[base + slot] = std::isnan(v) ? 0.0 : (v - fc.mean) / fc.scale;
        if (fc.missing_flag) d.x[base + slot + 1] = std::isnan(v) ? 1.0 : 0.0;
      } else {
        const int s = std::isnan(v) ? fc.slots - 1 : fc.slot_of_level[static_cast<size_t>(v)];
        d.x[base + slot + static_cast<size_t>(s)] = 1.0;
      }
      slot += static_cast<size_t>(fc.slots);
    }
    d.y.push_back(classification ? y : (y - y_mean) / y_scale);
    ++d.rows;
  }
  return d;
}

ModelScore TableEvaluator::Impl::FitAndScore(const Dataset& train) const {
  ModelScore out;
  if (train.rows == 0 || test.rows == 0) return out;
  const auto f = static_cast<size_t>(feature_count);
  const auto n = static_cast<size_t>(train.rows);
  if (classification) {
    const auto k = static_cast<size_t>(classes);
    // Parameters: W [f, k] then b [k]; loss: mean cross-entropy + L2/2 |W|^2.
    std::vector<double> p((f + 1) * k, 0.0);
    std::vector<double> logits(k), prob(k);
    auto loss = [&](const std::vector<double>& w, std::vector<double>* g) {
      std::fill(g->begin(), g->end(), 0.0);
      double total = 0;
      for (size_t i = 0; i < n; ++i) {
        const double* x = &train.x[i * f];
        for (size_t j = 0; j < k; ++j) logits[j] = w[f * k + j];
        for (size_t a = 0; a < f; ++a) {
          if (x[a] == 0) continue;
          const double* row = &w[a * k];
          for (size_t j = 0; j < k; ++j) logits[j] += x[a] * row[j];
        }
        const double mx = *std::max_element(logits.begin(), logits.end());
        double z = 0;
        for (size_t j = 0; j < k; ++j) z += (prob[j] = std::exp(logits[j] - mx));
        const auto y = static_cast<size_t>(train.y[i]);
        total += std::log(z) + mx - logits[y];
        for (size_t j = 0; j < k; ++j) prob[j] /= z;
        prob[y] -= 1.0;
        for (size_t a = 0; a < f; ++a) {
          if (x[a] == 0) continue;
          double* row = &(*g)[a * k];
          for (size_t j = 0; j < k; ++j) row[j] += x[a] * prob[j];
        }
        for (size_t j = 0; j < k; ++j) (*g)[f * k + j] += prob[j];
      }
      const double inv = 1.0 / static_cast<double>(n);
      double reg = 0;
      for (size_t i = 0; i < p.size(); ++i) {
        (*g)[i] *= inv;
        if (i < f * k) {
          (*g)[i] += kUtilityL2 * w[i];
          reg += w[i] * w[i];
        }
      }
      return total * inv + 0.5 * kUtilityL2 * reg;
    };
    Lbfgs(loss, &p, kUtilityIterations);
    // Predict the test rows; macro F1 over the classes that occur in the
    // true or the predicted labels (scikit-learn's f1_score(average="macro")).
    std::vector<int64_t> tp(k, 0), fp(k, 0), fn(k, 0);
    int64_t correct = 0;
    for (size_t i = 0; i < static_cast<size_t>(test.rows); ++i) {
      const double* x = &test.x[i * f];
      for (size_t j = 0; j < k; ++j) logits[j] = p[f * k + j];
      for (size_t a = 0; a < f; ++a) {
        if (x[a] == 0) continue;
        for (size_t j = 0; j < k; ++j) logits[j] += x[a] * p[a * k + j];
      }
      const auto pred = static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const auto y = static_cast<size_t>(test.y[i]);
      if (pred == y) {
        ++tp[y];
        ++correct;
      } else {
        ++fp[pred];
        ++fn[y];
      }
    }
    double f1 = 0;
    int used = 0;
    for (size_t j = 0; j < k; ++j) {
      if (tp[j] + fp[j] + fn[j] == 0) continue;
      ++used;
      f1 += 2.0 * static_cast<double>(tp[j]) / static_cast<double>(2 * tp[j] + fp[j] + fn[j]);
    }
    out.score = used > 0 ? f1 / used : kNaN;
    out.accuracy = static_cast<double>(correct) / static_cast<double>(test.rows);
    return out;
  }
  // Ridge regression: (X'X + L2 n I) w = X'y on centred features, the
  // intercept the centred mean; solved by Cholesky.
  std::vector<double> xm(f, 0.0);
  double ym = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t a = 0; a < f; ++a) xm[a] += train.x[i * f + a];
    ym += train.y[i];
  }
  for (double& v : xm) v /= static_cast<double>(n);
  ym /= static_cast<double>(n);
  std::vector<double> A(f * f, 0.0), b(f, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double* x = &train.x[i * f];
    const double dy = train.y[i] - ym;
    for (size_t a = 0; a < f; ++a) {
      const double da = x[a] - xm[a];
      if (da == 0) continue;
      b[a] += da * dy;
      for (size_t c = 0; c <= a; ++c) A[a * f + c] += da * (x[c] - xm[c]);
    }
  }
  for (size_t a = 0; a < f; ++a) A[a * f + a] += kUtilityL2 * static_cast<double>(n);
  // Cholesky: A = L L' (lower triangle in place).
  for (size_t j = 0; j < f; ++j) {
    double s = A[j * f + j];
    for (size_t c = 0; c < j; ++c) s -= A[j * f + c] * A[j * f + c];
    A[j * f + j] = std::sqrt(std::max(s, 1e-300));
    for (size_t i = j + 1; i < f; ++i) {
      double v = A[i * f + j];
      for (size_t c = 0; c < j; ++c) v -= A[i * f + c] * A[j * f + c];
      A[i * f + j] = v / A[j * f + j];
    }
  }
  std::vector<double> w(b);
  for (size_t i = 0; i < f; ++i) {
    for (size_t c = 0; c < i; ++c) w[i] -= A[i * f + c] * w[c];
    w[i] /= A[i * f + i];
  }
  for (size_t i = f; i-- > 0;) {
    for (size_t c = i + 1; c < f; ++c) w[i] -= A[c * f + i] * w[c];
    w[i] /= A[i * f + i];
  }
  double ss_res = 0, ss_tot = 0, tm = 0;
  for (size_t i = 0; i < static_cast<size_t>(test.rows); ++i) tm += test.y[i];
  tm /= static_cast<double>(test.rows);
  for (size_t i = 0; i < static_cast<size_t>(test.rows); ++i) {
    double pred = ym;
    for (size_t a = 0; a < f; ++a) pred += (test.x[i * f + a] - xm[a]) * w[a];
    ss_res += (test.y[i] - pred) * (test.y[i] - pred);
    ss_tot += (test.y[i] - tm) * (test.y[i] - tm);
  }
  out.score = ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
  return out;
}

std::string TableEvaluator::Impl::Verdict(const PrivacyReport& p) const {
  const bool copies = p.exact_copies > p.holdout_exact_copies + 0.01;
  if (p.dcr_share > 0.7 || (copies && p.dcr_share > 0.55)) {
    return "the generator copies training rows: generated rows are closer to the training rows than "
           "unseen real rows are";
  }
  if (p.dcr_share > 0.55 || copies) {
    return "some generated rows are closer to the training rows than unseen real rows are";
  }
  return "no sign of memorisation: generated rows are as close to unseen real rows as to the training rows";
}

void TableEvaluator::Impl::Compute(const std::vector<std::vector<double>>& gen, TableReport* out,
                                   bool detail) const {
  const Table& t = *table;
  const size_t cols = t.values.size();
  const size_t n = gen.empty() ? 0 : gen[0].size();
  EvalMetrics& m = out->metrics;
  if (gen.size() != cols || n == 0) return;  // not rows of this table (the contract says they are)
  for (const auto& g : gen) {
    if (g.size() != n) return;
  }
  out->real_rows = static_cast<int64_t>(real.empty() ? 0 : real[0].size());
  out->synthetic_rows = static_cast<int64_t>(n);
  m.column_distance = MeanColumnDistance(t.schema, gen, real);
  std::vector<double> shapes, missing, coverage, adherence;
  std::vector<std::vector<int32_t>> gen_codes(static_cast<size_t>(pair_columns));
  for (size_t c = 0; c < cols; ++c) {
    const ColumnSchema& schema = t.schema.columns[c];
    const RealColumn& k = rc[c];
    const std::vector<double>& g = gen[c];
    const double gm = MissingShare(g);
    missing.push_back(1.0 - std::fabs(k.missing - gm));
    double shape = kNaN, cov = kNaN, adh = kNaN;
    ColumnReport cr;
    if (k.numeric) {
      std::vector<double> gs = Present(g);
      std::sort(gs.begin(), gs.end());
      if (k.any_present && gs.empty() && k.max > k.min) cov = 0;  // nothing generated covers the range
      if (k.any_present && !gs.empty()) {
        shape = 1.0 - KsSorted(k.sorted, gs);
        if (k.max > k.min) {
          const double lo = std::max((gs.front() - k.min) / (k.max - k.min), 0.0);
          const double hi = std::max((k.max - gs.back()) / (k.max - k.min), 0.0);
          cov = std::max(1.0 - (lo + hi), 0.0);
        }
        int64_t inside = 0;
        for (double x : gs) inside += (x >= k.min && x <= k.max) ? 1 : 0;
        adh = static_cast<double>(inside) / static_cast<double>(gs.size());
      }
      cr.shape_metric = "KSComplement";
    } else {
      std::vector<int64_t> counts(static_cast<size_t>(k.levels), 0);
      int64_t present = 0;
      for (double x : g) {
        if (std::isnan(x)) continue;
        ++counts[static_cast<size_t>(x)];
        ++present;
      }
      if (k.any_present && present == 0) cov = 0;  // no real level generated
      if (k.any_present && present > 0) {
        double tv = 0;
        int real_levels = 0, covered = 0;
        int64_t adherent = 0;
        for (int l = 0; l < k.levels; ++l) {
          const double gshare = static_cast<double>(counts[static_cast<size_t>(l)]) / static_cast<double>(present);
          tv += std::fabs(k.level_share[static_cast<size_t>(l)] - gshare);
          if (k.level_share[static_cast<size_t>(l)] > 0) {
            ++real_levels;
            covered += counts[static_cast<size_t>(l)] > 0 ? 1 : 0;
            adherent += counts[static_cast<size_t>(l)];
          }
        }
        shape = 1.0 - 0.5 * tv;
        cov = real_levels > 0 ? static_cast<double>(covered) / real_levels : kNaN;
        adh = static_cast<double>(adherent) / static_cast<double>(present);
      }
      cr.shape_metric = "TVComplement";
    }
    if (!std::isnan(shape)) shapes.push_back(shape);
    if (!std::isnan(cov)) coverage.push_back(cov);
    if (!std::isnan(adh)) adherence.push_back(adh);
    if (static_cast<int>(c) < pair_columns) {
      gen_codes[c].reserve(n);
      for (double x : g) gen_codes[c].push_back(Code(k, x));
    }
    if (detail) {
      cr.name = ShortLabel(schema.name, kMaxReportNameBytes);
      cr.type = schema.type;
      cr.shape = shape;
      cr.missing_real = k.missing;
      cr.missing_synthetic = gm;
      cr.coverage = cov;
      cr.adherence = adh;
      const double nr = static_cast<double>(real[c].size()), ng = static_cast<double>(n);
      const bool any_missing = k.missing > 0 || gm > 0;
      if (k.numeric) {
        double lo = k.min, hi = k.max;
        if (!(hi > lo)) {
          lo -= 0.5;
          hi += 0.5;
        }
        for (int i = 0; i <= kReportBins; ++i) {
          double e = lo + (hi - lo) * i / kReportBins;
          if (schema.type == ColumnType::kDatetime) e /= 86400.0;
          cr.edges.push_back(e);
        }
        cr.real.assign(kReportBins, 0.0);
        cr.synthetic.assign(kReportBins, 0.0);
        auto bin = [&](double x) {
          const double b = std::floor((x - lo) / (hi - lo) * kReportBins);
          return static_cast<int>(std::clamp(b, 0.0, static_cast<double>(kReportBins - 1)));
        };
        for (double x : real[c]) {
          if (!std::isnan(x)) cr.real[static_cast<size_t>(bin(x))] += 1.0;
        }
        for (double x : g) {
          if (!std::isnan(x)) cr.synthetic[static_cast<size_t>(bin(x))] += 1.0;
        }
      } else {
        const auto shown = static_cast<size_t>(std::min<int64_t>(k.levels, kMaxReportLevels));
        std::vector<int> bar(static_cast<size_t>(k.levels), static_cast<int>(shown));
        for (size_t i = 0; i < shown; ++i) {
          bar[static_cast<size_t>(k.level_order[i])] = static_cast<int>(i);
          cr.labels.push_back(ShortLabel(schema.levels[static_cast<size_t>(k.level_order[i])]));
        }
        const size_t bars = shown + (static_cast<size_t>(k.levels) > shown ? 1 : 0);
        if (bars > shown) cr.labels.push_back("(other)");
        cr.real.assign(bars, 0.0);
        cr.synthetic.assign(bars, 0.0);
        for (double x : real[c]) {
          if (!std::isnan(x)) cr.real[static_cast<size_t>(bar[static_cast<size_t>(x)])] += 1.0;
        }
        for (double x : g) {
          if (!std::isnan(x)) cr.synthetic[static_cast<size_t>(bar[static_cast<size_t>(x)])] += 1.0;
        }
      }
      // Counts to shares of all rows.
      for (double& v : cr.real) v /= nr;
      for (double& v : cr.synthetic) v /= ng;
      if (any_missing) {
        cr.labels.push_back("(missing)");
        cr.real.push_back(k.missing);
        cr.synthetic.push_back(gm);
      }
      out->columns.push_back(std::move(cr));
    }
  }
  // Column pair trends.
  std::vector<double> trends;
  std::vector<double> joint;
  std::vector<int64_t> touched;
  for (size_t p = 0; p < pairs.size(); ++p) {
    const auto [a, b] = pairs[p];
    const RealColumn& ka = rc[static_cast<size_t>(a)];
    const RealColumn& kb = rc[static_cast<size_t>(b)];
    PairReport pr;
    pr.a = a;
    pr.b = b;
    double score = kNaN, vr = kNaN, vs = kNaN;
    if (ka.numeric && kb.numeric) {
      pr.metric = "CorrelationSimilarity";
      vr = pair_real_r[p];
      vs = Pearson(gen[static_cast<size_t>(a)], gen[static_cast<size_t>(b)]);
      if (!std::isnan(vr) && !std::isnan(vs)) score = 1.0 - std::fabs(vr - vs) / 2.0;
    } else {
      pr.metric = "ContingencySimilarity";
      const int64_t kb_codes = kb.codes;
      const int64_t cells = static_cast<int64_t>(ka.codes) * kb_codes;
      const auto& ra = ka.real_codes;
      const auto& rb = kb.real_codes;
      const auto& ga = gen_codes[static_cast<size_t>(a)];
      const auto& gb = gen_codes[static_cast<size_t>(b)];
      const double nr = static_cast<double>(ra.size()), ng = static_cast<double>(n);
      if (nr > 0 && ng > 0) {
        // Dense: a pair has at most 1001 x 1001 cells (kMaxCategoryLevels + 1
        // codes a side). A cell touched twice is listed twice; the second
        // visit finds it already counted and zeroed.
        if (static_cast<int64_t>(joint.size()) < cells) joint.assign(static_cast<size_t>(cells), 0.0);
        touched.clear();
        for (size_t i = 0; i < ra.size(); ++i) {
          const int64_t key = ra[i] * kb_codes + rb[i];
          touched.push_back(key);
          joint[static_cast<size_t>(key)] += 1.0 / nr;
        }
        for (size_t i = 0; i < n; ++i) {
          const int64_t key = ga[i] * kb_codes + gb[i];
          touched.push_back(key);
          joint[static_cast<size_t>(key)] -= 1.0 / ng;
        }
        double l1 = 0;
        for (int64_t key : touched) {
          l1 += std::fabs(joint[static_cast<size_t>(key)]);
          joint[static_cast<size_t>(key)] = 0;
        }
        score = 1.0 - 0.5 * l1;
        if (detail) {
          // Cramer's V of each side's table.
          auto cramer = [&](const std::vector<int32_t>& ca, const std::vector<int32_t>& cb) {
            std::vector<int64_t> ma(static_cast<size_t>(ka.codes), 0), mb(static_cast<size_t>(kb_codes), 0);
            for (size_t i = 0; i < ca.size(); ++i) {
              ++ma[static_cast<size_t>(ca[i])];
              ++mb[static_cast<size_t>(cb[i])];
            }
            std::vector<int64_t> cellkeys;
            cellkeys.reserve(ca.size());
            for (size_t i = 0; i < ca.size(); ++i) cellkeys.push_back(ca[i] * kb_codes + cb[i]);
            std::sort(cellkeys.begin(), cellkeys.end());
            int ra_used = 0, rb_used = 0;
            for (int64_t v : ma) ra_used += v > 0 ? 1 : 0;
            for (int64_t v : mb) rb_used += v > 0 ? 1 : 0;
            if (ra_used < 2 || rb_used < 2) return kNaN;
            // chi2 = N (sum over cells of O^2 / (row * col) - 1).
            double s = 0;
            for (size_t i = 0; i < cellkeys.size();) {
              size_t j = i;
              while (j < cellkeys.size() && cellkeys[j] == cellkeys[i]) ++j;
              const double o = static_cast<double>(j - i);
              const int64_t ia = cellkeys[i] / kb_codes, ib = cellkeys[i] % kb_codes;
              s += o * o / (static_cast<double>(ma[static_cast<size_t>(ia)]) * static_cast<double>(mb[static_cast<size_t>(ib)]));
              i = j;
            }
            const double phi2 = std::max(s - 1.0, 0.0);
            return std::sqrt(phi2 / (std::min(ra_used, rb_used) - 1));
          };
          vr = cramer(ra, rb);
          vs = cramer(ga, gb);
        }
      }
    }
    if (!std::isnan(score)) trends.push_back(score);
    if (detail) {
      pr.score = score;
      pr.real = vr;
      pr.synthetic = vs;
      out->pairs.push_back(std::move(pr));
    }
  }
  // A property with no defined score (no pair: one column, or only constant
  // numeric pairs; no shape: nothing present on a side) takes the other's,
  // so quality is the mean of the defined ones (SDMetrics' nanmean).
  m.column_shapes = shapes.empty() ? (trends.empty() ? 0 : Mean(trends)) : Mean(shapes);
  m.column_pairs = trends.empty() ? m.column_shapes : Mean(trends);
  m.quality = (m.column_shapes + m.column_pairs) / 2.0;
  m.missing_similarity = missing.empty() ? 1 : Mean(missing);
  m.column_coverage = coverage.empty() ? 1 : Mean(coverage);
  m.adherence = adherence.empty() ? 1 : Mean(adherence);
  // Privacy.
  if (privacy && n > 0) {
    const size_t rows = std::min<size_t>(n, static_cast<size_t>(kMaxDcrRows));
    std::vector<double> q(cols), acc;
    std::vector<double> d_train;
    d_train.reserve(rows);
    int64_t closer = 0, ties = 0, copies = 0;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) q[c] = gen[c][r];
      const double dt = Closest(dcr, q.data(), reference, &acc);
      const double dh = Closest(dcr, q.data(), held, &acc);
      closer += dt < dh ? 1 : 0;
      ties += dt == dh ? 1 : 0;
      d_train.push_back(dt);
      copies += std::binary_search(train_hashes.begin(), train_hashes.end(), RowHash(gen, r)) ? 1 : 0;
    }
    PrivacyReport pv;
    pv.dcr_share = (static_cast<double>(closer) + 0.5 * static_cast<double>(ties)) / static_cast<double>(rows);
    pv.exact_copies = static_cast<double>(copies) / static_cast<double>(rows);
    pv.dcr_p5 = Percentile(d_train, 5);
    pv.holdout_dcr_p5 = holdout_dcr_p5;
    pv.holdout_exact_copies = holdout_copies;
    pv.reference_rows = static_cast<int64_t>(reference.rows);
    pv.synthetic_rows = static_cast<int64_t>(rows);
    m.dcr_share = pv.dcr_share;
    m.exact_copies = pv.exact_copies;
    m.dcr_p5 = pv.dcr_p5;
    m.holdout_dcr_p5 = pv.holdout_dcr_p5;
    if (detail) {
      pv.verdict = Verdict(pv);
      out->privacy = pv;
    }
  }
  // Utility.
  if (target >= 0 && n > 0) {
    std::vector<int64_t> rows(std::min<size_t>(n, static_cast<size_t>(utility_rows)));
    std::iota(rows.begin(), rows.end(), 0);
    const ModelScore s = FitAndScore(Features(gen, rows));
    if (!std::isnan(s.score)) m.utility = s.score;
    if (!std::isnan(real_score.score)) m.utility_real = real_score.score;
    if (detail) {
      UtilityReport u;
      u.target = spec.target;
      u.task = classification ? "classification" : "regression";
      u.score_name = classification ? "macro_f1" : "r2";
      u.synthetic = s.score;
      u.real = real_score.score;
      u.synthetic_accuracy = s.accuracy;
      u.real_accuracy = real_score.accuracy;
      u.train_rows = static_cast<int64_t>(rows.size());
      u.test_rows = test.rows;
      out->utility = u;
    }
  }
}

TableEvaluator::TableEvaluator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TableEvaluator::~TableEvaluator() = default;

StatusOr<std::unique_ptr<TableEvaluator>> TableEvaluator::Create(std::shared_ptr<const Table> table,
                                                                 const JobSpec& spec) {
  if (!table) return Status::InvalidArgument("the table is not loaded");
  auto split = SplitTable(*table, spec);
  if (!split.ok()) return split.status();
  return CreateWithSplit(std::move(table), spec, std::move(*split));
}

StatusOr<std::unique_ptr<TableEvaluator>> TableEvaluator::CreateWithSplit(std::shared_ptr<const Table> table,
                                                                          const JobSpec& spec, TableSplit split) {
  if (!table) return Status::InvalidArgument("the table is not loaded");
  auto impl = std::make_unique<Impl>();
  impl->table = std::move(table);
  impl->spec = spec;
  impl->split = std::move(split);
  GANTRY_RETURN_IF_ERROR(impl->Build());
  return std::unique_ptr<TableEvaluator>(new TableEvaluator(std::move(impl)));
}

const TableSplit& TableEvaluator::split() const { return impl_->split; }
const std::vector<std::vector<double>>& TableEvaluator::real_values() const { return impl_->real; }

EvalMetrics TableEvaluator::Evaluate(const std::vector<std::vector<double>>& generated) const {
  TableReport r;
  impl_->Compute(generated, &r, false);
  return r.metrics;
}

TableReport TableEvaluator::Report(const std::vector<std::vector<double>>& generated) const {
  TableReport r;
  impl_->Compute(generated, &r, true);
  return r;
}

}  // namespace gantry
