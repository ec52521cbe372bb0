#include "report/table.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace hone {

std::string Table::markdown() const {
  auto line = [](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (const auto& c : cells) s += " " + c + " |";
    return s + "\n";
  };
  std::string s = line(header) + "|";
  for (std::size_t i = 0; i < header.size(); ++i) s += "---|";
  s += "\n";
  for (const auto& r : rows) {
    HONE_CHECK(r.size() == header.size(), RuntimeError, "a table row of {} cells under {} columns", r.size(), header.size());
    s += line(r);
  }
  return s;
}

std::string Table::html() const {
  std::string s = "<table><tr>";
  for (const auto& h : header) s += "<th>" + h + "</th>";
  s += "</tr>\n";
  for (const auto& r : rows) {
    HONE_CHECK(r.size() == header.size(), RuntimeError, "a table row of {} cells under {} columns", r.size(), header.size());
    s += "<tr>";
    for (const auto& c : r) s += "<td>" + c + "</td>";
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::string format_percent(double fraction) {
  return std::isfinite(fraction) ? fmt::format("{:.2f}%", 100 * fraction) : "-";
}

std::string format_fixed(double value, int digits) {
  return std::isfinite(value) ? fmt::format("{:.{}f}", value, digits) : "-";
}

std::string format_mib(double bytes) { return std::isfinite(bytes) ? fmt::format("{:.1f}", bytes / (1024.0 * 1024.0)) : "-"; }

std::string format_millions(double count) { return std::isfinite(count) ? fmt::format("{:.1f}M", count / 1e6) : "-"; }

double json_number(const nlohmann::ordered_json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
}

}  // namespace hone
