// Line charts as self-contained SVG (loss curves in run directories and reports): no fonts,
// scripts or external files, so the picture opens in any browser or image viewer.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace hone {

// The colours of the charts' series, in order (matplotlib's tab10 palette).
inline constexpr const char* kPlotColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
inline constexpr std::size_t kPlotColorCount = sizeof(kPlotColors) / sizeof(kPlotColors[0]);

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
  std::string color = "#1f77b4";
  bool markers = false;  // draw a dot at every point (for sparse series such as validation loss)
};

// One line per series (a series of one point shows only as its marker, with `markers`). When every
// series has at most one point (a scatter of models), x is padded like y, so that no point sits on
// the frame.
std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<PlotSeries>& series, int width = 760, int height = 420);

// `s` with &, <, > and " escaped, for SVG and HTML text and attributes.
std::string xml_escape(const std::string& s);

// The loss curve of a training run from its metrics.jsonl: the training loss per step and the
// valid loss per evaluation (docs/formats.md, "Run directory").
std::string loss_curve_svg(const std::filesystem::path& metrics_jsonl, const std::string& title,
                           const std::string& y_label);

// Grouped vertical bars: one group per category, one bar per series (values[i] is category i's).
// Each bar is labelled with `value_format` (fmt syntax, e.g. "{:.1f}"); NaN values draw no bar.
struct BarSeries {
  std::string name;
  std::vector<double> values;
  std::string color = "#1f77b4";
};
std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                          const std::vector<BarSeries>& series, const std::string& value_format = "{:.3g}",
                          int width = 760, int height = 380);

}  // namespace hone
