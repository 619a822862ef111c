#include "client/report_render.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gantry::cli {
namespace {

// Layout units: PNG pixels before kPngScale, SVG pixels, PDF points before
// the page's scale.
constexpr double kPageWidth = 1000;
constexpr double kMargin = 32;
constexpr double kContentWidth = kPageWidth - 2 * kMargin;
constexpr double kGap = 18;                                // between figures and pieces
constexpr double kPngScale = 1.25;                         // PNG pixels per layout unit
constexpr double kPdfPageHeight = kPageWidth * 297 / 210;  // A4's proportions
constexpr double kPdfScale = 595.0 / kPageWidth;           // A4 width in points

struct Rgb {
  double r, g, b;
};
constexpr Rgb kInk{0.13, 0.13, 0.13};
constexpr Rgb kMuted{0.40, 0.40, 0.40};
constexpr Rgb kGrid{0.90, 0.90, 0.90};
constexpr Rgb kFrame{0.55, 0.55, 0.55};
constexpr Rgb kRealColor{0.26, 0.46, 0.70};       // steel blue
constexpr Rgb kSyntheticColor{0.93, 0.49, 0.13};  // orange
constexpr Rgb kUndefined{0.80, 0.80, 0.80};
constexpr Rgb kNegative{0.23, 0.30, 0.75};  // the diverging scale's ends
constexpr Rgb kPositive{0.71, 0.02, 0.15};
// The scores-over-epochs series.
constexpr Rgb kSeriesColors[] = {{0.13, 0.13, 0.13},
                                 {0.26, 0.46, 0.70},
                                 {0.47, 0.67, 0.19},
                                 {0.80, 0.15, 0.15},
                                 {0.58, 0.40, 0.74}};

void SetColor(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

// ------------------------------------------------------------------ text

enum class Align { kLeft, kCenter, kRight };

// The same metrics on every surface (image surfaces hint them by default,
// vector ones do not): what is measured is what is drawn.
void PrepareContext(cairo_t* cr) {
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
}

void SetFont(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double TextWidth(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  return ext.x_advance;
}

// A context for measuring text before anything is drawn.
cairo_t* Measurer() {
  static cairo_t* cr = [] {
    cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t* c = cairo_create(s);
    cairo_surface_destroy(s);
    PrepareContext(c);
    return c;
  }();
  return cr;
}

// Drops invalid UTF-8 (Cairo refuses to draw a string holding any) and
// control characters.
std::string CleanUtf8(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (int k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (!ok) {
      ++i;
      continue;
    }
    if (n == 1 && c < 0x20) {
      out += ' ';
    } else {
      out.append(s, i, n);
    }
    i += n;
  }
  return out;
}

// `s` cut at a character boundary and ended with an ellipsis so that it is
// at most `max_width` wide in the current font ("" when not even "…" fits).
std::string Ellipsize(cairo_t* cr, const std::string& s, double max_width) {
  if (TextWidth(cr, s) <= max_width) return s;
  static const std::string kEllipsis = "\xE2\x80\xA6";
  std::vector<size_t> cuts;  // character boundaries
  for (size_t i = 1; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) cuts.push_back(i);
  }
  size_t lo = 0, hi = cuts.size();  // the longest prefix that fits: cuts[0..lo)
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    if (TextWidth(cr, s.substr(0, cuts[mid - 1]) + kEllipsis) <= max_width) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  if (lo == 0) return TextWidth(cr, kEllipsis) <= max_width ? kEllipsis : "";
  std::string head = s.substr(0, cuts[lo - 1]);
  while (!head.empty() && head.back() == ' ') head.pop_back();
  return head + kEllipsis;
}

// `s` with characters from its middle replaced by an ellipsis so that it is
// at most `max_width` wide: names that share a prefix stay apart.
std::string EllipsizeMiddle(cairo_t* cr, const std::string& s, double max_width) {
  if (TextWidth(cr, s) <= max_width) return s;
  static const std::string kEllipsis = "\xE2\x80\xA6";
  std::vector<size_t> starts;  // character starts
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  const size_t n = starts.size();
  const auto keep = [&](size_t k) {  // the first ceil(k/2) and the last floor(k/2) characters
    const size_t head = (k + 1) / 2, tail = k / 2;
    return s.substr(0, head < n ? starts[head] : s.size()) + kEllipsis + s.substr(starts[n - tail]);
  };
  size_t lo = 0, hi = n - 1;  // the most characters kept that fit
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    if (TextWidth(cr, keep(mid)) <= max_width) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  if (lo < 4) return Ellipsize(cr, s, max_width);
  return keep(lo);
}

// Draws `s` with its baseline at y, ellipsised to max_width (0: no limit).
void Text(cairo_t* cr, double x, double y, const std::string& s, Align align = Align::kLeft,
          double max_width = 0, Rgb color = kInk) {
  const std::string t = max_width > 0 ? Ellipsize(cr, s, max_width) : s;
  if (t.empty()) return;
  const double w = TextWidth(cr, t);
  SetColor(cr, color);
  cairo_move_to(cr, align == Align::kLeft ? x : align == Align::kCenter ? x - w / 2 : x - w, y);
  cairo_show_text(cr, t.c_str());
  cairo_new_path(cr);
}

// Words of `s` in lines at most `width` wide (a word wider than that is
// ellipsised), in the current font.
std::vector<std::string> Wrap(cairo_t* cr, const std::string& s, double width) {
  std::vector<std::string> lines;
  std::string line;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j == i) break;
    const std::string word = s.substr(i, j - i);
    i = j;
    const std::string joined = line.empty() ? word : line + " " + word;
    if (TextWidth(cr, joined) <= width) {
      line = joined;
      continue;
    }
    if (!line.empty()) lines.push_back(line);
    line = TextWidth(cr, word) <= width ? word : Ellipsize(cr, word, width);
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string Printf(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A score or share: 3 decimals ("0.873"); "-" when not finite.
std::string Score(double v) { return std::isfinite(v) ? Printf("%.3f", v) : "-"; }
std::string Percent(double v) {
  if (!std::isfinite(v)) return "-";
  return Printf(v != 0 && std::fabs(v) < 0.001 ? "%.3f%%" : "%.1f%%", v * 100);
}
std::string Count(int64_t n) { return std::to_string(n); }

// A number on an axis: short.
std::string AxisNumber(double v) {
  const double a = std::fabs(v);
  if (a < 1e-12) return "0";
  if (a >= 1e4 && a < 1e7) return Printf("%.0f", v);  // 41270, not 4.127e+04
  return Printf(a >= 1e7 || a < 1e-3 ? "%.3g" : "%.4g", v);
}

// Days since 1970-01-01 as a civil date (H. Hinnant's algorithm), with the
// time of day when `with_time`.
std::string DateOfDays(double days, bool with_time) {
  if (!std::isfinite(days) || std::fabs(days) > 1e7) return AxisNumber(days);
  const double whole = std::floor(days);
  int64_t z = static_cast<int64_t>(whole) + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[96];
  if (with_time) {
    const int minutes = static_cast<int>(std::lround((days - whole) * 24 * 60)) % (24 * 60);
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02d:%02d", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d), minutes / 60, minutes % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d));
  }
  return buf;
}

std::string TypeName(v1::ColumnType type) {
  switch (type) {
    case v1::COLUMN_TYPE_CONTINUOUS:
      return "continuous";
    case v1::COLUMN_TYPE_INTEGER:
      return "integer";
    case v1::COLUMN_TYPE_CATEGORICAL:
      return "categorical";
    case v1::COLUMN_TYPE_BOOLEAN:
      return "boolean";
    case v1::COLUMN_TYPE_DATETIME:
      return "datetime";
    default:
      return "column";
  }
}

bool Numeric(v1::ColumnType type) {
  return type == v1::COLUMN_TYPE_CONTINUOUS || type == v1::COLUMN_TYPE_INTEGER ||
         type == v1::COLUMN_TYPE_DATETIME;
}

double NiceStep(double range, int ticks) {
  if (!(range > 0) || !std::isfinite(range)) return 1;
  const double raw = range / ticks;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ------------------------------------------------------------------ layout

// A figure draws itself inside (0, 0)..(width, height); it is clipped there.
// HTML shows `html` in its place when set (tables), else the drawing as
// inline SVG titled `label` (what a screen reader says, a tooltip).
struct Figure {
  double width = 0, height = 0;
  std::function<void(cairo_t*)> draw;
  std::string html;
  std::string label;
  bool html_skip = false;  // HTML: nothing (an earlier figure's html holds it)
};

// A part of the report: a heading, paragraphs, then figures flowed left to
// right in rows.
struct Section {
  std::string heading;
  double heading_size = 16;
  std::vector<std::string> notes;
  std::vector<Figure> figures;
};

constexpr double kNoteSize = 12, kNoteLine = 17;

// The privacy verdict is the one note set in bold.
bool IsVerdict(const std::string& note) { return note.rfind("Verdict: ", 0) == 0; }

// What Cairo formats lay out: a piece of height `height` drawn at the
// content's left edge; a heading keeps with what follows it.
struct Piece {
  double height = 0;
  std::function<void(cairo_t*)> draw;
  bool keep_with_next = false;
};

std::vector<Piece> Layout(const std::vector<Section>& sections) {
  std::vector<Piece> pieces;
  for (const Section& section : sections) {
    if (!section.heading.empty() || !section.notes.empty()) {
      cairo_t* m = Measurer();
      std::vector<std::pair<std::string, bool>> lines;  // (text, emphasised: the verdict)
      for (const std::string& note : section.notes) {
        const bool strong = IsVerdict(note);
        SetFont(m, kNoteSize, strong);
        for (auto& line : Wrap(m, CleanUtf8(note), kContentWidth))
          lines.emplace_back(std::move(line), strong);
      }
      const double head = section.heading.empty() ? 0 : section.heading_size * 1.6;
      Piece p;
      p.height = head + lines.size() * kNoteLine + 4;
      p.keep_with_next = !section.figures.empty();
      const std::string heading = CleanUtf8(section.heading);
      const double size = section.heading_size;
      p.draw = [heading, size, head, lines](cairo_t* cr) {
        if (!heading.empty()) {
          SetFont(cr, size, true);
          Text(cr, 0, size * 1.15, heading, Align::kLeft, kContentWidth);
        }
        for (size_t i = 0; i < lines.size(); ++i) {
          const auto& [line, strong] = lines[i];
          SetFont(cr, kNoteSize, strong);
          Text(cr, 0, head + (i + 0.8) * kNoteLine, line, Align::kLeft, kContentWidth,
               strong ? kInk : kMuted);
        }
      };
      pieces.push_back(std::move(p));
    }
    // Rows of figures.
    size_t i = 0;
    while (i < section.figures.size()) {
      std::vector<std::pair<double, const Figure*>> row;
      double x = 0, height = 0;
      while (i < section.figures.size()) {
        const Figure& f = section.figures[i];
        const double w = std::min(f.width, kContentWidth);
        if (!row.empty() && x + w > kContentWidth + 1e-9) break;
        row.emplace_back(x, &f);
        x += w + kGap;
        height = std::max(height, f.height);
        ++i;
      }
      Piece p;
      p.height = height + kGap;
      p.draw = [row](cairo_t* cr) {
        for (const auto& [x, f] : row) {
          cairo_save(cr);
          cairo_translate(cr, x, 0);
          cairo_rectangle(cr, 0, 0, f->width, f->height);
          cairo_clip(cr);
          f->draw(cr);
          cairo_restore(cr);
        }
      };
      pieces.push_back(std::move(p));
    }
    if (!pieces.empty()) pieces.back().height += 8;  // a little more between sections
  }
  return pieces;
}

cairo_status_t AppendBytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

std::string SurfaceError(cairo_surface_t* s, const char* what) {
  const cairo_status_t st = cairo_surface_status(s);
  return st == CAIRO_STATUS_SUCCESS ? "" : std::string(what) + ": " + cairo_status_to_string(st);
}

// Draws the pieces one under the other on one surface of kPageWidth x
// (their height + margins): `make` creates it for that size.
std::string DrawContinuous(const std::vector<Piece>& pieces, double scale,
                           const std::function<cairo_surface_t*(double, double)>& make,
                           cairo_surface_t** out) {
  double height = 2 * kMargin;
  for (const Piece& p : pieces) height += p.height;
  cairo_surface_t* surface = make(std::ceil(kPageWidth * scale), std::ceil(height * scale));
  *out = surface;
  if (std::string e = SurfaceError(surface, "cannot create the surface"); !e.empty()) return e;
  cairo_t* cr = cairo_create(surface);
  PrepareContext(cr);
  cairo_scale(cr, scale, scale);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  double y = kMargin;
  for (const Piece& p : pieces) {
    cairo_save(cr);
    cairo_translate(cr, kMargin, y);
    p.draw(cr);
    cairo_restore(cr);
    y += p.height;
  }
  const cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  return st == CAIRO_STATUS_SUCCESS ? "" : std::string("drawing: ") + cairo_status_to_string(st);
}

// PDF: pages of A4's proportions; a piece goes to the next page when it does
// not fit (with the heading before it); one taller than a page is scaled down.
// The page's number and the report's title, in the bottom margin.
void Footer(cairo_t* cr, const std::string& title, int page) {
  SetFont(cr, 9);
  const std::string number = "page " + std::to_string(page);
  Text(cr, kPageWidth - kMargin, kPdfPageHeight - kMargin / 2, number, Align::kRight, 0, kMuted);
  Text(cr, kMargin, kPdfPageHeight - kMargin / 2, title, Align::kLeft,
       kContentWidth - TextWidth(cr, number) - 20, kMuted);
}

std::string DrawPages(const std::vector<Piece>& pieces, const std::string& title,
                      std::string* bytes) {
  cairo_surface_t* surface = cairo_pdf_surface_create_for_stream(
      AppendBytes, bytes, kPageWidth * kPdfScale, kPdfPageHeight * kPdfScale);
  if (std::string e = SurfaceError(surface, "cannot create the PDF"); !e.empty()) {
    cairo_surface_destroy(surface);
    return e;
  }
  cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title.c_str());
  cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "gantry report");
  cairo_t* cr = cairo_create(surface);
  PrepareContext(cr);
  cairo_scale(cr, kPdfScale, kPdfScale);
  const double room = kPdfPageHeight - 2 * kMargin;
  double y = kMargin;
  int page = 1;
  for (size_t i = 0; i < pieces.size(); ++i) {
    double need = pieces[i].height;
    if (pieces[i].keep_with_next && i + 1 < pieces.size()) {
      need += std::min(pieces[i + 1].height, room - pieces[i].height);
    }
    if (y > kMargin && y + need > kMargin + room) {
      Footer(cr, title, page++);
      cairo_show_page(cr);
      y = kMargin;
    }
    const double fit = pieces[i].height > room ? room / pieces[i].height : 1.0;
    cairo_save(cr);
    cairo_translate(cr, kMargin, y);
    cairo_scale(cr, fit, fit);
    pieces[i].draw(cr);
    cairo_restore(cr);
    y += pieces[i].height * fit;
  }
  Footer(cr, title, page);
  cairo_show_page(cr);
  const cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  std::string e = SurfaceError(surface, "writing the PDF");
  cairo_surface_destroy(surface);
  if (st != CAIRO_STATUS_SUCCESS) return std::string("drawing: ") + cairo_status_to_string(st);
  return e;
}

// One figure as an SVG element for HTML: Cairo's SVG output with its XML
// declaration and namespace declarations removed (HTML gives inline <svg>
// its namespaces) and its ids prefixed with `prefix`, so that the glyphs and
// clips of one figure are not taken for another's.
std::string FigureSvg(const Figure& f, const std::string& prefix, std::string* error) {
  std::string svg;
  cairo_surface_t* surface =
      cairo_svg_surface_create_for_stream(AppendBytes, &svg, f.width, f.height);
  cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX);
  cairo_t* cr = cairo_create(surface);
  PrepareContext(cr);
  cairo_rectangle(cr, 0, 0, f.width, f.height);
  cairo_clip(cr);
  f.draw(cr);
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  *error = SurfaceError(surface, "writing an SVG figure");
  cairo_surface_destroy(surface);
  if (const size_t start = svg.find("<svg"); start != std::string::npos) svg.erase(0, start);
  const auto replace_all = [&svg](const std::string& from, const std::string& to) {
    for (size_t at = svg.find(from); at != std::string::npos; at = svg.find(from, at + to.size())) {
      svg.replace(at, from.size(), to);
    }
  };
  replace_all(" xmlns=\"http://www.w3.org/2000/svg\"", "");
  replace_all(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "");
  replace_all("id=\"", "id=\"" + prefix);
  replace_all("href=\"#", "href=\"#" + prefix);
  replace_all("url(#", "url(#" + prefix);
  // Scale with the page: the drawing's own size is its largest.
  if (const size_t tag = svg.find("<svg"); tag != std::string::npos) {
    const std::string label = HtmlEscape(CleanUtf8(f.label));
    svg.insert(tag + 4,
               " role=\"img\" aria-label=\"" + label + "\" style=\"max-width:100%;height:auto\"");
    if (const size_t end = svg.find('>', tag); end != std::string::npos && !label.empty()) {
      svg.insert(end + 1, "\n<title>" + label + "</title>");
    }
  }
  return svg;
}

// ------------------------------------------------------------------ tables

struct TextTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<double> widths;  // per column; their sum is the table's width
  std::vector<bool> numeric;   // right-aligned
};

constexpr double kRowHeight = 21, kCellPad = 6, kTableFont = 11.5;

Figure TableFigure(const TextTable& t) {
  Figure f;
  for (double w : t.widths) f.width += w;
  f.height = kRowHeight * (1 + t.rows.size()) + 2;
  f.draw = [t, width = f.width](cairo_t* cr) {
    const auto row_text = [&](const std::vector<std::string>& cells, double y, bool bold) {
      SetFont(cr, kTableFont, bold);
      double x = 0;
      for (size_t c = 0; c < t.widths.size() && c < cells.size(); ++c) {
        const double room = t.widths[c] - 2 * kCellPad;
        const std::string cell = CleanUtf8(cells[c]);
        if (t.numeric[c]) {
          Text(cr, x + t.widths[c] - kCellPad, y, cell, Align::kRight, room);
        } else {
          Text(cr, x + kCellPad, y, cell, Align::kLeft, room);
        }
        x += t.widths[c];
      }
    };
    for (size_t r = 0; r < t.rows.size(); ++r) {
      if (r % 2 == 0) {
        cairo_set_source_rgb(cr, 0.965, 0.965, 0.965);
        cairo_rectangle(cr, 0, kRowHeight * (r + 1), width, kRowHeight);
        cairo_fill(cr);
      }
    }
    row_text(t.header, kRowHeight * 0.7, true);
    SetColor(cr, kFrame);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, 0, kRowHeight + 0.5);
    cairo_line_to(cr, width, kRowHeight + 0.5);
    cairo_stroke(cr);
    for (size_t r = 0; r < t.rows.size(); ++r) row_text(t.rows[r], kRowHeight * (r + 1.7), false);
  };
  return f;
}

std::string TableHtml(const TextTable& t) {
  std::string out = "<table>\n<thead><tr>";
  for (size_t c = 0; c < t.header.size(); ++c) {
    out += std::string(t.numeric[c] ? "<th class=\"n\">" : "<th>") +
           HtmlEscape(CleanUtf8(t.header[c])) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t c = 0; c < row.size(); ++c) {
      out += std::string(c < t.numeric.size() && t.numeric[c] ? "<td class=\"n\">" : "<td>") +
             HtmlEscape(CleanUtf8(row[c])) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

// A table: the same rows drawn (in figures of at most kTableRowsPerFigure
// rows, each with the header, so that pages can break between them) and
// in HTML (one table).
constexpr size_t kTableRowsPerFigure = 40;

void AddTable(Section* s, const TextTable& t) {
  for (size_t from = 0; from < std::max<size_t>(t.rows.size(), 1); from += kTableRowsPerFigure) {
    TextTable part = t;
    part.rows.assign(t.rows.begin() + from,
                     t.rows.begin() + std::min(t.rows.size(), from + kTableRowsPerFigure));
    Figure f = TableFigure(part);
    if (from == 0) f.html = TableHtml(t);
    f.html_skip = from > 0;
    s->figures.push_back(std::move(f));
  }
}

// ------------------------------------------------------------------ sections

std::string JobTitle(const v1::TableReport& r) {
  if (!r.job_name().empty() && r.job_name() != r.job_id())
    return r.job_name() + " (" + r.job_id() + ")";
  return r.job_id();
}

Section TitleSection(const v1::TableReport& r) {
  Section s;
  s.heading = "Table report: " + JobTitle(r);
  s.heading_size = 22;
  std::string line = "epoch " + std::to_string(r.epoch()) + " reported";
  if (r.best_epoch() > 0) {
    line += r.epoch() == r.best_epoch() ? ", the best epoch"
                                        : "; best epoch " + std::to_string(r.best_epoch());
    if (!r.select_by().empty()) line += " by " + r.select_by();
  }
  s.notes.push_back(line);
  s.notes.push_back(std::to_string(r.synthetic_rows()) + " synthetic rows compared with " +
                    std::to_string(r.real_rows()) + " held-out real rows, " +
                    std::to_string(r.columns_size()) + " columns");
  return s;
}

Section ScoresSection(const v1::TableReport& r) {
  const v1::Metrics& m = r.metrics();
  Section s;
  s.heading = "Scores";
  s.notes.push_back(
      "0 to 1, higher is better (SDMetrics' definitions), synthetic rows against the held-out "
      "rows.");
  TextTable t;
  t.header = {"score", "value", "what it measures"};
  t.widths = {190, 80, kContentWidth - 270};
  t.numeric = {false, true, false};
  t.rows = {
      {"overall quality", Score(m.quality()), "the mean of column shapes and column pair trends"},
      {"column shapes", Score(m.column_shapes()),
       "each column's distribution against the real one (KS / TV complement), averaged"},
      {"column pair trends", Score(m.column_pairs()),
       "correlations and contingency tables of column pairs kept, averaged"},
      {"missing-value similarity", Score(m.missing_similarity()),
       "each column's share of missing cells matches the real share"},
      {"coverage", Score(m.column_coverage()),
       "the share of the real range / categories the synthetic values span"},
      {"adherence", Score(m.adherence()),
       "the share of synthetic values inside the real min..max / real categories"},
  };
  AddTable(&s, t);
  return s;
}

Section PrivacySection(const v1::TableReport& r) {
  Section s;
  s.heading = "Privacy";
  if (!r.has_privacy()) {
    s.notes.push_back(
        "No privacy figures: the job holds out no rows (eval_fraction 0), so there is "
        "nothing unseen to compare with.");
    return s;
  }
  const v1::PrivacyReport& p = r.privacy();
  std::string verdict = "Verdict: " + (p.verdict().empty() ? std::string("-") : p.verdict());
  s.notes.push_back(verdict);
  if (r.has_max_dcr_share()) {
    const bool met = p.dcr_share() <= r.max_dcr_share();
    s.notes.push_back("Constraint max_dcr_share " + Score(r.max_dcr_share()) + ": " +
                      (met ? "met" : "NOT met") + " (DCR share " + Score(p.dcr_share()) + ").");
  }
  TextTable t;
  t.header = {"figure", "synthetic", "held-out", "what it means"};
  t.widths = {170, 90, 90, kContentWidth - 350};
  t.numeric = {false, true, true, false};
  t.rows = {
      {"DCR share", Score(p.dcr_share()), "",
       "synthetic rows nearer a training row than any held-out row: about 0.5 is no memorisation"},
      {"exact copies", Percent(p.exact_copies()), Percent(p.holdout_exact_copies()),
       "rows equal to a training row; held-out: real rows that happen to be duplicates"},
      {"DCR, 5th percentile", Score(p.dcr_p5()), Score(p.holdout_dcr_p5()),
       "distance to the closest training row; synthetic far below held-out: too close"},
      {"rows compared", Count(p.synthetic_rows()), Count(p.reference_rows()),
       "against as many training rows as held-out rows"},
  };
  AddTable(&s, t);
  return s;
}

Section UtilitySection(const v1::TableReport& r) {
  Section s;
  s.heading = "Utility: train on synthetic, test on real";
  const v1::UtilityReport& u = r.utility();
  const bool classification = u.task() == "classification";
  s.notes.push_back(std::string("A ") +
                    (classification ? "logistic regression" : "ridge regression") + " predicts " +
                    u.target() +
                    " from the other columns, trained once on synthetic rows "
                    "and once on as many real training rows, both tested on the held-out rows.");
  TextTable t;
  t.header = {"target", "task",           "score",     "synthetic",  "real",
              "ratio",  "acc. synthetic", "acc. real", "train rows", "test rows"};
  t.widths = {150, 100, 74, 80, 70, 66, 108, 82, 86, 0};
  double used = 0;
  for (double w : t.widths) used += w;
  t.widths.back() = kContentWidth - used;
  t.numeric = {false, false, false, true, true, true, true, true, true, true};
  const double ratio = u.real() != 0 ? u.synthetic() / u.real() : NAN;
  t.rows = {{u.target(), u.task(), u.score_name(), Score(u.synthetic()), Score(u.real()),
             Score(ratio), classification ? Score(u.synthetic_accuracy()) : "-",
             classification ? Score(u.real_accuracy()) : "-", Count(u.train_rows()),
             Count(u.test_rows())}};
  AddTable(&s, t);
  return s;
}

// Scores over epochs: a line chart of every evaluated epoch.
Section HistorySection(const v1::TableReport& r) {
  Section s;
  s.heading = "Scores over epochs";
  if (r.history_size() == 0) {
    s.notes.push_back("No evaluated epochs.");
    return s;
  }
  struct Series {
    std::string name;
    std::vector<double> values;  // NaN where the epoch lacks it
  };
  std::vector<double> epochs;
  std::vector<Series> series = {{"quality", {}},
                                {"column shapes", {}},
                                {"column pairs", {}},
                                {"DCR share", {}},
                                {"utility", {}}};
  bool has_dcr = false, has_utility = false;
  for (const auto& h : r.history()) {
    epochs.push_back(static_cast<double>(h.epoch()));
    const v1::Metrics& m = h.metrics();
    series[0].values.push_back(m.quality());
    series[1].values.push_back(m.column_shapes());
    series[2].values.push_back(m.column_pairs());
    series[3].values.push_back(m.has_dcr_share() ? m.dcr_share() : NAN);
    series[4].values.push_back(m.has_utility() ? m.utility() : NAN);
    has_dcr |= m.has_dcr_share();
    has_utility |= m.has_utility();
  }
  std::vector<std::pair<Series, Rgb>> shown;
  for (size_t i = 0; i < series.size(); ++i) {
    if ((i == 3 && !has_dcr) || (i == 4 && !has_utility)) continue;
    shown.emplace_back(series[i], kSeriesColors[i]);
  }
  s.notes.push_back(std::to_string(r.history_size()) + " evaluated epochs" +
                    (r.best_epoch() > 0 ? "; the dashed line marks the best epoch, " +
                                              std::to_string(r.best_epoch())
                                        : "") +
                    (has_dcr ? "; DCR share is best near 0.5, the others near 1" : "") + ".");
  const double best = static_cast<double>(r.best_epoch());
  const std::optional<double> max_dcr =
      r.has_max_dcr_share() && has_dcr ? std::optional<double>(r.max_dcr_share()) : std::nullopt;
  Figure f;
  f.width = kContentWidth;
  f.height = 300;
  f.draw = [epochs, shown, best, max_dcr, w = f.width, h = f.height](cairo_t* cr) {
    const double left = 48, top = 22, right = w - 190, bottom = h - 40;
    double x_lo = epochs.front(), x_hi = epochs.back();
    if (x_hi - x_lo < 1) x_lo -= 0.5, x_hi += 0.5;
    double y_lo = 0, y_hi = 1;
    for (const auto& [ser, c] : shown) {
      for (double v : ser.values) {
        if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
      }
    }
    y_lo = std::max(y_lo, -1.0);  // R^2 can be far below 0; the chart stops at -1
    const auto X = [&](double v) { return left + (v - x_lo) / (x_hi - x_lo) * (right - left); };
    const auto Y = [&](double v) {
      v = std::clamp(v, y_lo, y_hi);
      return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top);
    };
    cairo_set_line_width(cr, 1);
    SetFont(cr, 10.5);
    const double ystep = NiceStep(y_hi - y_lo, 5);
    for (double v = std::ceil(y_lo / ystep - 1e-9) * ystep; v <= y_hi + 1e-9; v += ystep) {
      SetColor(cr, kGrid);
      cairo_move_to(cr, left, std::round(Y(v)) + 0.5);
      cairo_line_to(cr, right, std::round(Y(v)) + 0.5);
      cairo_stroke(cr);
      Text(cr, left - 6, Y(v) + 4, AxisNumber(v), Align::kRight, left - 8, kMuted);
    }
    // Epoch ticks: integers, spaced so that their labels do not touch.
    double xstep = std::max(1.0, NiceStep(x_hi - x_lo, 8));
    while ((X(x_lo + xstep) - X(x_lo)) < TextWidth(cr, AxisNumber(x_hi)) + 12) xstep *= 2;
    for (double v = std::ceil(x_lo / xstep - 1e-9) * xstep; v <= x_hi + 1e-9; v += xstep) {
      Text(cr, X(v), bottom + 15, AxisNumber(v), Align::kCenter, 0, kMuted);
    }
    Text(cr, (left + right) / 2, bottom + 32, "epoch", Align::kCenter, 0, kMuted);
    SetColor(cr, kFrame);
    cairo_rectangle(cr, left + 0.5, top + 0.5, right - left, bottom - top);
    cairo_stroke(cr);
    if (max_dcr) {
      cairo_set_source_rgba(cr, kSeriesColors[3].r, kSeriesColors[3].g, kSeriesColors[3].b, 0.6);
      const double dash[] = {2, 3};
      cairo_set_dash(cr, dash, 2, 0);
      cairo_move_to(cr, left, Y(*max_dcr));
      cairo_line_to(cr, right, Y(*max_dcr));
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    if (best > 0) {
      SetColor(cr, kMuted);
      const double dash[] = {5, 4};
      cairo_set_dash(cr, dash, 2, 0);
      cairo_move_to(cr, X(best), top);
      cairo_line_to(cr, X(best), bottom);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
      // Above the plot, kept inside it horizontally.
      const std::string label = "best epoch " + AxisNumber(best);
      const double lw = TextWidth(cr, label);
      Text(cr, std::clamp(X(best) - lw / 2, left, right - lw), top - 7, label, Align::kLeft, 0,
           kMuted);
    }
    for (const auto& [ser, c] : shown) {
      SetColor(cr, c);
      cairo_set_line_width(cr, 1.8);
      bool started = false;
      for (size_t i = 0; i < epochs.size(); ++i) {
        if (!std::isfinite(ser.values[i])) {
          started = false;
          continue;
        }
        if (started)
          cairo_line_to(cr, X(epochs[i]), Y(ser.values[i]));
        else
          cairo_move_to(cr, X(epochs[i]), Y(ser.values[i]));
        started = true;
      }
      cairo_stroke(cr);
      if (epochs.size() <= 60) {
        for (size_t i = 0; i < epochs.size(); ++i) {
          if (!std::isfinite(ser.values[i])) continue;
          cairo_arc(cr, X(epochs[i]), Y(ser.values[i]), 2.4, 0, 2 * M_PI);
          cairo_fill(cr);
        }
      }
    }
    // The legend, right of the plot.
    double ly = top + 10;
    SetFont(cr, 11.5);
    for (const auto& [ser, c] : shown) {
      SetColor(cr, c);
      cairo_set_line_width(cr, 2.5);
      cairo_move_to(cr, right + 16, ly - 4);
      cairo_line_to(cr, right + 38, ly - 4);
      cairo_stroke(cr);
      Text(cr, right + 44, ly, ser.name, Align::kLeft, w - right - 46);
      ly += 19;
    }
    const auto dashed_entry = [&](const std::string& name, Rgb c, double on, double off) {
      SetColor(cr, c);
      cairo_set_line_width(cr, 1);
      const double dash[] = {on, off};
      cairo_set_dash(cr, dash, 2, 0);
      cairo_move_to(cr, right + 16, ly - 4);
      cairo_line_to(cr, right + 38, ly - 4);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
      Text(cr, right + 44, ly, name, Align::kLeft, w - right - 46);
      ly += 19;
    };
    if (best > 0) dashed_entry("best epoch", kMuted, 5, 4);
    if (max_dcr) dashed_entry("max_dcr_share", kSeriesColors[3], 2, 3);
  };
  f.label = "scores over epochs";
  s.figures.push_back(std::move(f));
  return s;
}

// A square of colour with a label, for legends; returns the x after it.
double LegendEntry(cairo_t* cr, double x, double baseline, const std::string& label, Rgb c) {
  SetColor(cr, c);
  cairo_rectangle(cr, x, baseline - 8, 9, 9);
  cairo_fill(cr);
  Text(cr, x + 12, baseline, label, Align::kLeft, 0, kMuted);
  return x + 12 + TextWidth(cr, label) + 10;
}

constexpr double kChartWidth = (kContentWidth - 2 * kGap) / 3;
constexpr double kChartHeight = 230;

// The name of a categorical column's i-th bar: its level, or "missing" for
// the bar of missing cells the server puts last (as numeric charts say it).
std::string LevelLabel(const v1::ColumnReport& col, int i) {
  if (i >= col.labels_size()) return "?";
  if (i == col.labels_size() - 1 && col.labels(i) == "(missing)") return "missing";
  return CleanUtf8(col.labels(i));
}

// One column's real and synthetic distributions, side by side.
Figure ColumnFigure(const v1::ColumnReport& col) {
  Figure f;
  f.width = kChartWidth;
  f.height = kChartHeight;
  f.label = col.name() + ": real and synthetic distributions";
  f.draw = [col, w = f.width, h = f.height](cairo_t* cr) {
    const bool numeric = Numeric(col.type()) && col.edges_size() >= 2;
    const int bins = numeric ? col.edges_size() - 1 : 0;
    const int bars = std::min(col.real_size(), col.synthetic_size());
    // The header: name; type, metric and score with the legend at the right.
    SetFont(cr, 12, true);
    Text(cr, 0, 13, CleanUtf8(col.name()), Align::kLeft, w);
    SetFont(cr, 10);
    const double legend_w = TextWidth(cr, "real") + TextWidth(cr, "synthetic") + 2 * 22;
    LegendEntry(cr, LegendEntry(cr, w - legend_w, 29, "real", kRealColor), 29, "synthetic",
                kSyntheticColor);
    const std::string score = col.has_shape() ? Score(col.shape()) : "undefined";
    Text(cr, 0, 29, TypeName(col.type()) + " \xC2\xB7 " + col.shape_metric() + " " + score,
         Align::kLeft, w - legend_w - 6, kMuted);
    if (bars == 0) {
      Text(cr, w / 2, h / 2, "no values", Align::kCenter, w, kMuted);
      return;
    }
    // Extra bars after a numeric column's bins: "(missing)" (labels name them).
    const int extras = numeric ? std::max(0, bars - bins) : 0;
    const double left = 38, top = 40, right = w - 4;
    // Categorical level names: across when they fit their slots, else
    // upright (read bottom to top) in a band as deep as the longest needs.
    SetFont(cr, 9);
    double widest_label = 0;
    if (!numeric) {
      for (int i = 0; i < bars; ++i) {
        widest_label = std::max(widest_label, TextWidth(cr, LevelLabel(col, i)));
      }
    }
    const double level_slot = (right - left) / std::max(1, bars);
    const bool across = numeric || widest_label + 4 <= level_slot;
    const double label_band = across ? 30 : std::clamp(widest_label + 10, 30.0, 70.0);
    const double bottom = h - label_band;
    double y_hi = 0;
    for (int i = 0; i < bars; ++i) y_hi = std::max({y_hi, col.real(i), col.synthetic(i)});
    if (!(y_hi > 0)) y_hi = 1;
    SetFont(cr, 9);
    const double ystep = NiceStep(y_hi, 4);
    y_hi = std::ceil(y_hi / ystep - 1e-9) * ystep;
    const auto Y = [&](double v) {
      return bottom - std::clamp(v, 0.0, y_hi) / y_hi * (bottom - top);
    };
    cairo_set_line_width(cr, 1);
    for (double v = 0; v <= y_hi + 1e-12; v += ystep) {
      SetColor(cr, kGrid);
      cairo_move_to(cr, left, std::round(Y(v)) + 0.5);
      cairo_line_to(cr, right, std::round(Y(v)) + 0.5);
      cairo_stroke(cr);
      Text(cr, left - 4, Y(v) + 3, Printf(ystep < 0.01 ? "%.1f%%" : "%.0f%%", v * 100),
           Align::kRight, left - 5, kMuted);
    }
    // Slots: numeric bins fill the plot but for a fixed area for extra bars
    // at the right; categorical levels share the plot evenly.
    const double extra_area = extras > 0 ? 48.0 * extras : 0;
    const double main_right = right - extra_area;
    const int main_slots = numeric ? bins : bars;
    const double slot = (main_right - left) / std::max(1, main_slots);
    const auto draw_pair = [&](double x0, double width, int i) {
      const double bw = width * (numeric && i < bins ? 0.46 : 0.40);
      const double mid = x0 + width / 2;
      cairo_set_source_rgb(cr, kRealColor.r, kRealColor.g, kRealColor.b);
      cairo_rectangle(cr, mid - bw, Y(col.real(i)), bw, bottom - Y(col.real(i)));
      cairo_fill(cr);
      cairo_set_source_rgb(cr, kSyntheticColor.r, kSyntheticColor.g, kSyntheticColor.b);
      cairo_rectangle(cr, mid, Y(col.synthetic(i)), bw, bottom - Y(col.synthetic(i)));
      cairo_fill(cr);
    };
    for (int i = 0; i < main_slots; ++i) draw_pair(left + i * slot, slot, i);
    const double extra_slot = std::min(slot, 16.0);
    for (int e = 0; e < extras; ++e) {
      const double cx = main_right + 48.0 * e + 24;
      draw_pair(cx - extra_slot / 2, extra_slot, bins + e);
    }
    SetColor(cr, kFrame);
    cairo_move_to(cr, left, bottom + 0.5);
    cairo_line_to(cr, right, bottom + 0.5);
    cairo_stroke(cr);
    SetFont(cr, 9);
    if (numeric) {
      const bool dates = col.type() == v1::COLUMN_TYPE_DATETIME;
      const bool with_time = dates && col.edges(bins) - col.edges(0) < 3;
      const auto label_of = [&](int i) {
        return dates ? DateOfDays(col.edges(i), with_time) : AxisNumber(col.edges(i));
      };
      // Edge labels at every `step`-th edge, kept inside the bins' span:
      // their left ends, or none when two would come closer than 6 units.
      const auto place = [&](int step) {
        std::vector<std::pair<int, double>> at;  // (edge, left end)
        double last_right = -1e9;
        for (int i = 0; i <= bins; i += step) {
          const double lw = TextWidth(cr, label_of(i));
          const double x =
              std::clamp(left + i * slot - lw / 2, 0.0, std::max(0.0, main_right - lw));
          if (x < last_right + 6) return std::vector<std::pair<int, double>>{};
          at.emplace_back(i, x);
          last_right = x + lw;
        }
        return at;
      };
      // As many as fit: 20, 10, 5, 4, 2 or 1 intervals; else the first edge alone.
      std::vector<std::pair<int, double>> at = {{0, 0.0}};
      for (int k : {20, 10, 5, 4, 2, 1}) {
        if (bins % k != 0) continue;
        if (auto placed = place(bins / k); !placed.empty()) {
          at = std::move(placed);
          break;
        }
      }
      for (const auto& [i, x] : at) {
        SetColor(cr, kFrame);
        cairo_move_to(cr, left + i * slot + 0.5, bottom);
        cairo_line_to(cr, left + i * slot + 0.5, bottom + 4);
        cairo_stroke(cr);
        Text(cr, x, bottom + 15, label_of(i), Align::kLeft, main_right - x, kMuted);
      }
      for (int e = 0; e < extras; ++e) {
        std::string label = col.labels_size() == extras ? col.labels(e) : "(missing)";
        if (label == "(missing)") label = "missing";
        Text(cr, main_right + 48.0 * e + 24, bottom + 15, label, Align::kCenter, 46, kMuted);
      }
    } else if (across) {
      for (int i = 0; i < bars; ++i) {
        const std::string label = LevelLabel(col, i);
        Text(cr, left + (i + 0.5) * slot, bottom + 15, label, Align::kCenter, slot - 2, kMuted);
      }
    } else {
      // Every k-th name when they are denser than the font.
      const int every = std::max(1, static_cast<int>(std::ceil(11.0 / slot)));
      for (int i = 0; i < bars; i += every) {
        const std::string label = LevelLabel(col, i);
        const double cx = left + (i + 0.5) * slot;
        cairo_save(cr);
        cairo_translate(cr, cx + 3.5, bottom + 4);
        cairo_rotate(cr, -M_PI / 2);
        Text(cr, 0, 0, label, Align::kRight, label_band - 6, kMuted);
        cairo_restore(cr);
      }
    }
  };
  return f;
}

Section ColumnsSection(const v1::TableReport& r) {
  Section s;
  s.heading = "Columns: real and synthetic distributions";
  const int shown = std::min(r.columns_size(), kMaxReportChartColumns);
  s.notes.push_back(
      "Each column's scores: its shape (KS or TV complement), missing cells, coverage "
      "and adherence; then its distributions: shares of all rows per bin (numeric: 20 "
      "equal-width bins over the real range) or per level (categorical: the most frequent "
      "real levels).");
  if (shown < r.columns_size()) {
    s.notes.push_back("Showing the first " + std::to_string(shown) + " of " +
                      std::to_string(r.columns_size()) + " columns.");
  }
  TextTable t;
  t.header = {"column",       "type",           "shape metric", "shape",
              "missing real", "missing synth.", "coverage",     "adherence"};
  t.widths = {0, 92, 118, 64, 96, 110, 80, 84};
  double used = 0;
  for (double w : t.widths) used += w;
  t.widths[0] = kContentWidth - used;
  t.numeric = {false, false, false, true, true, true, true, true};
  for (const auto& c : r.columns()) {
    t.rows.push_back({c.name(), TypeName(c.type()), c.shape_metric(),
                      c.has_shape() ? Score(c.shape()) : "-", Percent(c.missing_real()),
                      Percent(c.missing_synthetic()), Score(c.coverage()), Score(c.adherence())});
  }
  AddTable(&s, t);
  for (int i = 0; i < shown; ++i) s.figures.push_back(ColumnFigure(r.columns(i)));
  return s;
}

// The diverging colour of an association in [-1, 1]; grey when undefined.
Rgb Diverging(double v) {
  if (!std::isfinite(v)) return kUndefined;
  v = std::clamp(v, -1.0, 1.0);
  const Rgb end = v < 0 ? kNegative : kPositive;
  const double t = std::fabs(v);
  return {1 + (end.r - 1) * t, 1 + (end.g - 1) * t, 1 + (end.b - 1) * t};
}

struct HeatmapGeometry {
  double cell = 0, label = 0, font = 0;
  int every = 1;  // a name every `every` rows and columns
};

// n x n values, row-major; NaN undefined.
Figure HeatmapFigure(const std::string& title, const std::vector<std::string>& names,
                     const std::vector<double>& values, const HeatmapGeometry& g) {
  const int n = static_cast<int>(names.size());
  Figure f;
  f.width = std::max(g.label + n * g.cell + 8, 270.0);  // room for the title and the scale
  f.height = 22 + g.label + n * g.cell + 42;
  f.label = "associations between columns: " + title;
  f.draw = [title, names, values, g, n, w = f.width](cairo_t* cr) {
    SetFont(cr, 12, true);
    Text(cr, 0, 14, title, Align::kLeft, w);
    const double x0 = g.label, y0 = 22 + g.label;
    for (int a = 0; a < n; ++a) {
      for (int b = 0; b < n; ++b) {
        const Rgb c = Diverging(values[a * n + b]);
        SetColor(cr, c);
        cairo_rectangle(cr, x0 + b * g.cell, y0 + a * g.cell, g.cell, g.cell);
        cairo_fill(cr);
      }
    }
    if (g.cell >= 6) {  // hairlines between cells
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_set_line_width(cr, 0.6);
      for (int k = 1; k < n; ++k) {
        cairo_move_to(cr, x0 + k * g.cell, y0);
        cairo_line_to(cr, x0 + k * g.cell, y0 + n * g.cell);
        cairo_move_to(cr, x0, y0 + k * g.cell);
        cairo_line_to(cr, x0 + n * g.cell, y0 + k * g.cell);
      }
      cairo_stroke(cr);
    }
    SetColor(cr, kFrame);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0, y0, n * g.cell, n * g.cell);
    cairo_stroke(cr);
    SetFont(cr, g.font);
    for (int k = 0; k < n; k += g.every) {
      const double mid = (k + 0.5) * g.cell + g.font * 0.35;
      const std::string name = EllipsizeMiddle(cr, names[k], g.label - 6);
      Text(cr, x0 - 4, y0 + mid, name, Align::kRight, g.label - 6, kMuted);
      cairo_save(cr);
      cairo_translate(cr, x0 + mid, y0 - 4);
      cairo_rotate(cr, -M_PI / 2);
      Text(cr, 0, 0, name, Align::kLeft, g.label - 6, kMuted);
      cairo_restore(cr);
    }
    // The colour scale, under the matrix.
    const double by = y0 + n * g.cell + 14;
    const double bw = std::min(160.0, w - 110);
    const double bx = 0;
    cairo_pattern_t* grad = cairo_pattern_create_linear(bx, 0, bx + bw, 0);
    for (double t : {0.0, 0.5, 1.0}) {
      const Rgb c = Diverging(2 * t - 1);
      cairo_pattern_add_color_stop_rgb(grad, t, c.r, c.g, c.b);
    }
    cairo_set_source(cr, grad);
    cairo_rectangle(cr, bx, by, bw, 10);
    cairo_fill(cr);
    cairo_pattern_destroy(grad);
    SetFont(cr, 9);
    Text(cr, bx, by + 22, "-1", Align::kLeft, 0, kMuted);
    Text(cr, bx + bw / 2, by + 22, "0", Align::kCenter, 0, kMuted);
    Text(cr, bx + bw, by + 22, "1", Align::kRight, 0, kMuted);
    SetColor(cr, kUndefined);
    cairo_rectangle(cr, bx + bw + 14, by, 10, 10);
    cairo_fill(cr);
    Text(cr, bx + bw + 28, by + 9, "undefined", Align::kLeft, w - bw - 30, kMuted);
  };
  return f;
}

Section HeatmapSection(const v1::TableReport& r) {
  Section s;
  s.heading = "Associations between columns";
  const int n = std::min(r.columns_size(), kMaxReportHeatmapColumns);
  s.notes.push_back(
      "Pearson's r (-1..1) for two numeric columns, Cramer's V (0..1) otherwise; "
      "the diagonal is 1; grey cells are undefined (a constant column). The third "
      "map is synthetic minus real: white where the synthetic rows keep the association.");
  if (n < r.columns_size()) {
    s.notes.push_back("Showing the first " + std::to_string(n) + " of " +
                      std::to_string(r.columns_size()) + " columns.");
  }
  if (n < 2) {
    s.notes.push_back("Fewer than two columns: no pairs.");
    return s;
  }
  std::vector<double> real(n * n, NAN), synthetic(n * n, NAN), diff(n * n, NAN);
  for (int k = 0; k < n; ++k) real[k * n + k] = synthetic[k * n + k] = 1;
  for (const auto& p : r.pairs()) {
    if (p.a() < 0 || p.b() < 0 || p.a() >= n || p.b() >= n || p.a() == p.b()) continue;
    const double rv = p.has_real() ? p.real() : NAN;
    const double sv = p.has_synthetic() ? p.synthetic() : NAN;
    real[p.a() * n + p.b()] = real[p.b() * n + p.a()] = rv;
    synthetic[p.a() * n + p.b()] = synthetic[p.b() * n + p.a()] = sv;
  }
  for (int k = 0; k < n * n; ++k) diff[k] = synthetic[k] - real[k];  // NaN stays NaN
  std::vector<std::string> names;
  cairo_t* m = Measurer();
  double widest = 0;
  for (int k = 0; k < n; ++k) names.push_back(CleanUtf8(r.columns(k).name()));
  // The most maps side by side whose cells are still at least 9 units.
  HeatmapGeometry g;
  for (int across : {3, 2, 1}) {
    const double room = (kContentWidth - (across - 1) * kGap) / across;
    g.font = 10;
    SetFont(m, g.font);
    widest = 0;
    for (const auto& name : names) widest = std::max(widest, TextWidth(m, name));
    g.label = std::clamp(widest + 8, 40.0, across == 1 ? 150.0 : 110.0);
    g.cell = std::min(28.0, (room - g.label - 8) / n);
    if (g.cell >= 9 || across == 1) break;
  }
  g.font = std::clamp(g.cell * 0.8, 7.0, 10.0);
  g.every = std::max(1, static_cast<int>(std::ceil((g.font + 1) / g.cell)));
  s.figures.push_back(HeatmapFigure("real", names, real, g));
  s.figures.push_back(HeatmapFigure("synthetic", names, synthetic, g));
  s.figures.push_back(HeatmapFigure("difference (synthetic - real)", names, diff, g));
  return s;
}

std::vector<Section> Sections(const v1::TableReport& r) {
  std::vector<Section> sections;
  sections.push_back(TitleSection(r));
  sections.push_back(ScoresSection(r));
  sections.push_back(PrivacySection(r));
  if (r.has_utility()) sections.push_back(UtilitySection(r));
  sections.push_back(HistorySection(r));
  sections.push_back(ColumnsSection(r));
  sections.push_back(HeatmapSection(r));
  return sections;
}

constexpr const char* kHtmlStyle = R"(
body { font-family: "DejaVu Sans", Verdana, sans-serif; color: #222; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 6px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p { color: #555; margin: 4px 0; font-size: 14px; }
p.verdict { color: #222; font-weight: bold; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #eee; }
th { border-bottom: 1px solid #999; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(odd) { background: #f6f6f6; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; margin: 8px 0; }
.figs svg { display: block; }
)";

std::string RenderHtml(const v1::TableReport& r, std::string* bytes) {
  const std::vector<Section> sections = Sections(r);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      HtmlEscape(CleanUtf8("gantry report: " + JobTitle(r))) + "</title>\n<style>" + kHtmlStyle +
      "</style>\n</head>\n<body>\n";
  int figure = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& s = sections[i];
    if (!s.heading.empty()) {
      out += i == 0 ? "<h1>" : "<h2>";
      out += HtmlEscape(CleanUtf8(s.heading));
      out += i == 0 ? "</h1>\n" : "</h2>\n";
    }
    for (const std::string& note : s.notes) {
      out += IsVerdict(note) ? "<p class=\"verdict\">" : "<p>";
      out += HtmlEscape(CleanUtf8(note)) + "</p>\n";
    }
    bool in_figs = false;  // consecutive drawings share a flowing <div>
    for (const Figure& f : s.figures) {
      if (!f.html.empty() || f.html_skip) {
        if (in_figs) out += "</div>\n";
        in_figs = false;
        out += f.html;
        continue;
      }
      if (!in_figs) out += "<div class=\"figs\">\n";
      in_figs = true;
      std::string error;
      out += FigureSvg(f, "f" + std::to_string(++figure) + "-", &error) + "\n";
      if (!error.empty()) return error;
    }
    if (in_figs) out += "</div>\n";
  }
  out += "</body>\n</html>\n";
  *bytes = std::move(out);
  return "";
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool ReportFormatOf(const std::string& path, ReportFormat* format) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  const std::string ext = ToLower(path.substr(dot + 1));
  if (ext == "html" || ext == "htm")
    *format = ReportFormat::kHtml;
  else if (ext == "png")
    *format = ReportFormat::kPng;
  else if (ext == "pdf")
    *format = ReportFormat::kPdf;
  else if (ext == "svg")
    *format = ReportFormat::kSvg;
  else if (ext == "json")
    *format = ReportFormat::kJson;
  else
    return false;
  return true;
}

std::string RenderReport(const v1::TableReport& report, ReportFormat format, std::string* bytes) {
  bytes->clear();
  switch (format) {
    case ReportFormat::kJson:
      *bytes = ReportJson(report);
      return "";
    case ReportFormat::kHtml:
      return RenderHtml(report, bytes);
    case ReportFormat::kPdf:
      return DrawPages(Layout(Sections(report)), CleanUtf8("gantry report: " + JobTitle(report)),
                       bytes);
    case ReportFormat::kPng:
    case ReportFormat::kSvg: {
      const bool png = format == ReportFormat::kPng;
      cairo_surface_t* surface = nullptr;
      std::string error = DrawContinuous(
          Layout(Sections(report)), png ? kPngScale : 1.0,
          [&](double w, double h) {
            if (png)
              return cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(w),
                                                static_cast<int>(h));
            cairo_surface_t* s = cairo_svg_surface_create_for_stream(AppendBytes, bytes, w, h);
            cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
            return s;
          },
          &surface);
      if (error.empty() && png) {
        cairo_surface_flush(surface);
        const cairo_status_t st = cairo_surface_write_to_png_stream(surface, AppendBytes, bytes);
        if (st != CAIRO_STATUS_SUCCESS)
          error = std::string("writing the PNG: ") + cairo_status_to_string(st);
      }
      cairo_surface_finish(surface);
      if (error.empty()) error = SurfaceError(surface, png ? "writing the PNG" : "writing the SVG");
      cairo_surface_destroy(surface);
      return error;
    }
  }
  return "unknown format";
}

std::string ReportJson(const v1::TableReport& report) {
  google::protobuf::util::JsonPrintOptions options;  // as server/api/http_api.cc prints
  options.always_print_primitive_fields = true;
  std::string json;
  // Cannot fail: gantry's messages have no Any field to resolve.
  (void)google::protobuf::util::MessageToJsonString(report, &json, options);
  return json;
}

std::string ParseReportJson(const std::string& text, v1::TableReport* report) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer server's fields
  const auto status = google::protobuf::util::JsonStringToMessage(text, report, options);
  if (!status.ok()) return "not a table report's JSON: " + std::string(status.message());
  if (report->columns_size() == 0) return "not a table report's JSON: it has no columns";
  return "";
}

std::string ReportSummary(const v1::TableReport& r) {
  const v1::Metrics& m = r.metrics();
  std::string out = "job " + JobTitle(r) + ": epoch " + std::to_string(r.epoch());
  if (r.best_epoch() > 0) {
    out += r.epoch() == r.best_epoch() ? " (the best" : " (best " + std::to_string(r.best_epoch());
    out += r.select_by().empty() ? ")" : " by " + r.select_by() + ")";
  }
  out += ", " + std::to_string(r.synthetic_rows()) + " synthetic vs " +
         std::to_string(r.real_rows()) + " held-out rows, " + std::to_string(r.columns_size()) +
         " columns\n";
  out += "quality " + Score(m.quality()) + "  column shapes " + Score(m.column_shapes()) +
         "  column pairs " + Score(m.column_pairs()) + "  missing values " +
         Score(m.missing_similarity()) + "  coverage " + Score(m.column_coverage()) +
         "  adherence " + Score(m.adherence()) + "\n";
  if (r.has_privacy()) {
    const v1::PrivacyReport& p = r.privacy();
    out += "privacy: " + p.verdict() + " (DCR share " + Score(p.dcr_share()) + ", exact copies " +
           Percent(p.exact_copies()) + " vs held-out " + Percent(p.holdout_exact_copies()) +
           ", DCR p5 " + Score(p.dcr_p5()) + " vs held-out " + Score(p.holdout_dcr_p5()) + ")";
    if (r.has_max_dcr_share()) {
      out += std::string("; max_dcr_share ") + Score(r.max_dcr_share()) +
             (p.dcr_share() <= r.max_dcr_share() ? " met" : " NOT met");
    }
    out += "\n";
  } else {
    out += "privacy: no held-out rows\n";
  }
  if (r.has_utility()) {
    const v1::UtilityReport& u = r.utility();
    out += "utility: " + u.target() + " (" + u.task() + "), " + u.score_name() + " " +
           Score(u.synthetic()) + " trained on synthetic vs " + Score(u.real()) + " on real";
    if (u.real() != 0) out += " (ratio " + Score(u.synthetic() / u.real()) + ")";
    out += "\n";
  }
  return out;
}

}  // namespace gantry::cli
