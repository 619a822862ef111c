#include "core/memory.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <vector>

namespace gantry {
namespace {

constexpr int64_t kFloat = 4;
constexpr int64_t kInt64 = 8;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;

// Saturating arithmetic: a spec at every limit stays a (huge) finite figure.
int64_t Mul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kMax / b ? kMax : a * b;
}
int64_t Add(int64_t a, int64_t b) { return std::min(kMax, a + b); }

// The widths of a network's layers, input first.
std::vector<int64_t> Widths(int64_t in, const std::vector<int64_t>& hidden, int64_t out) {
  std::vector<int64_t> w{in};
  w.insert(w.end(), hidden.begin(), hidden.end());
  w.push_back(out);
  return w;
}

int64_t Parameters(const std::vector<int64_t>& w) {
  int64_t n = 0;
  for (size_t i = 0; i + 1 < w.size(); ++i) n = Add(n, Add(Mul(w[i], w[i + 1]), w[i + 1]));
  return n;
}

// The sum of the layers' output widths (what one row's activations take).
int64_t Outputs(const std::vector<int64_t>& w) {
  int64_t n = 0;
  for (size_t i = 1; i < w.size(); ++i) n = Add(n, w[i]);
  return n;
}

// The evaluation (metrics.cc): the set's rows (datasets.h's kBuiltinEvalRows,
// kMaxEvalRows), the rows of its median distance, the kernel's block.
constexpr int64_t kEvalRowsBuiltin = 1024;
constexpr int64_t kEvalRowsMax = 4096;
constexpr int64_t kMedianRows = 1024;
constexpr int64_t kKernelBlock = 1 << 16;
constexpr int64_t kProjections = 64;
// Copies of a user's points while a job is created and runs (measured: the
// request and its parsed message, the spec, its message and the retry
// fingerprint, the stored row, the worker's, trainer's and fast loop's
// specs, the training tensor, and a GetJob answer in flight).
constexpr int64_t kUserDataCopies = 20;
// A built-in dataset: the tensor and the two it is computed from.
constexpr int64_t kBuiltinDataCopies = 3;
// Generator copies at once: the latest snapshot, the new one, and the kept
// one's serialised bytes (a tensor file: one string).
constexpr int64_t kSnapshotCopies = 3;
// A checkpoint's bytes at once: its tensor file when it is written; the
// file read back and the tensors read from it when a job resumes.
constexpr int64_t kCheckpointCopies = 2;
constexpr int64_t kJobOverhead = 16 << 20;

}  // namespace

int64_t GeneratorParameters(const JobSpec& spec) {
  return Parameters(Widths(spec.latent_dim, spec.generator_hidden, DataDim(spec.dataset)));
}

int64_t DiscriminatorParameters(const JobSpec& spec) {
  return Parameters(Widths(DataDim(spec.dataset), spec.discriminator_hidden, 1));
}

namespace {

// A table job (table_trainer.h): its encoded width and conditional vector
// from the schema (a numeric column at most 1 + max_modes + 2 wide).
MemoryEstimate EstimateTableMemory(const JobSpec& spec) {
  const TableSchema empty;
  const TableSchema& schema = spec.dataset.table.data ? spec.dataset.table.data->schema : empty;
  int64_t width = 0, cond = 0;
  for (const ColumnSchema& c : schema.columns) {
    if (c.type == ColumnType::kCategorical || c.type == ColumnType::kBoolean) {
      const int64_t k = static_cast<int64_t>(c.levels.size()) + 1;
      width = Add(width, k);
      cond = Add(cond, k);
    } else {
      width = Add(width, 3 + spec.max_modes);
    }
  }
  const int64_t rows = std::max<int64_t>(1, DatasetRows(spec.dataset));
  const int64_t cols = std::max<int64_t>(1, static_cast<int64_t>(schema.columns.size()));
  const int64_t batch = spec.batch_size;
  // The generator's widths: its input, each residual layer adding its own.
  int64_t g_in = Add(spec.latent_dim, cond), g_params = 0;
  for (int64_t h : spec.generator_hidden) {
    g_params = Add(g_params, Add(Mul(g_in, h), Mul(h, 3)));
    g_in = Add(g_in, h);
  }
  g_params = Add(g_params, Add(Mul(g_in, width), width));
  int64_t d_in = Mul(spec.pac, Add(width, cond)), d_params = 0, d_out = 0;
  for (int64_t h : spec.discriminator_hidden) {
    d_params = Add(d_params, Add(Mul(d_in, h), h));
    d_out = Add(d_out, h);
    d_in = h;
  }
  d_params = Add(d_params, Add(d_in, 1));
  const int64_t params = Add(g_params, d_params);
  MemoryEstimate e;
  e.model = Mul(Mul(params, 4), kFloat);
  // A step's graphs: the generator's activations (its input and every
  // layer, kept for backward) and the activated output, twice; the
  // discriminator's inputs and layers over real and fake rows, and the
  // gradient penalty's second graph (three times the first).
  int64_t act = Mul(Mul(batch, Add(g_in, Mul(width, 4))), 3);
  act = Add(act, Mul(Mul(Mul(batch, 2), Add(width, cond)), 4));
  act = Add(act, Mul(Mul(Mul(batch / std::max<int64_t>(1, spec.pac), 2), d_out), 9));
  e.activations = Mul(act, kFloat);
  // The CSV's cells as parsed (8 bytes each, twice while typing), the
  // table, the encoded training rows, the rows of each category.
  e.dataset = Add(Mul(Mul(rows, cols), 3 * 8), Add(Mul(Mul(rows, width), kFloat), Mul(Mul(rows, cols), kInt64)));
  // Evaluation and sampling: a block of kSampleBlock rows through the
  // network (its buffer, the output, the decoded values), the held-out
  // values, the snapshots.
  constexpr int64_t kBlock = 4096;
  int64_t report = Mul(kBlock, Add(g_in, Mul(width, 2)));
  report = Add(report, Mul(Mul(kBlock, cols), 4));
  report = Add(report, Mul(Mul(std::min<int64_t>(rows, kMaxTableHeldOut), cols), 2));
  report = Add(report, Mul(g_params, kSnapshotCopies));
  e.reporting = Mul(report, kFloat);
  e.checkpoint = Mul(Mul(Mul(params, 3), kFloat), kCheckpointCopies);
  e.overhead = kJobOverhead;
  return e;
}

}  // namespace

MemoryEstimate EstimateMemory(const JobSpec& spec) {
  if (spec.dataset.kind == DatasetKind::kTable) return EstimateTableMemory(spec);
  const int64_t dim = DataDim(spec.dataset);
  const int64_t rows = DatasetRows(spec.dataset);
  const int64_t batch = std::max<int64_t>(1, std::min(spec.batch_size, rows));
  const std::vector<int64_t> g = Widths(spec.latent_dim, spec.generator_hidden, dim);
  const std::vector<int64_t> d = Widths(dim, spec.discriminator_hidden, 1);
  const int64_t pg = Parameters(g), pd = Parameters(d);
  const int64_t params = Add(pg, pd);
  const int64_t widest = std::max(*std::max_element(g.begin(), g.end()),
                                  *std::max_element(d.begin(), d.end()));
  const int64_t g_out = Outputs(g), d_out = Outputs(d);
  const bool dropout = spec.dropout > 0;

  MemoryEstimate e;
  // Parameters, their gradients, Adam's exp_avg and exp_avg_sq.
  e.model = Mul(Mul(params, 4), kFloat);

  // The fast loop's buffers (fast_loop.cc): the generator's activations for
  // a batch; the discriminator's for real and fake rows together, with a
  // mask and a dropped copy per layer; two gradient buffers of the widest
  // layer; the discriminator's input.
  const int64_t b2 = Mul(batch, 2);
  int64_t fast = Mul(batch, g_out);
  fast = Add(fast, Mul(b2, Mul(d_out, dropout ? 3 : 1)));
  fast = Add(fast, Mul(Mul(b2, widest), 2));
  fast = Add(fast, Mul(b2, Add(dim, 2)));
  // The ATen path keeps, per layer, the ReLU output, the dropout mask and
  // its product for backward, a gradient of the widest layer while it runs
  // backward, and the generator step's graph over a batch (measured within
  // 5% of the fast loop's buffers).
  int64_t aten = Mul(b2, Mul(d_out, dropout ? 3 : 2));
  aten = Add(aten, Mul(b2, widest));
  aten = Add(aten, Mul(batch, Add(g_out, d_out)));
  aten = Add(aten, Mul(b2, Mul(dim, 2)));
  // wgan_gp's penalty keeps a second graph (the gradient's) per step.
  if (spec.loss == Loss::kWganGp) aten = Mul(aten, 3);
  e.activations = Mul(std::max(fast, aten), kFloat);

  const int64_t points = Mul(rows, dim);
  e.dataset = Add(Mul(Mul(points, spec.dataset.kind == DatasetKind::kUser ? kUserDataCopies
                                                                          : kBuiltinDataCopies),
                      kFloat),
                  Mul(Mul(rows, 2), kInt64));  // the permutation and its index tensor

  const int64_t n = spec.dataset.kind == DatasetKind::kUser ? std::min(rows, kEvalRowsMax)
                                                            : kEvalRowsBuiltin;
  const int64_t m = spec.eval_points;
  int64_t report = Mul(Mul(m, g_out), 2);                      // generated, with graph-free temporaries
  report = Add(report, Mul(Mul(n, dim), 3));                   // the set, its tensor, a copy
  report = Add(report, Mul(Add(n, m), kProjections + 4));      // sorted projections, radii, keys
  report = Add(report, Mul(kMedianRows, kMedianRows / 2));     // the median's distances (once)
  report = Add(report, Add(kKernelBlock, Add(n, m)));          // the kernel's block
  report = Add(report, Mul(Mul(spec.preview_points, g_out), 2));
  report = Add(report, Mul(pg, kSnapshotCopies));
  e.reporting = Mul(report, kFloat);

  // A checkpoint holds the parameters and both moments of both networks.
  e.checkpoint = Mul(Mul(Mul(params, 3), kFloat), kCheckpointCopies);
  e.overhead = kJobOverhead;
  return e;
}

int64_t AvailableMemory() {
  int64_t total = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") {
      total = kib * 1024;
      break;
    }
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    int64_t limit = 0;
    if (in >> limit && limit > 0 && (total == 0 || limit < total)) total = limit;  // "max" reads as no number
  }
  return total;
}

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string MemoryEstimate::ToString() const {
  return FormatBytes(total()) + " (model " + FormatBytes(model) + ", activations " +
         FormatBytes(activations) + ", dataset " + FormatBytes(dataset) + ", reporting " +
         FormatBytes(reporting) + ", checkpoint " + FormatBytes(checkpoint) + ", overhead " +
         FormatBytes(overhead) + ")";
}

bool ParseBytes(const std::string& text, int64_t* bytes) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return false;
  const std::string number = text.substr(0, i);
  if (std::count(number.begin(), number.end(), '.') > 1 || number == ".") return false;
  std::string unit;
  for (size_t j = i; j < text.size(); ++j) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  double scale = 1;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else return false;
  errno = 0;
  const double v = std::strtod(number.c_str(), nullptr) * scale;
  if (errno != 0 || !(v >= 0) || v > 9.0e18 || (v > 0 && v < 1)) return false;
  *bytes = static_cast<int64_t>(v);
  return true;
}

}  // namespace gantry
