// Line charts as SVG (core/plot.h): scatters of single points (the report's accuracy-against-cost
// chart) keep their markers off the frame, and the legend goes where it hides no point.
#include "core/plot.h"

#include <regex>

#include "helpers.h"

namespace hone {
namespace {

struct Circle {
  double x, y;
};

std::vector<Circle> circles(const std::string& svg) {
  std::vector<Circle> out;
  const std::regex circle("<circle cx=\"([-0-9.]+)\" cy=\"([-0-9.]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
  return out;
}

// The legend rows' sample lines: (x1, y).
std::vector<Circle> legend_rows(const std::string& svg) {
  std::vector<Circle> out;
  const std::regex row(
      "<line x1=\"([-0-9.]+)\" x2=\"[-0-9.]+\" y1=\"([-0-9.]+)\" y2=\"[-0-9.]+\" stroke=\"[^\"]+\" "
      "stroke-width=\"3\"/>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), row); it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
  return out;
}

// Plot area of the default 760 x 420 chart: x in [70, 740], y in [40, 370].
TEST(Plot, ScatterOfSinglePoints) {
  // Accuracy against latency: the slow, accurate model sits in the top right corner.
  const std::vector<PlotSeries> series = {{"student", {{12, 80}}, "#1f77b4", true},
                                          {"tuned", {{115, 90}}, "#ff7f0e", true},
                                          {"student → tuned (cascade)", {{40.2, 88.5}}, "#222222", true}};
  const std::string svg = line_chart_svg("Accuracy against cost", "ms", "%", series);
  const std::vector<Circle> points = circles(svg);
  ASSERT_EQ(points.size(), 3u);
  for (const Circle& c : points) {
    EXPECT_GT(c.x, 70 + 20) << "on the left frame";
    EXPECT_LT(c.x, 740 - 20) << "on the right frame";
  }
  const std::vector<Circle> rows = legend_rows(svg);
  ASSERT_EQ(rows.size(), 3u);
  const double width = 34 + 6.5 * std::string("student → tuned (cascade)").size();
  for (const Circle& c : points)
    EXPECT_FALSE(c.x >= rows[0].x - 4 && c.x <= rows[0].x + width && c.y >= rows[0].y - 16 && c.y <= rows[2].y + 8)
        << "the legend hides the point at " << c.x << ", " << c.y;
  EXPECT_NE(svg.find(">student → tuned (cascade)</text>"), std::string::npos);
}

TEST(Plot, OnePointIsCentred) {
  const std::string svg = line_chart_svg("t", "x", "y", {{"only", {{5, 0.5}}, "#1f77b4", true}});
  const std::vector<Circle> points = circles(svg);
  ASSERT_EQ(points.size(), 1u);
  EXPECT_NEAR(points[0].x, 405, 1);
  EXPECT_EQ(svg.find("no data"), std::string::npos);
  EXPECT_NE(line_chart_svg("t", "x", "y", {{"none", {}, "#1f77b4", true}}).find("no data"), std::string::npos);
}

// A line keeps its ends on the frame (no padding of x), as the loss curves always drew.
TEST(Plot, LinesSpanTheWidth) {
  const std::string svg = line_chart_svg("t", "x", "y", {{"loss", {{0, 3}, {10, 1}}, "#1f77b4", false}});
  EXPECT_NE(svg.find("<path d=\"M70.0,"), std::string::npos) << svg;
  EXPECT_NE(svg.find(" L740.0,"), std::string::npos) << svg;
}

}  // namespace
}  // namespace hone
