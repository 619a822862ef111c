#include "client/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

namespace gantry::cli {
namespace {

constexpr double kWidth = 900, kHeight = 620;

struct Rgb {
  double r, g, b;
};
constexpr Rgb kReal{0.62, 0.62, 0.62};
constexpr Rgb kGenerated{0.85, 0.33, 0.10};
constexpr Rgb kLossD{0.00, 0.45, 0.74};
constexpr Rgb kLossG{0.85, 0.33, 0.10};
constexpr Rgb kQuality{0.47, 0.67, 0.19};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A Cairo surface for `path`: PNG or SVG.
class Canvas {
 public:
  static std::unique_ptr<Canvas> Open(const std::string& path, std::string* error) {
    auto c = std::unique_ptr<Canvas>(new Canvas());
    c->path_ = path;
    if (EndsWith(path, ".svg")) {
      c->surface_ = cairo_svg_surface_create(path.c_str(), kWidth, kHeight);
    } else if (EndsWith(path, ".png")) {
      c->png_ = true;
      c->surface_ = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, kWidth, kHeight);
    } else {
      *error = path + ": the plot file must end in .png or .svg";
      return nullptr;
    }
    if (cairo_surface_status(c->surface_) != CAIRO_STATUS_SUCCESS) {
      *error = path + ": " + cairo_status_to_string(cairo_surface_status(c->surface_));
      return nullptr;
    }
    c->cr_ = cairo_create(c->surface_);
    cairo_set_source_rgb(c->cr_, 1, 1, 1);
    cairo_paint(c->cr_);
    return c;
  }
  ~Canvas() {
    if (cr_) cairo_destroy(cr_);
    if (surface_) cairo_surface_destroy(surface_);
  }
  cairo_t* cr() { return cr_; }
  std::string Finish() {
    cairo_surface_flush(surface_);
    if (png_) {
      const cairo_status_t st = cairo_surface_write_to_png(surface_, path_.c_str());
      if (st != CAIRO_STATUS_SUCCESS) return path_ + ": " + cairo_status_to_string(st);
    }
    cairo_surface_finish(surface_);
    const cairo_status_t st = cairo_surface_status(surface_);
    return st == CAIRO_STATUS_SUCCESS ? "" : path_ + ": " + cairo_status_to_string(st);
  }

 private:
  Canvas() = default;
  std::string path_;
  bool png_ = false;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void Add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  void Pad() {
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
    const double m = (hi - lo) * 0.05;
    lo -= m, hi += m;
  }
};

double NiceStep(double range) {
  const double raw = range / 6;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

// A plotting area inside the canvas, with axes and ticks.
struct Panel {
  double left, top, width, height;
  Range x, y;
  double X(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double Y(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

void Text(cairo_t* cr, double x, double y, const std::string& s, double size, bool center = false) {
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_move_to(cr, center ? x - ext.width / 2 : x, y);
  cairo_show_text(cr, s.c_str());
}

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

void DrawAxes(cairo_t* cr, const Panel& p, const std::string& xlabel, const std::string& ylabel) {
  cairo_set_line_width(cr, 1);
  for (int axis = 0; axis < 2; ++axis) {
    const Range& r = axis == 0 ? p.x : p.y;
    const double step = NiceStep(r.hi - r.lo);
    for (double v = std::ceil(r.lo / step) * step; v <= r.hi + 1e-12; v += step) {
      cairo_set_source_rgb(cr, 0.92, 0.92, 0.92);
      if (axis == 0) {
        cairo_move_to(cr, p.X(v), p.top);
        cairo_line_to(cr, p.X(v), p.top + p.height);
      } else {
        cairo_move_to(cr, p.left, p.Y(v));
        cairo_line_to(cr, p.left + p.width, p.Y(v));
      }
      cairo_stroke(cr);
      if (axis == 0) {
        Text(cr, p.X(v), p.top + p.height + 16, Fmt(v), 11, true);
      } else {
        Text(cr, p.left - 48, p.Y(v) + 4, Fmt(v), 11);
      }
    }
  }
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, p.left, p.top, p.width, p.height);
  cairo_stroke(cr);
  Text(cr, p.left + p.width / 2, p.top + p.height + 34, xlabel, 12, true);
  cairo_save(cr);
  cairo_move_to(cr, p.left - 56, p.top + p.height / 2);
  cairo_rotate(cr, -M_PI / 2);
  Text(cr, 0, 0, "", 12);
  cairo_restore(cr);
  Text(cr, p.left - 56, p.top - 8, ylabel, 12);
}

void Legend(cairo_t* cr, double x, double y, const std::vector<std::pair<std::string, Rgb>>& items) {
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, x - 8, y - 16, 178, 18.0 * items.size() + 8);
  cairo_fill(cr);
  for (const auto& [label, c] : items) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_rectangle(cr, x, y - 9, 12, 10);
    cairo_fill(cr);
    Text(cr, x + 18, y, label, 12);
    y += 18;
  }
}

void Dots(cairo_t* cr, const Panel& p, const PointSet& s, Rgb c, double radius, double strip_y) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.75);
  const int dim = std::max(1, s.dim);
  for (size_t i = 0; i + dim <= s.values.size(); i += dim) {
    const double x = s.values[i];
    const double y = dim >= 2 ? s.values[i + 1] : strip_y;
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    cairo_new_sub_path(cr);
    cairo_arc(cr, p.X(x), p.Y(y), radius, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

void Line(cairo_t* cr, const Panel& p, const std::vector<double>& xs, const std::vector<double>& ys,
          Rgb c) {
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
  cairo_set_line_width(cr, 1.8);
  bool started = false;
  for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
    if (!std::isfinite(ys[i])) continue;
    if (!started) cairo_move_to(cr, p.X(xs[i]), p.Y(ys[i]));
    else cairo_line_to(cr, p.X(xs[i]), p.Y(ys[i]));
    started = true;
  }
  cairo_stroke(cr);
}

}  // namespace

std::string PlotSamples(const std::string& path, const std::string& title, const PointSet& real,
                        const PointSet& generated, const std::string& x_name, const std::string& y_name) {
  std::string error;
  auto canvas = Canvas::Open(path, &error);
  if (!canvas) return error;
  cairo_t* cr = canvas->cr();
  Panel p{80, 60, kWidth - 120, kHeight - 130, {}, {}};
  const bool strip = std::max(real.dim, generated.dim) < 2;
  for (const PointSet* s : {&real, &generated}) {
    const int dim = std::max(1, s->dim);
    for (size_t i = 0; i + dim <= s->values.size(); i += dim) {
      p.x.Add(s->values[i]);
      if (!strip) p.y.Add(s->values[i + 1]);
    }
  }
  if (strip) p.y.Add(0), p.y.Add(1);
  p.x.Pad();
  p.y.Pad();
  const int dim = std::max(real.dim, generated.dim);
  DrawAxes(cr, p, x_name, strip ? "" : y_name);
  Dots(cr, p, real, kReal, 2.2, 0);
  Dots(cr, p, generated, kGenerated, 2.6, 1);
  std::string heading = title;
  if (dim > 2) heading += " (first 2 of " + std::to_string(dim) + " dimensions)";
  Text(cr, p.left, 30, heading, 16);
  Legend(cr, p.left + p.width - 180, p.top + 22,
         {{"real (" + std::to_string(real.values.size() / std::max(1, real.dim)) + ")", kReal},
          {"generated (" + std::to_string(generated.values.size() / std::max(1, generated.dim)) +
               ")",
           kGenerated}});
  return canvas->Finish();
}

std::string PlotTraining(const std::string& path, const std::string& title,
                         const TrainingCurves& c) {
  std::string error;
  auto canvas = Canvas::Open(path, &error);
  if (!canvas) return error;
  cairo_t* cr = canvas->cr();
  Panel top{80, 60, kWidth - 120, 290, {}, {}};
  Panel bottom{80, 410, kWidth - 120, 150, {}, {}};
  for (double e : c.epoch) top.x.Add(e), bottom.x.Add(e);
  for (double v : c.loss_d) top.y.Add(v);
  for (double v : c.loss_g) top.y.Add(v);
  for (double v : c.quality) bottom.y.Add(v);
  for (Panel* p : {&top, &bottom}) p->x.Pad(), p->y.Pad();
  bottom.y.lo = std::max(0.0, bottom.y.lo);
  DrawAxes(cr, top, "", "mean loss");
  DrawAxes(cr, bottom, "epoch", "quality (sliced W1, lower is better)");
  Line(cr, top, c.epoch, c.loss_d, kLossD);
  Line(cr, top, c.epoch, c.loss_g, kLossG);
  Line(cr, bottom, c.epoch, c.quality, kQuality);
  Text(cr, top.left, 30, title, 16);
  Legend(cr, top.left + top.width - 180, top.top + 22,
         {{"discriminator", kLossD}, {"generator", kLossG}});
  return canvas->Finish();
}

}  // namespace gantry::cli
