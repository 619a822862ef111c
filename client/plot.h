// Plots with Cairo, as PNG or SVG (chosen by the file's extension).
#pragma once

#include <string>
#include <vector>

namespace gantry::cli {

struct PointSet {
  int dim = 0;
  std::vector<float> values;  // row-major
};

// Generated points over the real data (the first two dimensions; a 1-D set
// is drawn as a strip), the axes named x_name and y_name. Returns an error
// message, or "" on success.
std::string PlotSamples(const std::string& path, const std::string& title, const PointSet& real,
                        const PointSet& generated, const std::string& x_name = "x0",
                        const std::string& y_name = "x1");

struct TrainingCurves {
  std::vector<double> epoch, loss_d, loss_g, quality;
};

// Mean losses (top panel) and the quality figure (bottom panel) by epoch.
std::string PlotTraining(const std::string& path, const std::string& title,
                         const TrainingCurves& curves);

}  // namespace gantry::cli
