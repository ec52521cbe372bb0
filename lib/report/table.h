// Tables of results, written as markdown (`hone eval`'s table, report.md) or as HTML
// (report.html) by one writer, and the formatting of their cells. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hone {

// A header row and rows of cells, each row as long as the header.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // GitHub-flavoured markdown: "| a | b |", the "|---|---|" separator, one line per row.
  std::string markdown() const;
  // "<table><tr><th>a</th>...</tr>" and one <tr> per row. Cells are inserted as given: escape
  // text (xml_escape) before adding it.
  std::string html() const;
};

// Cell texts; "-" for a value that is not finite (a missing metric is NaN, see json_number).
std::string format_percent(double fraction);        // 0.1234 -> "12.34%"
std::string format_fixed(double value, int digits);  // format_fixed(3.14159, 2) -> "3.14"
std::string format_mib(double bytes);               // 1.5 MiB -> "1.5"
std::string format_millions(double count);          // 134515008 -> "134.5M"

// The number at `key` of the object `j`; NaN when it is absent, null or not a number.
double json_number(const nlohmann::ordered_json& j, const char* key);

}  // namespace hone
