// EpochReport: what a trainer says about each epoch. Plain values, no
// LibTorch types, so that the server can convert it without torch headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gantry {

struct EpochReport {
  int64_t epoch = 0;         // 1-based: the number of epochs completed
  double loss_d = 0;         // mean discriminator loss over the epoch's batches
  double loss_g = 0;         // mean generator loss
  double last_loss_d = 0;    // the last batch's (what the seed program prints)
  double last_loss_g = 0;
  double d_real = 0;         // mean D(x) over the epoch's real samples
  double d_fake = 0;         // mean D(G(z)) over the discriminator step's fakes
  double quality = 0;        // sliced Wasserstein-1, generated vs real (lower is better)
  std::optional<double> sine_error;  // sine only: mean |y - sin x| of generated points
  double seconds = 0;        // wall time of the epoch's training (not reporting)
  std::string trainer_path;  // "fast" or "aten": the loop that trained this epoch
  int64_t dim = 0;           // dimension of the preview points
  std::vector<float> preview;  // preview_points generated points, row-major
};

}  // namespace gantry
