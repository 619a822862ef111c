// A table job's report (v1::TableReport) for people: one drawing code on
// Cairo surfaces gives a PNG (one tall image), a PDF (pages), an SVG (one
// tall drawing) and the figures of an HTML file (one self-contained file:
// the tables as HTML tables, each figure as the inline output of Cairo's SVG
// surface, no external reference); plus the report as proto JSON (what
// HTTP's GET /v1/jobs/ID/report serves) and a short text summary.
//
// Contents, in order: the title (job, epoch reported, best epoch,
// select_by), the scores with a line each on what they measure, the privacy
// figures with the server's verdict and max_dcr_share, the utility table,
// the scores over epochs, a chart per column (the first kMaxReportChartColumns),
// and the association heatmaps (real, synthetic, their difference; at most
// kMaxReportHeatmapColumns square). Every label is ellipsised to the room it
// has, and every figure is clipped to its own box, so text never overlaps.
//
// Thread-safety: pure functions (Cairo's toy font API is thread-safe).
#pragma once

#include <string>

#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

inline constexpr int kMaxReportChartColumns = 60;
inline constexpr int kMaxReportHeatmapColumns = 60;

enum class ReportFormat { kHtml, kPng, kPdf, kSvg, kJson };

// The format a file name's extension picks (.html/.htm, .png, .pdf, .svg,
// .json; any case); false for another or none.
bool ReportFormatOf(const std::string& path, ReportFormat* format);

// The file's bytes in `format`; "" on success, else what failed.
std::string RenderReport(const v1::TableReport& report, ReportFormat format, std::string* bytes);

// The report as proto JSON, exactly as gantryd's HTTP API prints it (every
// field, lowerCamelCase names).
std::string ReportJson(const v1::TableReport& report);

// Reads a report saved as JSON (either field spelling); "" or what is wrong.
std::string ParseReportJson(const std::string& text, v1::TableReport* report);

// A few lines for a terminal: the job and epoch, the scores, the privacy
// verdict, the utility.
std::string ReportSummary(const v1::TableReport& report);

}  // namespace gantry::cli
