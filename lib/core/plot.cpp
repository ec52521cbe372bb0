#include "core/plot.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace hone {

namespace {

// About `n` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int n) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(v);
  return out;
}

std::string label(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.1e}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

// The legend's top-left corner inside the plot [left, left + pw] x [top, top + ph]: the corner whose
// box covers the fewest points (top right on a tie), so that it hides as little data as it can.
struct Legend {
  double x = 0, y = 0;
};
template <class ToX, class ToY>
Legend place_legend(const std::vector<PlotSeries>& series, ToX X, ToY Y, double left, double top, double pw,
                    double ph) {
  std::size_t longest = 0;
  for (const PlotSeries& s : series) longest = std::max(longest, s.name.size());
  // About 6.5 px per character at font-size 12 (bytes: a little wider for non-ASCII names).
  const double w = 34 + 6.5 * static_cast<double>(longest), h = 18.0 * static_cast<double>(series.size()) + 4;
  const Legend corners[] = {{left + pw - w, top + 4}, {left + 6, top + 4}, {left + pw - w, top + ph - h},
                            {left + 6, top + ph - h}};
  Legend best = corners[0];
  std::size_t fewest = std::numeric_limits<std::size_t>::max();
  for (const Legend& c : corners) {
    std::size_t covered = 0;
    for (const PlotSeries& s : series)
      for (const auto& [x, y] : s.points)
        if (std::isfinite(x) && std::isfinite(y) && X(x) >= c.x - 4 && X(x) <= c.x + w && Y(y) >= c.y - 4 &&
            Y(y) <= c.y + h)
          ++covered;
    if (covered < fewest) fewest = covered, best = c;
  }
  return best;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<PlotSeries>& series, int width, int height) {
  const double left = 70, right = 20, top = 40, bottom = 50;
  const double pw = width - left - right, ph = height - top - bottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const PlotSeries& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  const bool empty = !std::isfinite(x0);
  if (empty) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  // A scatter (every series one point, as a cost/accuracy chart): pad x too, so that no marker
  // sits on the frame, and centre a lone x value.
  const bool scatter =
      std::all_of(series.begin(), series.end(), [](const PlotSeries& s) { return s.points.size() <= 1; });
  if (scatter && !empty) {
    const double xpad = x1 > x0 ? (x1 - x0) * 0.08 : std::max(std::fabs(x0) * 0.1, 0.5);
    x0 = x0 - xpad < 0 && x0 >= 0 ? 0 : x0 - xpad;
    x1 += xpad;
  }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double pad = (y1 - y0) * 0.05;
  y0 = y0 - pad < 0 && y0 >= 0 ? 0 : y0 - pad;
  y1 += pad;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{3}</text>\n",
      width, height, width / 2, xml_escape(title));
  for (double t : ticks(y0, y1, 6)) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, left + pw, Y(t), left - 6, Y(t) + 4, label(t));
  }
  for (double t : ticks(x0, x1, 8)) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
        X(t), top, top + ph, top + ph + 16, label(t));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", left, top,
                     pw, ph);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, height - 10,
                     xml_escape(x_label));
  svg += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     top + ph / 2, xml_escape(y_label));
  if (empty) svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n", width / 2, height / 2);
  const Legend legend = place_legend(series, X, Y, left, top, pw, ph);
  double legend_y = legend.y + 12;
  for (const PlotSeries& s : series) {
    std::string path;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", X(x), Y(y));
    }
    if (!path.empty())
      svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", path, s.color);
    if (s.markers)
      for (const auto& [x, y] : s.points)
        if (std::isfinite(x) && std::isfinite(y))
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", X(x), Y(y), s.color);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"3\"/>"
        "<text x=\"{4:.1f}\" y=\"{5:.1f}\">{6}</text>\n",
        legend.x, legend.x + 22, legend_y, s.color, legend.x + 28, legend_y + 4, xml_escape(s.name));
    legend_y += 18;
  }
  return svg + "</svg>\n";
}

std::string loss_curve_svg(const std::filesystem::path& metrics, const std::string& title, const std::string& y_label) {
  PlotSeries train{"train loss", {}, "#1f77b4", false}, valid{"valid loss", {}, "#d62728", true};
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step")) continue;
    const double step = j["step"].get<double>();
    if (j.contains("loss") && j["loss"].is_number()) train.points.emplace_back(step, j["loss"].get<double>());
    if (j.contains("valid_loss") && j["valid_loss"].is_number())
      valid.points.emplace_back(step, j["valid_loss"].get<double>());
  }
  std::vector<PlotSeries> series{train};
  if (!valid.points.empty()) series.push_back(valid);
  return line_chart_svg(title, "optimiser step", y_label, series);
}

std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                          const std::vector<BarSeries>& series, const std::string& value_format, int width, int height) {
  const double left = 70, right = 20, top = 40, bottom = 60;
  const double pw = width - left - right, ph = height - top - bottom;
  double y1 = 0;
  for (const BarSeries& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) y1 = std::max(y1, v);
  if (!(y1 > 0)) y1 = 1;
  y1 *= 1.12;  // room for the value labels
  auto Y = [&](double y) { return top + (1 - y / y1) * ph; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{3}</text>\n",
      width, height, width / 2, xml_escape(title));
  for (double t : ticks(0, y1, 5))
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, left + pw, Y(t), left - 6, Y(t) + 4, label(t));
  svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n", left, left + pw,
                     top + ph);
  svg += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     top + ph / 2, xml_escape(y_label));
  const double group = categories.empty() ? pw : pw / static_cast<double>(categories.size());
  const double bar = series.empty() ? 0 : group * 0.8 / static_cast<double>(series.size());
  for (std::size_t c = 0; c < categories.size(); ++c) {
    const double gx = left + group * static_cast<double>(c);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", gx + group / 2,
                       top + ph + 16, xml_escape(categories[c]));
    for (std::size_t s = 0; s < series.size(); ++s) {
      const double v = c < series[s].values.size() ? series[s].values[c] : std::nan("");
      if (!std::isfinite(v)) continue;
      const double x = gx + group * 0.1 + bar * static_cast<double>(s);
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
          x, Y(v), bar * 0.92, top + ph - Y(v), series[s].color, x + bar * 0.46, Y(v) - 4,
          xml_escape(fmt::format(fmt::runtime(value_format), v)));
    }
  }
  double legend_x = left;
  for (const BarSeries& s : series) {
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
        legend_x, height - 22.0, s.color, legend_x + 16, height - 12.0, xml_escape(s.name));
    legend_x += 30 + 7.0 * static_cast<double>(s.name.size());
  }
  return svg + "</svg>\n";
}

}  // namespace hone
