// Line charts as self-contained SVG (loss curves in run directories and reports): no fonts,
// scripts or external files, so the picture opens in any browser or image viewer.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hone {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
  std::string color = "#1f77b4";
  bool markers = false;  // draw a dot at every point (for sparse series such as validation loss)
};

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<PlotSeries>& series, int width = 760, int height = 420);

}  // namespace hone
