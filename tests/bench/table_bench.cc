// table_bench: gantry's table model on a CSV file, with the interface and
// the closing lines of the CTGAN peer's runner (shared peers/ctgan/
// run_ctgan.py), so that tests/bench/table_bench.py runs both alike:
//
//   table_bench --csv TRAIN.csv --categorical a,b --epochs 300 --batch-size 500
//               --seed 0 --samples 100000 --out SYNTH.csv [--threads 1]
//
// prints, last:
//   epoch_seconds mean M first F last L preprocess_seconds P
//   sample_seconds S sampled N
//   fit_seconds X epochs E rows R
//   gemm_floor_seconds_per_epoch G ratio Q
// Every row of the file trains (eval_fraction 0, as CTGAN fits all it is
// given); evaluation runs only on the last epoch. fit_seconds counts
// reading and typing the CSV, the codec, and all epochs. The GEMM floor is
// the same matrix products alone (forward and backward of every linear
// layer in a step, at the model's shapes), timed per epoch; Q is the
// measured mean epoch over it.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/runtime.h"
#include "core/table_codec.h"
#include "core/table_sample.h"
#include "core/table_trainer.h"
#include "core/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
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
      mm.push_back({m, out, in});   // grad input
      mm.push_back({out, m, in});   // grad weight
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

int main(int argc, char** argv) {
  CLI::App app{"gantry's table model on a CSV file (the CTGAN peer's interface)"};
  std::string csv, categorical, out;
  int64_t epochs = 300, batch = 500, samples = 100000, threads = 1;
  uint64_t seed = 0;
  app.add_option("--csv", csv, "training rows")->required();
  app.add_option("--categorical,--discrete", categorical, "columns to read as categorical, comma-separated");
  app.add_option("--epochs", epochs);
  app.add_option("--batch-size", batch);
  app.add_option("--seed", seed);
  app.add_option("--samples", samples);
  app.add_option("--out", out, "where to write the sampled rows (CSV)");
  app.add_option("--threads", threads, "intra-op threads (gantry trains on 1)");
  CLI11_PARSE(app, argc, argv);
  (void)threads;
  gantry::UseSingleThreadedMath();

  const auto fit_start = Clock::now();
  std::ifstream f(csv, std::ios::binary);
  if (!f) {
    std::cerr << "table_bench: cannot read " << csv << "\n";
    return 2;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  gantry::TableOptions opt;
  opt.file_name = csv;
  for (const std::string& c : SplitList(categorical)) opt.overrides[c] = gantry::ColumnType::kCategorical;
  auto table = gantry::ParseTable(ss.str(), opt);
  if (!table.ok()) {
    std::cerr << "table_bench: " << table.status().message() << "\n";
    return 2;
  }
  const double read_seconds = Since(fit_start);
  gantry::JobSpec spec = gantry::TableDefaults();
  spec.dataset.table.data = std::make_shared<gantry::Table>(std::move(table).value());
  spec.epochs = epochs;
  spec.batch_size = batch;
  spec.seed = seed;
  spec.eval_fraction = 0;
  spec.eval_every = epochs;
  auto trainer = gantry::TableTrainer::Create(spec);
  if (!trainer.ok()) {
    std::cerr << "table_bench: " << trainer.status().message() << "\n";
    return 2;
  }
  std::vector<double> epoch_seconds;
  for (int64_t e = 0; e < epochs; ++e) {
    const auto t = Clock::now();
    auto r = (*trainer)->RunEpoch();
    if (!r.ok()) {
      std::cerr << "table_bench: " << r.status().message() << "\n";
      return 1;
    }
    epoch_seconds.push_back(Since(t));
    if (e == 0 || e + 1 == epochs || (e + 1) % 50 == 0) {
      std::printf("epoch %lld loss_d %.4f loss_g %.4f%s\n", static_cast<long long>(e + 1), r->loss_d,
                  r->loss_g,
                  r->metrics ? (" column_distance " + std::to_string(r->metrics->column_distance)).c_str() : "");
    }
  }
  const double fit_seconds = Since(fit_start);

  auto snapshot = (*trainer)->Snapshot();
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
    for (size_t c = 0; c < schema.columns.size(); ++c) o << (c ? "," : "") << schema.columns[c].name;
    o << "\n";
    std::vector<std::vector<std::string>> text;
    for (size_t c = 0; c < schema.columns.size(); ++c) text.push_back(gantry::FormatColumn(schema.columns[c], rows[c]));
    for (int64_t r = 0; r < samples; ++r) {
      for (size_t c = 0; c < schema.columns.size(); ++c) {
        const std::string& cell = text[c][static_cast<size_t>(r)];
        o << (c ? "," : "");
        if (cell.find_first_of(",\"\n") != std::string::npos) {
          std::string q = "\"";
          for (char ch : cell) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
          o << q << "\"";
        } else {
          o << cell;
        }
      }
      o << "\n";
    }
  }
  double mean = 0;
  for (double s : epoch_seconds) mean += s;
  mean /= static_cast<double>(epoch_seconds.size());
  const int64_t rows_n = spec.dataset.table.data->rows();
  const int64_t steps = std::max<int64_t>(1, rows_n / batch);
  const double floor = steps * GemmFloorPerStep(batch, spec.latent_dim, (*trainer)->cond_width(),
                                                (*trainer)->encoded_width(), spec.generator_hidden,
                                                spec.discriminator_hidden, spec.pac);
  std::printf("encoded_width %lld cond_width %lld steps_per_epoch %lld read_seconds %.3f\n",
              static_cast<long long>((*trainer)->encoded_width()), static_cast<long long>((*trainer)->cond_width()),
              static_cast<long long>(steps), read_seconds);
  std::printf("epoch_seconds mean %.4f first %.4f last %.4f preprocess_seconds %.3f\n", mean,
              epoch_seconds.front(), epoch_seconds.back(), read_seconds + (*trainer)->preprocess_seconds());
  std::printf("sample_seconds %.4f sampled %lld\n", sample_seconds, static_cast<long long>(samples));
  std::printf("fit_seconds %.3f epochs %lld rows %lld\n", fit_seconds, static_cast<long long>(epochs),
              static_cast<long long>(rows_n));
  std::printf("gemm_floor_seconds_per_epoch %.4f\n", floor);
  std::printf("epoch_over_gemm_floor %.2f\n", mean / floor);
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
  return 0;
}
