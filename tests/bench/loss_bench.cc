// Benchmark (printed, never asserted): each loss trained on ring8 and grid25
// over 5 seeds with the same budget (epochs, networks, batch, learning
// rate), and the quality each reaches: the median and worst final and
// best-epoch held-out sliced W1 and coverage, and how many of the 8 / 25
// modes the best epoch's generator covers (a mode is covered when at least
// 1% of 4000 generated points fall within 3 standard deviations of its
// centre). Runs two trainings at a time.
//
//   build/bin/loss_bench [--epochs N] [--seeds K] [--size N] [--batch B] [--lr X]
//                        [--beta1 X] [--dropout P]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/trainer.h"

namespace {

using gantry::DatasetKind;
using gantry::JobSpec;
using gantry::Loss;

struct Variant {
  const char* name;
  Loss loss;
  bool spectral_norm;
};

const Variant kVariants[] = {{"bce", Loss::kBce, false},
                             {"bce + spectral_norm", Loss::kBce, true},
                             {"non_saturating", Loss::kNonSaturating, false},
                             {"hinge", Loss::kHinge, false},
                             {"wgan_gp (n_critic 5)", Loss::kWganGp, false}};

struct Result {
  double final_w1 = 0, best_w1 = 0, final_cov = 0, best_cov = 0;
  int final_modes = 0, best_modes = 0;
  int64_t best_epoch = 0;
  double seconds = 0;
};

std::vector<std::pair<float, float>> Centres(DatasetKind kind) {
  std::vector<std::pair<float, float>> c;
  if (kind == DatasetKind::kRing8) {
    for (int k = 0; k < 8; ++k) c.push_back({2 * std::cos(k * M_PI / 4), 2 * std::sin(k * M_PI / 4)});
  } else {
    for (int i = -4; i <= 4; i += 2) {
      for (int j = -4; j <= 4; j += 2) c.push_back({static_cast<float>(i), static_cast<float>(j)});
    }
  }
  return c;
}

int ModesCovered(const gantry::GeneratorSnapshot& g, DatasetKind kind) {
  constexpr int64_t kPoints = 4000;
  const at::Tensor p = g.Sample(12345, 0, kPoints).contiguous();
  const float* x = p.data_ptr<float>();
  const double sigma = gantry::DefaultNoise(kind);
  int covered = 0;
  for (const auto& [cx, cy] : Centres(kind)) {
    int64_t near = 0;
    for (int64_t i = 0; i < kPoints; ++i) {
      const double dx = x[2 * i] - cx, dy = x[2 * i + 1] - cy;
      near += std::sqrt(dx * dx + dy * dy) <= 3 * sigma;
    }
    covered += near >= kPoints / 100;
  }
  return covered;
}

Result RunOne(JobSpec spec) {
  const auto t0 = std::chrono::steady_clock::now();
  auto trainer = gantry::Trainer::Create(spec);
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    std::exit(1);
  }
  Result r;
  std::shared_ptr<const gantry::GeneratorSnapshot> best;
  gantry::EpochReport last;
  while (!(*trainer)->finished()) {
    auto rep = (*trainer)->RunEpoch();
    if (!rep.ok()) {
      std::fprintf(stderr, "%s\n", rep.status().ToString().c_str());
      std::exit(1);
    }
    if (rep->metrics && rep->best_epoch == rep->epoch) best = (*trainer)->Snapshot();
    last = std::move(*rep);
  }
  r.final_w1 = last.metrics->sliced_w1;
  r.final_cov = last.metrics->coverage;
  r.best_w1 = last.best_metrics->sliced_w1;
  r.best_cov = last.best_metrics->coverage;
  r.best_epoch = last.best_epoch;
  r.final_modes = ModesCovered(*(*trainer)->Snapshot(), spec.dataset.kind);
  r.best_modes = ModesCovered(*best, spec.dataset.kind);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t epochs = 300, size = 2048, batch = 128;
  int seeds = 5;
  double lr = 0.001, beta1 = 0.5, dropout = 0.0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--epochs" && i + 1 < argc) epochs = std::atoll(argv[++i]);
    else if (flag == "--seeds" && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (flag == "--size" && i + 1 < argc) size = std::atoll(argv[++i]);
    else if (flag == "--batch" && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (flag == "--lr" && i + 1 < argc) lr = std::atof(argv[++i]);
    else if (flag == "--beta1" && i + 1 < argc) beta1 = std::atof(argv[++i]);
    else if (flag == "--dropout" && i + 1 < argc) dropout = std::atof(argv[++i]);
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  spdlog::set_level(spdlog::level::warn);
  struct Task {
    DatasetKind kind;
    size_t variant;
    int seed;
    Result result;
  };
  std::vector<Task> tasks;
  for (DatasetKind kind : {DatasetKind::kRing8, DatasetKind::kGrid25}) {
    for (size_t v = 0; v < std::size(kVariants); ++v) {
      for (int s = 1; s <= seeds; ++s) tasks.push_back({kind, v, s, {}});
    }
  }
  std::printf("each run: %lld epochs of %lld points, batch %lld, G 2-128-128-2, D 2-128-128-1 (dropout %g),\n"
              "Adam lr %g, beta1 %g, evaluation every 5 epochs on 512 points; %d seeds per row;\n"
              "medians (worst)\n\n",
              static_cast<long long>(epochs), static_cast<long long>(size), static_cast<long long>(batch),
              dropout, lr, beta1, seeds);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < tasks.size();) {
      JobSpec spec;
      spec.dataset.kind = tasks[i].kind;
      spec.dataset.size = size;
      spec.generator_hidden = {128, 128};
      spec.discriminator_hidden = {128, 128};
      spec.batch_size = batch;
      spec.learning_rate = lr;
      spec.beta1 = beta1;
      spec.dropout = dropout;
      spec.epochs = epochs;
      spec.eval_every = 5;
      spec.preview_points = 0;
      spec.seed = static_cast<uint64_t>(tasks[i].seed);
      spec.loss = kVariants[tasks[i].variant].loss;
      spec.spectral_norm = kVariants[tasks[i].variant].spectral_norm;
      tasks[i].result = RunOne(spec);
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();

  for (DatasetKind kind : {DatasetKind::kRing8, DatasetKind::kGrid25}) {
    const int modes = kind == DatasetKind::kRing8 ? 8 : 25;
    std::printf("%s (%d modes)\n", gantry::DatasetKindName(kind), modes);
    std::printf("%-22s %17s %17s %15s %15s %11s %11s %8s\n", "loss", "final sliced W1",
                "best sliced W1", "final coverage", "best coverage", "final modes", "best modes",
                "s/run");
    for (size_t v = 0; v < std::size(kVariants); ++v) {
      std::vector<double> fw, bw, fc, bc, fm, bm, secs;
      for (const Task& t : tasks) {
        if (t.kind != kind || t.variant != v) continue;
        fw.push_back(t.result.final_w1);
        bw.push_back(t.result.best_w1);
        fc.push_back(t.result.final_cov);
        bc.push_back(t.result.best_cov);
        fm.push_back(t.result.final_modes);
        bm.push_back(t.result.best_modes);
        secs.push_back(t.result.seconds);
      }
      auto worst_hi = [](const std::vector<double>& x) { return *std::max_element(x.begin(), x.end()); };
      auto worst_lo = [](const std::vector<double>& x) { return *std::min_element(x.begin(), x.end()); };
      char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
      std::snprintf(c1, sizeof c1, "%.3f (%.3f)", Median(fw), worst_hi(fw));
      std::snprintf(c2, sizeof c2, "%.3f (%.3f)", Median(bw), worst_hi(bw));
      std::snprintf(c3, sizeof c3, "%.2f (%.2f)", Median(fc), worst_lo(fc));
      std::snprintf(c4, sizeof c4, "%.2f (%.2f)", Median(bc), worst_lo(bc));
      std::snprintf(c5, sizeof c5, "%.0f (%.0f)", Median(fm), worst_lo(fm));
      std::snprintf(c6, sizeof c6, "%.0f (%.0f)", Median(bm), worst_lo(bm));
      std::printf("%-22s %17s %17s %15s %15s %11s %11s %8.1f\n", kVariants[v].name, c1, c2, c3, c4, c5,
                  c6, Median(secs));
    }
    std::printf("\n");
  }
  return 0;
}
