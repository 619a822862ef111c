// Benchmark: the seed job (300 epochs, seed 111) trained by gantry's core and
// by the tutorial's PyTorch program, one after the other in this invocation,
// each on one thread with one OpenBLAS thread. Prints both times, their
// ratio, and the largest loss difference between the two.
//
//   build/bin/seed_bench [--epochs N] [--seed S]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/trainer.h"
#include "tests/common/reference.h"

int main(int argc, char** argv) {
  gantry::JobSpec spec;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--epochs") spec.epochs = std::atoll(argv[i + 1]);
    else if (flag == "--seed") spec.seed = std::strtoull(argv[i + 1], nullptr, 10);
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  std::printf("seed job: %lld epochs, seed %llu, dataset sine 1024, batch 32\n",
              static_cast<long long>(spec.epochs), static_cast<unsigned long long>(spec.seed));

  const auto r0 = std::chrono::steady_clock::now();
  const gantry::testing::ReferenceRun ref =
      gantry::testing::RunReference(spec.seed, static_cast<int>(spec.epochs));
  const double ref_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();

  const auto c0 = std::chrono::steady_clock::now();
  auto trainer = gantry::Trainer::Create(spec);
  if (!trainer.ok()) { std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str()); return 1; }
  double max_diff = 0, train_seconds = 0;
  for (int64_t e = 0; e < spec.epochs; ++e) {
    auto r = (*trainer)->RunEpoch();
    if (!r.ok()) { std::fprintf(stderr, "%s\n", r.status().ToString().c_str()); return 1; }
    train_seconds += r->seconds;
    max_diff = std::max({max_diff, std::fabs(r->last_loss_d - ref.epochs[e].loss_d),
                         std::fabs(r->last_loss_g - ref.epochs[e].loss_g)});
  }
  const double ours = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();

  std::printf("reference (python3-torch, training loop): %8.2f s  (process %.2f s)\n",
              ref.train_seconds, ref_wall);
  std::printf("gantry core (training only):              %8.2f s\n", train_seconds);
  std::printf("gantry core (with per-epoch reports):     %8.2f s\n", ours);
  std::printf("speed-up, training loop vs reference:     %8.2fx\n", ref.train_seconds / train_seconds);
  std::printf("speed-up, with reports vs reference:      %8.2fx\n", ref.train_seconds / ours);
  std::printf("largest last-batch loss difference:       %.3g\n", max_diff);
  return max_diff <= 1e-6 ? 0 : 1;
}
