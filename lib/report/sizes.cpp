#include "report/sizes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "report/eval_schema.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The key with the largest count ("" for none).
std::string majority(const std::map<std::string, std::int64_t>& counts) {
  auto best =
      std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == counts.end() ? "" : best->first;
}

std::string gguf_weights(const fs::path& file) {
  std::map<std::string, std::int64_t> counts;
  const GGUFFile g = GGUFFile::open(file);
  for (const GGUFTensorInfo& t : g.tensors())
    if (t.ne.size() >= 2) counts[lower(ggml_type_name(t.type))] += t.numel();
  return majority(counts);
}

std::string safetensors_weights(const fs::path& dir) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".safetensors") continue;
    const SafetensorsFile st = SafetensorsFile::open(e.path());
    for (const TensorView& t : st.tensors())
      if (t.shape.size() >= 2) counts[lower(dtype_name(t.dtype))] += t.numel();
  }
  return majority(counts);
}

// MiB of `bytes` in `row` for `model`, "-" when it has none.
std::string mib_cell(const ordered_json& row, const std::string& model) {
  const ordered_json& bytes = row["bytes"];
  return bytes.contains(model) ? format_mib(bytes[model].get<double>()) : "-";
}

}  // namespace

std::string stored_weights(const fs::path& path) {
  try {
    std::error_code ec;
    if (fs::is_regular_file(path, ec) && path.extension() == ".gguf") return gguf_weights(path);
    if (fs::is_directory(path, ec)) return safetensors_weights(path);
  } catch (const std::exception&) {
    // Not a model file hone can read: its size still counts, its type is unknown.
  }
  return "";
}

ordered_json size_rows(const ordered_json& models, const ordered_json& exports) {
  namespace k = eval_report;
  ordered_json rows = ordered_json::array();
  ordered_json evaluated = {{"stored_as", "evaluated"}, {"bytes", ordered_json::object()}};
  for (const auto& m : models)
    if (m[k::kBytes].is_number()) evaluated["bytes"][m[k::kName].get<std::string>()] = m[k::kBytes];
  rows.push_back(evaluated);
  for (const auto& e : exports) {
    if (!e["model"].is_string()) continue;
    const std::string model = e["model"], weights = e["weights"].is_string() ? e["weights"].get<std::string>() : "";
    const std::string form = e["format"].get<std::string>() + (weights.empty() ? "" : " " + weights);
    // The first row of this form that has no file of this model yet (two of one form: two rows).
    auto row = std::find_if(rows.begin() + 1, rows.end(), [&](const ordered_json& r) {
      return r["stored_as"] == form && !r["bytes"].contains(model);
    });
    if (row == rows.end()) {
      rows.push_back({{"stored_as", form}, {"bytes", ordered_json::object()}});
      row = rows.end() - 1;
    }
    (*row)["bytes"][model] = e["bytes"];
  }
  return rows;
}

Table size_table(const ordered_json& models, const ordered_json& sizes) {
  Table t{{"stored as"}, {}};
  std::vector<std::string> names;
  for (const auto& m : models) names.push_back(m[eval_report::kName].get<std::string>());
  for (const auto& n : names) t.header.push_back(n + " MiB");
  for (const auto& r : sizes) {
    std::vector<std::string> cells{r["stored_as"].get<std::string>()};
    for (const auto& n : names) cells.push_back(mib_cell(r, n));
    t.rows.push_back(std::move(cells));
  }
  return t;
}

std::string evaluated_sizes_line(const ordered_json& models) {
  namespace k = eval_report;
  auto described = [](const std::string& path) {
    const std::string w = stored_weights(path);
    return fmt::format("{}{}", path, w.empty() ? "" : " (" + w + ")");
  };
  std::vector<std::string> parts;
  for (const auto& m : models) {
    if (!m[k::kModel].is_string() || m[k::kModel].get<std::string>().empty()) continue;
    std::string part = m[k::kName].get<std::string>() + ": " + described(m[k::kModel]);
    if (m[k::kAdapter].is_string() && !m[k::kAdapter].get<std::string>().empty())
      part += " and the adapter " + described(m[k::kAdapter]);
    parts.push_back(part);
  }
  if (parts.empty()) return "";
  return fmt::format("\"evaluated\" is what hone eval loaded: {}.", fmt::join(parts, "; "));
}

}  // namespace hone
