// table_bench: gantry's table model on a CSV file, with the interface and
// the closing lines of the CTGAN peer's runner (shared peers/ctgan/
// run_ctgan.py), so that tests/bench/table_bench.py runs both alike.
//
// Training (as the peer):
//   table_bench --csv TRAIN.csv --categorical a,b --epochs 300 --batch-size 500
//               --seed 0 --samples 100000 --out SYNTH.csv [--threads 1]
//               [--holdout HELD.csv [--target COL] [--eval-every 10] [--eval-rows 1000]]
// Without --holdout every row trains (eval_fraction 0, as CTGAN fits all it
// is given) and evaluation runs only on the last epoch; the rows come from
// the last epoch. With --holdout (the same columns), TRAIN and HELD are read
// as one table (one schema: the same levels and types on both sides), the
// trainer trains on exactly TRAIN's rows (TableTrainer::CreateWithSplit)
// and evaluates every --eval-every epochs (and the first and last) on
// --eval-rows generated rows against HELD's rows, selecting by the overall
// quality; the sampled rows come from the best epoch's snapshot (kept here
// after each epoch that became the best). It prints, last:
//   epoch_seconds mean M first F last L preprocess_seconds P
//   sample_seconds S sampled N
//   fit_seconds X epochs E rows R
//   gemm_floor_seconds_per_epoch G
// and with --holdout also
//   best_epoch B evaluations K figures quality Q column_shapes ... (as --evaluate)
//   evaluation_seconds V training_seconds T share H
// epoch_seconds are the epochs' training time (EpochReport::seconds, no
// evaluation); fit_seconds is the wall time of reading and typing the CSV,
// the codec, all epochs and their evaluations; evaluation_seconds is the
// wall time of RunEpoch beyond its training seconds, summed (the
// evaluations and their snapshots), T the training seconds summed and H =
// V / T. The GEMM floor is the same matrix products alone (forward and
// backward of every linear layer in a step, at the model's shapes), timed
// per epoch.
//
// Evaluation of any program's rows with gantry's evaluator:
//   table_bench --evaluate --train TRAIN.csv --holdout HELD.csv --synthetic SYNTH.csv
//               [--categorical a,b] [--target COL] [--eval-rows 1000]
// reads TRAIN and HELD as one table as above, reads the first --eval-rows
// rows of SYNTH (columns matched by name) through ParseCell with the real
// schema (a missing spelling is missing; a categorical cell that is not a
// level but equals one as a number, "3.0" for "3", is that level; any other
// unparsable cell, and every cell of a column SYNTH lacks, becomes missing
// and is counted), and prints
//   synthetic_rows N unparsed U [column=count ...]
//   figures quality Q column_shapes S column_pairs P missing_similarity M
//           column_coverage C adherence A dcr_share D exact_copies X dcr_p5 p
//           holdout_dcr_p5 h utility u utility_real r      (one line)
// with '-' for a figure that does not apply (no target: no utility).
//
// Both modes take the split's training order (the DCR reference and the
// utility baseline take its first rows) from --order-seed (default 0), a
// Fisher-Yates shuffle of TRAIN's rows: the same in both, so the trainer's
// own evaluation and --evaluate measure against the same reference rows.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "core/json_text.h"
#include "core/random.h"
#include "core/runtime.h"
#include "core/table_codec.h"
#include "core/table_eval.h"
#include "core/table_sample.h"
#include "core/table_trainer.h"
#include "core/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

gantry::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return gantry::Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Where the first CSV record of `text` ends: just past its line break (CR
// LF, LF or CR outside quotes), or text.size().
size_t FirstRecordEnd(const std::string& text) {
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      quoted = !quoted;  // a doubled quote toggles twice
    } else if (!quoted && (c == '\n' || c == '\r')) {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      return i + 1;
    }
  }
  return text.size();
}

std::string_view TrimLineEnd(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The records of a comma-separated text (RFC 4180: quoted fields, doubled
// quotes, line breaks inside quotes), at most `max_records` of them. Blank
// lines are skipped.
std::vector<std::vector<std::string>> CsvRecords(const std::string& text, int64_t max_records) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, any = false;
  auto end_record = [&] {
    if (any || !field.empty() || !record.empty()) {
      record.push_back(field);
      out.push_back(std::move(record));
    }
    record.clear();
    field.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size() && static_cast<int64_t>(out.size()) < max_records; ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
    } else {
      field += c;
    }
  }
  if (static_cast<int64_t>(out.size()) < max_records) end_record();
  return out;
}

bool IsMissingText(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s.empty() || s == "NA" || s == "N/A" || s == "NaN" || s == "nan" || s == "null" ||
         s == "NULL" || s == "None";
}

bool AsNumber(const std::string& s, double* v) {
  const char* b = s.c_str();
  char* e = nullptr;
  *v = std::strtod(b, &e);
  if (e == b) return false;
  while (*e == ' ' || *e == '\t') ++e;
  return *e == '\0' && std::isfinite(*v);
}

// TRAIN and HELD as one table (HELD's header must equal TRAIN's), and the
// split: TRAIN's rows train, HELD's are held out, the training order a
// shuffle from `order_seed`.
struct SplitTableFiles {
  std::shared_ptr<const gantry::Table> table;
  gantry::TableSplit split;
};

gantry::StatusOr<SplitTableFiles> ReadSplit(const std::string& train_path,
                                            const std::string& holdout_path,
                                            const gantry::TableOptions& options,
                                            uint64_t order_seed) {
  auto train = ReadFile(train_path);
  if (!train.ok()) return train.status();
  auto held = ReadFile(holdout_path);
  if (!held.ok()) return held.status();
  const size_t th = FirstRecordEnd(*train), hh = FirstRecordEnd(*held);
  if (TrimLineEnd(std::string_view(*train).substr(0, th)) !=
      TrimLineEnd(std::string_view(*held).substr(0, hh))) {
    return gantry::Status::InvalidArgument(holdout_path + ": its header differs from " +
                                           train_path + "'s");
  }
  std::string text = std::move(*train);
  if (!text.empty() && text.back() != '\n' && text.back() != '\r') text += '\n';
  // Rows of TRAIN: parse TRAIN alone once to count them (its records may
  // span lines).
  gantry::TableOptions o = options;
  o.file_name = train_path;
  auto alone = gantry::ParseTable(text, o);
  if (!alone.ok()) return alone.status();
  const int64_t n_train = alone->rows();
  text.append(*held, hh, std::string::npos);
  o.file_name = train_path + " + " + holdout_path;
  auto table = gantry::ParseTable(text, o);
  if (!table.ok()) return table.status();
  SplitTableFiles out;
  const int64_t n = table->rows();
  for (int64_t i = 0; i < n_train; ++i) out.split.train.push_back(i);
  for (int64_t i = n_train; i < n; ++i) out.split.held_out.push_back(i);
  out.split.train_order = out.split.train;
  uint64_t state = gantry::DeriveSeed(order_seed, gantry::RandomStream::kEval, 0);
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (size_t i = out.split.train_order.size(); i > 1; --i) {
    std::swap(out.split.train_order[i - 1], out.split.train_order[next() % i]);
  }
  out.table = std::make_shared<gantry::Table>(std::move(table).value());
  return out;
}

std::string Opt(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", *v);
  return buf;
}

// Every table figure of `m` on one line (the format README_tables.md and
// table_bench.py read).
std::string Figures(const gantry::EvalMetrics& m) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "quality %.6f column_shapes %.6f column_pairs %.6f missing_similarity %.6f "
                "column_coverage %.6f "
                "adherence %.6f",
                m.quality, m.column_shapes, m.column_pairs, m.missing_similarity, m.column_coverage,
                m.adherence);
  return std::string(buf) + " dcr_share " + Opt(m.dcr_share) + " exact_copies " +
         Opt(m.exact_copies) + " dcr_p5 " + Opt(m.dcr_p5) + " holdout_dcr_p5 " +
         Opt(m.holdout_dcr_p5) + " utility " + Opt(m.utility) + " utility_real " +
         Opt(m.utility_real);
}

gantry::TableOptions Overrides(const std::string& categorical) {
  gantry::TableOptions opt;
  for (const std::string& c : SplitList(categorical))
    opt.overrides[c] = gantry::ColumnType::kCategorical;
  return opt;
}

// One step's matrix products: for each linear layer y = x W^T (m rows),
// forward, grad of input and grad of weight; the discriminator's three
// passes (real+fake together, interpolates with double backward counted as
// two more), the generator's two forwards and one backward.
double GemmFloorPerStep(int64_t batch, int64_t latent, int64_t cond, int64_t width,
                        const std::vector<int64_t>& g_hidden, const std::vector<int64_t>& d_hidden,
                        int64_t pac) {
  std::vector<std::array<int64_t, 3>> mm;  // m, k (in), n (out)
  auto linear = [&](int64_t m, int64_t in, int64_t out, int fwd, int bwd) {
    for (int i = 0; i < fwd; ++i) mm.push_back({m, in, out});
    for (int i = 0; i < bwd; ++i) {
      mm.push_back({m, out, in});  // grad input
      mm.push_back({out, m, in});  // grad weight
    }
  };
  // Generator: forward in the critic step (no grad), forward + backward in its own.
  int64_t dim = latent + cond;
  for (int64_t h : g_hidden) {
    linear(batch, dim, h, 2, 1);
    dim += h;
  }
  linear(batch, dim, width, 2, 1);
  // Discriminator: real+fake (2 groups' worth), interpolates (forward,
  // backward for the gradient, backward of that), the generator's pass.
  const int64_t groups = batch / pac;
  int64_t in = pac * (width + cond);
  std::vector<int64_t> d = d_hidden;
  d.push_back(1);
  for (int64_t h : d) {
    linear(2 * groups, in, h, 1, 1);
    linear(groups, in, h, 1, 2);
    linear(groups, in, h, 1, 1);
    in = h;
  }
  std::vector<at::Tensor> a, b;
  for (const auto& s : mm) {
    a.push_back(torch::randn({s[0], s[1]}));
    b.push_back(torch::randn({s[1], s[2]}));
  }
  const int reps = 20;
  for (size_t i = 0; i < mm.size(); ++i) (void)at::mm(a[i], b[i]);  // warm up
  const auto t = Clock::now();
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < mm.size(); ++i) (void)at::mm(a[i], b[i]);
  }
  return Since(t) / reps;
}

}  // namespace

namespace {

int RunEvaluate(const std::string& train_path, const std::string& holdout_path,
                const std::string& synthetic_path, const std::string& categorical,
                const std::string& target, int64_t eval_rows, uint64_t order_seed) {
  auto data = ReadSplit(train_path, holdout_path, Overrides(categorical), order_seed);
  if (!data.ok()) {
    std::cerr << "table_bench: " << data.status().message() << "\n";
    return 2;
  }
  const gantry::TableSchema& schema = data->table->schema;
  auto text = ReadFile(synthetic_path);
  if (!text.ok()) {
    std::cerr << "table_bench: " << text.status().message() << "\n";
    return 2;
  }
  const auto records = CsvRecords(*text, eval_rows + 1);
  if (records.size() < 2) {
    std::cerr << "table_bench: " << synthetic_path << ": no rows\n";
    return 2;
  }
  const std::vector<std::string>& header = records[0];
  const size_t n = records.size() - 1;
  std::vector<std::vector<double>> generated(schema.columns.size(),
                                             std::vector<double>(n, std::nan("")));
  std::vector<int64_t> unparsed(schema.columns.size(), 0);
  std::vector<std::string> first_bad(schema.columns.size());
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    const gantry::ColumnSchema& col = schema.columns[c];
    int k = -1;
    for (size_t j = 0; j < header.size(); ++j) {
      if (header[j] == col.name) k = static_cast<int>(j);
    }
    if (k < 0) {
      unparsed[c] = static_cast<int64_t>(n);
      first_bad[c] = "(no such column)";
      continue;
    }
    for (size_t r = 0; r < n; ++r) {
      const std::vector<std::string>& rec = records[r + 1];
      const std::string cell =
          static_cast<size_t>(k) < rec.size() ? rec[static_cast<size_t>(k)] : "";
      if (IsMissingText(cell)) continue;
      auto v = gantry::ParseCell(col, cell);
      if (v.ok()) {
        generated[c][r] = *v;
        continue;
      }
      double x;
      bool found = false;
      if ((col.type == gantry::ColumnType::kCategorical) && AsNumber(cell, &x)) {
        for (size_t l = 0; l < col.levels.size() && !found; ++l) {
          double y;
          if (AsNumber(col.levels[l], &y) && y == x) {
            generated[c][r] = static_cast<double>(l);
            found = true;
          }
        }
      }
      if (!found) {
        if (unparsed[c]++ == 0) first_bad[c] = cell;
      }
    }
  }
  gantry::JobSpec spec = gantry::TableDefaults();
  spec.dataset.table.data = data->table;
  spec.target = target;
  spec.eval_points = static_cast<int64_t>(n);
  auto evaluator = gantry::TableEvaluator::CreateWithSplit(data->table, spec, data->split);
  if (!evaluator.ok()) {
    std::cerr << "table_bench: " << evaluator.status().message() << "\n";
    return 2;
  }
  const auto t = Clock::now();
  const gantry::EvalMetrics m = (*evaluator)->Evaluate(generated);
  const double seconds = Since(t);
  int64_t total = 0;
  std::string detail;
  for (size_t c = 0; c < unparsed.size(); ++c) {
    total += unparsed[c];
    if (unparsed[c]) {
      detail += " " + schema.columns[c].name + "=" + std::to_string(unparsed[c]) + " (first '" +
                first_bad[c] + "')";
    }
  }
  std::printf("train_rows %zu held_out_rows %zu evaluate_seconds %.4f\n", data->split.train.size(),
              data->split.held_out.size(), seconds);
  std::printf("synthetic_rows %zu unparsed %lld%s\n", n, static_cast<long long>(total),
              detail.c_str());
  std::printf("figures %s\n", Figures(m).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gantry's table model on a CSV file (the CTGAN peer's interface), and gantry's evaluator on "
      "any CSV"};
  std::string csv, categorical, out, holdout, synthetic, target;
  int64_t epochs = 300, batch = 500, samples = 100000, threads = 1, eval_every = 10,
          eval_rows = 1000;
  uint64_t seed = 0, order_seed = 0;
  bool evaluate = false;
  app.add_option("--csv,--train", csv, "training rows")->required();
  app.add_option("--categorical,--discrete", categorical,
                 "columns to read as categorical, comma-separated");
  app.add_option("--holdout", holdout,
                 "held-out rows (the same columns): train on --csv, evaluate on these");
  app.add_option("--target", target, "the utility's target column (TSTR/TRTR)");
  app.add_option("--eval-every", eval_every, "with --holdout: epochs between evaluations");
  app.add_option("--eval-rows", eval_rows,
                 "generated rows an evaluation measures (--evaluate: the first ones)");
  app.add_option("--order-seed", order_seed,
                 "the shuffle of the training rows (DCR reference, utility baseline)");
  app.add_flag("--evaluate", evaluate,
               "evaluate --synthetic against --holdout with gantry's evaluator");
  app.add_option("--synthetic", synthetic,
                 "with --evaluate: the generated rows (CSV with a header)");
  app.add_option("--epochs", epochs);
  app.add_option("--batch-size", batch);
  app.add_option("--seed", seed);
  app.add_option("--samples", samples);
  app.add_option("--out", out, "where to write the sampled rows (CSV)");
  app.add_option("--threads", threads, "intra-op threads (gantry trains on 1)");
  CLI11_PARSE(app, argc, argv);
  (void)threads;
  gantry::UseSingleThreadedMath();

  if (evaluate) {
    if (holdout.empty() || synthetic.empty()) {
      std::cerr << "table_bench: --evaluate needs --holdout and --synthetic\n";
      return 2;
    }
    return RunEvaluate(csv, holdout, synthetic, categorical, target, eval_rows, order_seed);
  }

  const auto fit_start = Clock::now();
  gantry::JobSpec spec = gantry::TableDefaults();
  std::optional<gantry::TableSplit> split;
  if (holdout.empty()) {
    auto text = ReadFile(csv);
    if (!text.ok()) {
      std::cerr << "table_bench: " << text.status().message() << "\n";
      return 2;
    }
    gantry::TableOptions opt = Overrides(categorical);
    opt.file_name = csv;
    auto table = gantry::ParseTable(*text, opt);
    if (!table.ok()) {
      std::cerr << "table_bench: " << table.status().message() << "\n";
      return 2;
    }
    spec.dataset.table.data = std::make_shared<gantry::Table>(std::move(table).value());
    spec.eval_fraction = 0;
    spec.eval_every = epochs;
  } else {
    auto data = ReadSplit(csv, holdout, Overrides(categorical), order_seed);
    if (!data.ok()) {
      std::cerr << "table_bench: " << data.status().message() << "\n";
      return 2;
    }
    spec.dataset.table.data = data->table;
    split = std::move(data->split);
    spec.eval_every = eval_every;
    spec.eval_points = eval_rows;
    spec.select_by = gantry::Metric::kQuality;
  }
  spec.target = target;
  const double read_seconds = Since(fit_start);
  spec.epochs = epochs;
  spec.batch_size = batch;
  spec.seed = seed;
  auto trainer = split ? gantry::TableTrainer::CreateWithSplit(spec, *split)
                       : gantry::TableTrainer::Create(spec);
  if (!trainer.ok()) {
    std::cerr << "table_bench: " << trainer.status().message() << "\n";
    return 2;
  }
  std::vector<double> epoch_seconds;
  double eval_seconds = 0, keep_seconds = 0;
  int64_t evaluations = 0;
  std::shared_ptr<const gantry::GeneratorSnapshot> best;
  std::optional<gantry::EvalMetrics> best_metrics;
  int64_t best_epoch = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    const auto t = Clock::now();
    auto r = (*trainer)->RunEpoch();
    const double wall = Since(t);
    if (!r.ok()) {
      std::cerr << "table_bench: " << r.status().message() << "\n";
      return 1;
    }
    epoch_seconds.push_back(r->seconds);
    eval_seconds += std::max(0.0, wall - r->seconds);
    if (r->metrics) ++evaluations;
    if (split && r->metrics && r->best_epoch == r->epoch) {
      const auto k = Clock::now();
      best = (*trainer)->Snapshot();
      keep_seconds += Since(k);
      best_metrics = r->metrics;
      best_epoch = r->epoch;
    }
    if (e == 0 || e + 1 == epochs || (e + 1) % 50 == 0) {
      std::string m;
      if (r->metrics) {
        char buf[128];
        std::snprintf(buf, sizeof buf, " quality %.4f column_distance %.4f", r->metrics->quality,
                      r->metrics->column_distance);
        m = std::string(buf) + " dcr_share " + Opt(r->metrics->dcr_share);
      }
      std::printf("epoch %lld loss_d %.4f loss_g %.4f%s best_epoch %lld\n",
                  static_cast<long long>(e + 1), r->loss_d, r->loss_g, m.c_str(),
                  static_cast<long long>(r->best_epoch));
    }
    if (r->stop_reason.size()) break;
  }
  const double fit_seconds = Since(fit_start);

  auto snapshot = best ? best : (*trainer)->Snapshot();
  const auto sample_start = Clock::now();
  gantry::TableRowStream stream(snapshot, seed + 1, {}, 0, samples);
  std::vector<std::vector<double>> rows;
  gantry::Status st = stream.Next(samples, &rows);
  const double sample_seconds = Since(sample_start);
  if (!st.ok()) {
    std::cerr << "table_bench: " << st.message() << "\n";
    return 1;
  }
  if (!out.empty()) {
    std::ofstream o(out);
    const gantry::TableSchema& schema = snapshot->table()->schema();
    for (size_t c = 0; c < schema.columns.size(); ++c)
      o << (c ? "," : "") << gantry::CsvField(schema.columns[c].name);
    o << "\n";
    std::vector<std::vector<std::string>> text;
    for (size_t c = 0; c < schema.columns.size(); ++c)
      text.push_back(gantry::FormatColumn(schema.columns[c], rows[c]));
    for (int64_t r = 0; r < samples; ++r) {
      for (size_t c = 0; c < schema.columns.size(); ++c) {
        o << (c ? "," : "") << gantry::CsvField(text[c][static_cast<size_t>(r)]);
      }
      o << "\n";
    }
  }
  double training = 0;
  for (double s : epoch_seconds) training += s;
  const double mean = training / static_cast<double>(epoch_seconds.size());
  const int64_t rows_n =
      split ? static_cast<int64_t>(split->train.size()) : spec.dataset.table.data->rows();
  const int64_t steps = std::max<int64_t>(1, rows_n / batch);
  const double floor = steps * GemmFloorPerStep(batch, spec.latent_dim, (*trainer)->cond_width(),
                                                (*trainer)->encoded_width(), spec.generator_hidden,
                                                spec.discriminator_hidden, spec.pac);
  std::printf("encoded_width %lld cond_width %lld steps_per_epoch %lld read_seconds %.3f\n",
              static_cast<long long>((*trainer)->encoded_width()),
              static_cast<long long>((*trainer)->cond_width()), static_cast<long long>(steps),
              read_seconds);
  // Sampling's floor: the generator's matrix products alone for the rows.
  {
    std::vector<std::array<int64_t, 3>> mm;
    int64_t dim = spec.latent_dim + (*trainer)->cond_width();
    for (int64_t h : spec.generator_hidden) {
      mm.push_back({gantry::kSampleBlock, dim, h});
      dim += h;
    }
    mm.push_back({gantry::kSampleBlock, dim, (*trainer)->encoded_width()});
    std::vector<at::Tensor> a, b;
    for (const auto& x : mm) {
      a.push_back(torch::randn({x[0], x[1]}));
      b.push_back(torch::randn({x[1], x[2]}));
    }
    for (size_t i = 0; i < mm.size(); ++i) (void)at::mm(a[i], b[i]);
    const int64_t blocks = (samples + gantry::kSampleBlock - 1) / gantry::kSampleBlock;
    const auto t = Clock::now();
    for (int64_t k = 0; k < blocks; ++k) {
      for (size_t i = 0; i < mm.size(); ++i) (void)at::mm(a[i], b[i]);
    }
    const double sample_floor = Since(t);
    std::printf("sample_gemm_floor_seconds %.4f sample_over_floor %.2f\n", sample_floor,
                sample_seconds / sample_floor);
  }
  if (split) {
    std::printf("best_epoch %lld evaluations %lld figures %s\n", static_cast<long long>(best_epoch),
                static_cast<long long>(evaluations),
                best_metrics ? Figures(*best_metrics).c_str() : "-");
    std::printf(
        "evaluation_seconds %.4f training_seconds %.4f share %.4f keep_best_seconds %.4f "
        "eval_every %lld\n",
        eval_seconds, training, training > 0 ? eval_seconds / training : 0.0, keep_seconds,
        static_cast<long long>(eval_every));
  }
  std::printf("epoch_over_gemm_floor %.2f\n", mean / floor);
  std::printf("epoch_seconds mean %.4f first %.4f last %.4f preprocess_seconds %.3f\n", mean,
              epoch_seconds.front(), epoch_seconds.back(),
              read_seconds + (*trainer)->preprocess_seconds());
  std::printf("sample_seconds %.4f sampled %lld\n", sample_seconds,
              static_cast<long long>(samples));
  std::printf("fit_seconds %.3f epochs %lld rows %lld\n", fit_seconds,
              static_cast<long long>(epoch_seconds.size()), static_cast<long long>(rows_n));
  std::printf("gemm_floor_seconds_per_epoch %.4f\n", floor);
  return 0;
}
