#include "core/table_codec.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/errors.h"

namespace gantry {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kStdMultiplier = 4;       // RDT's ClusterBasedNormalizer.STD_MULTIPLIER
constexpr int64_t kMaxFitValues = 10'000;  // values a mixture is fitted on (evenly spaced)
constexpr int kMaxEmIterations = 100;
constexpr double kEmTolerance = 1e-5;      // on the mean log-likelihood

bool IsNumeric(ColumnType t) {
  return t == ColumnType::kContinuous || t == ColumnType::kInteger || t == ColumnType::kDatetime;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[++i];
      out += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& line, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(sep, start);
    out.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

}  // namespace

Mixture FitMixture(const std::vector<double>& all, int64_t max_modes, double min_weight) {
  Mixture m;
  if (all.empty()) return m;
  // An evenly spaced subset: EM on 10,000 values finds the same modes.
  std::vector<double> x;
  if (static_cast<int64_t>(all.size()) > kMaxFitValues) {
    const double step = static_cast<double>(all.size()) / kMaxFitValues;
    for (int64_t i = 0; i < kMaxFitValues; ++i) x.push_back(all[static_cast<size_t>(i * step)]);
  } else {
    x = all;
  }
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> sorted = x;
  std::sort(sorted.begin(), sorted.end());
  // EM runs on the values scaled to [-1, 1] (no overflow whatever their
  // magnitude, and every floor relative to the column's own range); the
  // modes are mapped back at the end.
  const double center = sorted.front() / 2 + sorted.back() / 2;
  const double scale = sorted.back() / 2 - sorted.front() / 2;
  if (!(scale > 0)) {
    m.weights = {1};
    m.means = {sorted.front()};
    m.stds = {1e-3 * std::max(1.0, std::fabs(sorted.front()))};
    return m;
  }
  for (double& v : x) v = (v - center) / scale;
  for (double& v : sorted) v = (v - center) / scale;
  const double mean = Mean(x);
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(n);
  // A floor for every mode's deviation: a thousandth of the column's spread.
  const double floor_std = std::max(std::sqrt(var) * 1e-3, 1e-9);
  // Starts: the quantiles (k + 0.5) / K, duplicates merged.
  std::vector<double> mu;
  for (int64_t k = 0; k < max_modes; ++k) {
    const double q = sorted[static_cast<size_t>((static_cast<double>(k) + 0.5) / max_modes * n)];
    if (mu.empty() || q != mu.back()) mu.push_back(q);
  }
  const size_t K = mu.size();
  std::vector<double> w(K, 1.0 / K), s2(K, var / (K * K) + floor_std * floor_std);
  const double reg = floor_std * floor_std;
  std::vector<double> resp(static_cast<size_t>(n) * K);
  double last_ll = -std::numeric_limits<double>::infinity();
  for (int it = 0; it < kMaxEmIterations; ++it) {
    // E step, in log space.
    double ll = 0;
    std::vector<double> logc(K);
    for (size_t k = 0; k < K; ++k) logc[k] = std::log(w[k]) - 0.5 * std::log(2 * M_PI * s2[k]);
    for (int64_t i = 0; i < n; ++i) {
      double* r = &resp[static_cast<size_t>(i) * K];
      double mx = -std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < K; ++k) {
        const double d = x[static_cast<size_t>(i)] - mu[k];
        r[k] = logc[k] - 0.5 * d * d / s2[k];
        mx = std::max(mx, r[k]);
      }
      double sum = 0;
      for (size_t k = 0; k < K; ++k) sum += (r[k] = std::exp(r[k] - mx));
      for (size_t k = 0; k < K; ++k) r[k] /= sum;
      ll += mx + std::log(sum);
    }
    ll /= static_cast<double>(n);
    // M step.
    for (size_t k = 0; k < K; ++k) {
      double nk = 0, sx = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double r = resp[static_cast<size_t>(i) * K + k];
        nk += r;
        sx += r * x[static_cast<size_t>(i)];
      }
      if (nk < 1e-10) {
        w[k] = 0;
        continue;
      }
      mu[k] = sx / nk;
      double sv = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = x[static_cast<size_t>(i)] - mu[k];
        sv += resp[static_cast<size_t>(i) * K + k] * d * d;
      }
      s2[k] = sv / nk + reg;
      w[k] = nk / static_cast<double>(n);
    }
    // A mode that lost all its points stays at weight 0 (log(0) = -inf).
    for (size_t k = 0; k < K; ++k) w[k] = std::max(w[k], 1e-300);
    if (std::fabs(ll - last_ll) < kEmTolerance) break;
    last_ll = ll;
  }
  std::vector<size_t> keep;
  double total = 0;
  for (size_t k = 0; k < K; ++k) {
    if (w[k] > min_weight) {
      keep.push_back(k);
      total += w[k];
    }
  }
  if (keep.empty()) {  // cannot happen with min_weight < 1 / K; kept safe
    keep.push_back(static_cast<size_t>(std::max_element(w.begin(), w.end()) - w.begin()));
    total = w[keep[0]];
  }
  std::sort(keep.begin(), keep.end(), [&](size_t a, size_t b) { return mu[a] < mu[b]; });
  for (size_t k : keep) {
    m.weights.push_back(w[k] / total);
    m.means.push_back(mu[k] * scale + center);
    m.stds.push_back(std::max(std::sqrt(s2[k]), floor_std) * scale);
  }
  return m;
}

void TableCodec::Layout() {
  spans_.clear();
  discrete_.clear();
  discrete_groups_.clear();
  // The scalars first.
  int64_t at = 0;
  for (ColumnCode& code : codes_) {
    if (code.numeric) code.scalar_at = at++;
  }
  spans_.push_back({0, at, 1, false});
  // Every one-hot span: (width, discrete?, column, which) sorted so that
  // equal widths are adjacent, discrete ones last within a width.
  struct OneHot {
    int64_t dim;
    bool discrete;
    size_t column;
    int which;  // 0 modes, 1 missing, 2 discrete
  };
  std::vector<OneHot> hots;
  int64_t cond = 0;
  for (size_t c = 0; c < codes_.size(); ++c) {
    ColumnCode& code = codes_[c];
    if (code.numeric) {
      hots.push_back({static_cast<int64_t>(code.means.size()), false, c, 0});
      if (code.has_missing) hots.push_back({2, false, c, 1});
    } else {
      code.cond_at = cond;
      cond += code.categories;
      discrete_.push_back(static_cast<int>(c));
      hots.push_back({code.categories, true, c, 2});
    }
  }
  std::stable_sort(hots.begin(), hots.end(), [](const OneHot& a, const OneHot& b) {
    return a.dim != b.dim ? a.dim < b.dim : (a.discrete != b.discrete ? !a.discrete : a.column < b.column);
  });
  for (ColumnCode& code : codes_) code.missing_at = -1;
  for (size_t i = 0; i < hots.size(); ++i) {
    const OneHot& h = hots[i];
    ColumnCode& code = codes_[h.column];
    (h.which == 0 ? code.modes_at : h.which == 1 ? code.missing_at : code.onehot_at) = at;
    if (spans_.size() > 1 && spans_.back().dim == h.dim && spans_.back().start + spans_.back().count * h.dim == at) {
      ++spans_.back().count;
    } else {
      spans_.push_back({at, h.dim, 1, true});
    }
    if (h.discrete) {
      const int d = static_cast<int>(std::find(discrete_.begin(), discrete_.end(), static_cast<int>(h.column)) -
                                     discrete_.begin());
      if (discrete_groups_.empty() || discrete_groups_.back().dim != h.dim) {
        discrete_groups_.push_back({at, h.dim, {}});
      }
      discrete_groups_.back().columns.push_back(d);
    }
    at += h.dim;
  }
  width_ = at;
  cond_width_ = cond;
}

StatusOr<std::shared_ptr<const TableCodec>> TableCodec::Fit(const Table& table,
                                                            const std::vector<int64_t>& rows_in,
                                                            int64_t max_modes) {
  auto codec = std::make_shared<TableCodec>();
  codec->schema_ = table.schema;
  std::vector<int64_t> rows = rows_in;
  if (rows.empty()) {
    for (int64_t r = 0; r < table.rows(); ++r) rows.push_back(r);
  }
  for (size_t c = 0; c < table.schema.columns.size(); ++c) {
    const ColumnSchema& col = table.schema.columns[c];
    const std::vector<double>& v = table.values[c];
    ColumnCode code;
    code.numeric = IsNumeric(col.type);
    if (code.numeric) {
      std::vector<double> present;
      present.reserve(rows.size());
      for (int64_t r : rows) {
        const double x = v[static_cast<size_t>(r)];
        if (std::isnan(x)) {
          code.has_missing = true;
        } else {
          present.push_back(x);
        }
      }
      code.has_missing |= col.missing > 0;
      if (present.empty()) {
        return Status::InvalidArgument("column '" + col.name + "' has no value in the training rows to model as " +
                                       ColumnTypeName(col.type) + "; read it as categorical or drop it");
      }
      Mixture m = FitMixture(present, max_modes);
      double fill = 0;
      for (double x : present) fill += x / static_cast<double>(present.size());  // no overflow
      bool finite = std::isfinite(fill);
      for (size_t k = 0; k < m.means.size(); ++k) finite = finite && std::isfinite(m.means[k]) && std::isfinite(m.stds[k]) && m.stds[k] > 0;
      if (!finite) {
        return Status::InvalidArgument("column '" + col.name + "': its values are too large to model (beyond about 1e300)");
      }
      code.means = std::move(m.means);
      code.stds = std::move(m.stds);
      code.fill = fill;
    } else {
      for (int64_t r : rows) code.has_missing |= std::isnan(v[static_cast<size_t>(r)]);
      code.has_missing |= col.missing > 0;
      code.categories = static_cast<int64_t>(col.levels.size()) + (code.has_missing ? 1 : 0);
      if (code.categories == 0) code.categories = 1;  // cannot happen: no level means all missing
      code.counts.assign(static_cast<size_t>(code.categories), 0);
      for (int64_t r : rows) {
        const double x = v[static_cast<size_t>(r)];
        ++code.counts[std::isnan(x) ? static_cast<size_t>(code.categories - 1) : static_cast<size_t>(x)];
      }
      for (int64_t k : code.counts) code.freq.push_back(static_cast<double>(k) / static_cast<double>(rows.size()));
    }
    codec->codes_.push_back(std::move(code));
  }
  codec->Layout();
  return std::shared_ptr<const TableCodec>(codec);
}

at::Tensor TableCodec::Encode(const Table& table, const std::vector<int64_t>& rows,
                              at::Generator& gen) const {
  const auto n = static_cast<int64_t>(rows.size());
  at::Tensor out = torch::zeros({n, width_}, torch::kFloat);
  float* o = out.data_ptr<float>();
  for (size_t c = 0; c < codes_.size(); ++c) {
    const ColumnCode& code = codes_[c];
    const std::vector<double>& v = table.values[c];
    if (!code.numeric) {
      const int64_t missing_cat = code.categories - 1;
      for (int64_t i = 0; i < n; ++i) {
        const double x = v[static_cast<size_t>(rows[static_cast<size_t>(i)])];
        const int64_t cat = std::isnan(x) ? missing_cat : static_cast<int64_t>(x);
        o[i * width_ + code.onehot_at + cat] = 1;
      }
      continue;
    }
    const at::Tensor u = torch::rand({n}, gen, torch::kDouble);
    const double* ud = u.data_ptr<double>();
    const size_t K = code.means.size();
    std::vector<double> p(K);
    for (int64_t i = 0; i < n; ++i) {
      double x = v[static_cast<size_t>(rows[static_cast<size_t>(i)])];
      const bool missing = std::isnan(x);
      if (missing) x = code.fill;
      // The posterior over the modes (RDT adds 1e-6 to each probability).
      double mx = -std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < K; ++k) {
        const double z = (x - code.means[k]) / code.stds[k];
        p[k] = -0.5 * z * z - std::log(code.stds[k]);
        mx = std::max(mx, p[k]);
      }
      double sum = 0;
      for (size_t k = 0; k < K; ++k) sum += (p[k] = std::exp(p[k] - mx));
      double total = 0;
      for (size_t k = 0; k < K; ++k) total += (p[k] = p[k] / sum + 1e-6);
      double target = ud[i] * total, acc = 0;
      size_t k = 0;
      for (; k + 1 < K; ++k) {
        acc += p[k];
        if (acc > target) break;
      }
      const double s = std::clamp((x - code.means[k]) / (kStdMultiplier * code.stds[k]), -0.99, 0.99);
      float* row = o + i * width_;
      row[code.scalar_at] = static_cast<float>(s);
      row[code.modes_at + static_cast<int64_t>(k)] = 1;
      if (code.missing_at >= 0) row[code.missing_at + (missing ? 1 : 0)] = 1;
    }
  }
  return out;
}

std::vector<std::vector<double>> TableCodec::Decode(const at::Tensor& raw_in, at::Generator& gen) const {
  c10::InferenceMode guard;
  const at::Tensor raw = raw_in.contiguous();
  const int64_t n = raw.size(0);
  // A category per one-hot span, drawn from its softmax by inverse CDF:
  // one uniform per row and span, group by group, span by span.
  std::vector<std::vector<int64_t>> picks;
  std::map<int64_t, const int64_t*> pick_at;  // span start -> picks
  size_t total = 0;
  for (const Span& g : spans_) total += g.softmax ? static_cast<size_t>(g.count) : 0;
  picks.reserve(total);
  for (const Span& g : spans_) {
    if (!g.softmax) continue;
    const at::Tensor probs =
        torch::softmax(raw.narrow(1, g.start, g.count * g.dim).reshape({n, g.count, g.dim}), 2).contiguous();
    const at::Tensor u = torch::rand({n, g.count}, gen);
    const float* p = probs.data_ptr<float>();
    const float* up = u.data_ptr<float>();
    for (int64_t s = 0; s < g.count; ++s) {
      picks.emplace_back(static_cast<size_t>(n));
      std::vector<int64_t>& pick = picks.back();
      for (int64_t i = 0; i < n; ++i) {
        const float* row = p + (i * g.count + s) * g.dim;
        const float target = up[i * g.count + s];
        float acc = 0;
        int64_t k = 0;
        for (; k + 1 < g.dim; ++k) {
          acc += row[k];
          if (acc > target) break;
        }
        pick[static_cast<size_t>(i)] = k;
      }
      pick_at[g.start + s * g.dim] = pick.data();
    }
  }
  const float* r = raw.data_ptr<float>();
  std::vector<std::vector<double>> out(codes_.size(), std::vector<double>(static_cast<size_t>(n)));
  for (size_t c = 0; c < codes_.size(); ++c) {
    const ColumnCode& code = codes_[c];
    const ColumnSchema& col = schema_.columns[c];
    std::vector<double>& dst = out[c];
    if (!code.numeric) {
      const int64_t* pick = pick_at.at(code.onehot_at);
      const int64_t levels = static_cast<int64_t>(col.levels.size());
      for (int64_t i = 0; i < n; ++i) {
        dst[static_cast<size_t>(i)] = pick[i] < levels ? static_cast<double>(pick[i]) : kNaN;
      }
      continue;
    }
    const int64_t* mode = pick_at.at(code.modes_at);
    const int64_t* miss = code.missing_at >= 0 ? pick_at.at(code.missing_at) : nullptr;
    double scale = 1;
    if (col.type == ColumnType::kContinuous && col.decimals >= 0) scale = std::pow(10.0, col.decimals);
    for (int64_t i = 0; i < n; ++i) {
      if (miss != nullptr && miss[i] == 1) {
        dst[static_cast<size_t>(i)] = kNaN;
        continue;
      }
      const double s = std::clamp(std::tanh(static_cast<double>(r[i * width_ + code.scalar_at])), -1.0, 1.0);
      const auto k = static_cast<size_t>(mode[i]);
      double v = s * kStdMultiplier * code.stds[k] + code.means[k];
      if (col.type == ColumnType::kContinuous) {
        if (col.decimals >= 0) v = std::round(v * scale) / scale;
      } else {
        v = std::round(v);  // integers; datetimes to the second
      }
      dst[static_cast<size_t>(i)] = std::clamp(v, col.min, col.max) + 0.0;  // + 0.0: never -0
    }
  }
  return out;
}

std::string SchemaToText(const TableSchema& schema) {
  std::ostringstream o;
  o << "rows\t" << schema.rows << "\t" << static_cast<int>(schema.delimiter) << "\n";
  for (const ColumnSchema& c : schema.columns) {
    o << "col\t" << Escape(c.name) << "\t" << static_cast<int>(c.type) << "\t" << (c.integer_codes ? 1 : 0)
      << "\t" << Escape(c.datetime_format) << "\t" << c.missing << "\t" << Num(c.min) << "\t" << Num(c.max)
      << "\t" << c.decimals << "\t" << c.levels.size();
    for (const std::string& l : c.levels) o << "\t" << Escape(l);
    o << "\n";
  }
  return o.str();
}

StatusOr<TableSchema> SchemaFromText(const std::string& text) {
  TableSchema s;
  std::istringstream in(text);
  std::string line;
  bool header = false;
  try {
    while (std::getline(in, line)) {
      const std::vector<std::string> f = Split(line, '\t');
      if (f[0] == "rows" && f.size() == 3) {
        s.rows = std::stoll(f[1]);
        s.delimiter = static_cast<char>(std::stoi(f[2]));
        header = true;
      } else if (f[0] == "col" && f.size() >= 10) {
        ColumnSchema c;
        c.name = Unescape(f[1]);
        const int type = std::stoi(f[2]);
        if (type < 0 || type > static_cast<int>(ColumnType::kDatetime)) return Status::DataLoss("schema: bad column type");
        c.type = static_cast<ColumnType>(type);
        c.integer_codes = f[3] == "1";
        c.datetime_format = Unescape(f[4]);
        c.missing = std::stoll(f[5]);
        c.min = std::stod(f[6]);
        c.max = std::stod(f[7]);
        c.decimals = std::stoi(f[8]);
        const size_t levels = std::stoull(f[9]);
        if (levels > static_cast<size_t>(kMaxCategoryLevels)) return Status::DataLoss("schema: too many levels");
        if (f.size() != 10 + levels) return Status::DataLoss("schema: column '" + c.name + "' lists the wrong number of levels");
        for (size_t i = 0; i < levels; ++i) c.levels.push_back(Unescape(f[10 + i]));
        const auto& formats = DatetimeFormats();
        if (!std::isfinite(c.min) || !std::isfinite(c.max) || c.min > c.max || c.decimals < -1 || c.decimals > 12 ||
            c.missing < 0 || (c.type == ColumnType::kDatetime &&
                              std::find(formats.begin(), formats.end(), c.datetime_format) == formats.end())) {
          return Status::DataLoss("schema: column '" + c.name + "' is malformed");
        }
        s.columns.push_back(std::move(c));
      } else {
        return Status::DataLoss("schema: unreadable line");
      }
    }
  } catch (const std::exception&) {
    return Status::DataLoss("schema: a number is unreadable");
  }
  if (!header || s.columns.empty()) return Status::DataLoss("schema: no header or no column");
  return s;
}

void TableCodec::Save(std::map<std::string, at::Tensor>* out) const {
  auto bytes = [](const std::string& text) {
    at::Tensor t = torch::empty({static_cast<int64_t>(text.size())}, torch::kByte);
    if (!text.empty()) std::memcpy(t.data_ptr<uint8_t>(), text.data(), text.size());
    return t;
  };
  (*out)["codec"] = bytes(SchemaToText(schema_));
  std::ostringstream o;
  for (const ColumnCode& c : codes_) {
    o << (c.numeric ? 1 : 0) << "\t" << (c.has_missing ? 1 : 0) << "\t" << c.categories << "\t" << Num(c.fill)
      << "\t" << c.means.size();
    for (size_t k = 0; k < c.means.size(); ++k) o << "\t" << Num(c.means[k]) << "\t" << Num(c.stds[k]);
    for (int64_t k : c.counts) o << "\t" << k;
    o << "\n";
  }
  (*out)["codec.codes"] = bytes(o.str());
}

StatusOr<std::shared_ptr<const TableCodec>> TableCodec::Load(const std::map<std::string, at::Tensor>& in) {
  auto text_of = [&](const char* name, std::string* out) {
    auto it = in.find(name);
    if (it == in.end() || it->second.scalar_type() != at::kByte || it->second.dim() != 1) return false;
    const at::Tensor t = it->second.contiguous();
    out->assign(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), static_cast<size_t>(t.numel()));
    return true;
  };
  std::string schema_text, codes_text;
  if (!text_of("codec", &schema_text) || !text_of("codec.codes", &codes_text)) {
    return Status::DataLoss("table codec is missing");
  }
  auto schema = SchemaFromText(schema_text);
  if (!schema.ok()) return schema.status();
  auto codec = std::make_shared<TableCodec>();
  codec->schema_ = std::move(schema).value();
  std::istringstream lines(codes_text);
  std::string line;
  try {
    while (std::getline(lines, line)) {
      const std::vector<std::string> f = Split(line, '\t');
      if (f.size() < 5) return Status::DataLoss("table codec has a short column line");
      ColumnCode c;
      c.numeric = f[0] == "1";
      c.has_missing = f[1] == "1";
      c.categories = std::stoll(f[2]);
      c.fill = std::stod(f[3]);
      const size_t K = std::stoull(f[4]);
      if (K > 64 || (c.numeric && K == 0)) return Status::DataLoss("table codec has a malformed column");
      if (!c.numeric && (c.categories < 1 || c.categories > kMaxCategoryLevels + 1)) {
        return Status::DataLoss("table codec has a column with a bad number of categories");
      }
      const size_t cats = c.numeric ? 0 : static_cast<size_t>(c.categories);
      if (f.size() != 5 + 2 * K + cats) return Status::DataLoss("table codec has a malformed column");
      for (size_t k = 0; k < K; ++k) {
        c.means.push_back(std::stod(f[5 + 2 * k]));
        c.stds.push_back(std::stod(f[6 + 2 * k]));
      }
      int64_t total = 0;
      for (size_t k = 0; k < cats; ++k) {
        c.counts.push_back(std::stoll(f[5 + 2 * K + k]));
        if (c.counts.back() < 0 || c.counts.back() > kMaxTableRows) return Status::DataLoss("table codec has a bad count");
        total += c.counts.back();
      }
      for (int64_t k : c.counts) c.freq.push_back(total > 0 ? static_cast<double>(k) / static_cast<double>(total) : 0);
      codec->codes_.push_back(std::move(c));
    }
  } catch (const std::exception&) {
    return Status::DataLoss("table codec holds an unreadable number");
  }
  if (codec->codes_.size() != codec->schema_.columns.size()) {
    return Status::DataLoss("table codec's columns do not match its schema");
  }
  for (size_t c = 0; c < codec->codes_.size(); ++c) {
    const ColumnCode& code = codec->codes_[c];
    const ColumnSchema& col = codec->schema_.columns[c];
    if (IsNumeric(col.type) != code.numeric) return Status::DataLoss("table codec's column types do not match its schema");
    if (!code.numeric && code.categories != static_cast<int64_t>(col.levels.size()) + (code.has_missing ? 1 : 0)) {
      return Status::DataLoss("table codec's column '" + col.name + "' has categories that do not match its levels");
    }
    for (size_t k = 0; k < code.means.size(); ++k) {
      if (!std::isfinite(code.means[k]) || !(code.stds[k] > 0) || !std::isfinite(code.stds[k])) {
        return Status::DataLoss("table codec's column '" + col.name + "' has a malformed mode");
      }
    }
  }
  codec->Layout();
  return std::shared_ptr<const TableCodec>(codec);
}

}  // namespace gantry
