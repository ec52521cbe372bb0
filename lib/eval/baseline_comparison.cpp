#include "eval/baseline_comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "core/json_file.h"
#include "eval/eval.h"
#include "eval/gate.h"
#include "report/eval_schema.h"
#include "report/gate_section.h"
#include "report/table.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

namespace k = eval_report;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kLabelsKept = 5;  // the labels that fell (and rose) most, kept in the object
constexpr double kF1Tolerance = 1e-9;   // in points: an F1 this close to the baseline's did not move

ordered_json number_or_null(double v) {
  return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr);
}

std::string text_at(const ordered_json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An id as a map key: the string itself, or another JSON value's text.
std::string id_key(const ordered_json& p) {
  const auto it = p.find(k::kPredId);
  if (it == p.end()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// The row's {label: F1}; empty when it has none.
std::map<std::string, double> label_f1_map(const ordered_json& row) {
  std::map<std::string, double> out;
  const auto it = row.find(k::kLabelF1);
  if (it == row.end() || !it->is_object()) return out;
  for (const auto& [label, f1] : it->items())
    if (f1.is_number()) out[label] = f1.get<double>();
  return out;
}

ordered_json label_changes_json(const std::vector<LabelF1Change>& changes) {
  ordered_json out = ordered_json::array();
  for (const LabelF1Change& c : changes)
    out.push_back({{k::kCompareLabel, c.label},
                   {k::kCompareBaseline, c.baseline},
                   {k::kCompareValue, c.value},
                   {k::kCompareChange, c.change}});
  return out;
}

// Every JSON line of a predictions.jsonl file. InputError naming the file and line for a line that
// is not a JSON object.
std::vector<ordered_json> read_predictions(const fs::path& path) {
  const std::string text = read_file(path);
  std::vector<ordered_json> rows;
  std::size_t start = 0, line = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string_view s(text.data() + start, end - start);
    start = end + 1;
    if (s.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ordered_json j;
    try {
      j = ordered_json::parse(s);
    } catch (const nlohmann::json::exception& e) {
      HONE_THROW(InputError, "{}:{}: not valid JSON: {}", path.string(), line, json_error_text(e));
    }
    HONE_CHECK(j.is_object(), InputError, "{}:{}: expected a JSON object, got {}", path.string(), line, j.type_name());
    rows.push_back(std::move(j));
  }
  return rows;
}

}  // namespace

PairedAccuracy paired_accuracy(const std::vector<bool>& baseline_correct, const std::vector<bool>& correct) {
  HONE_CHECK(baseline_correct.size() == correct.size(), RuntimeError, "{} baseline outcomes paired with {}",
             baseline_correct.size(), correct.size());
  PairedAccuracy p;
  p.n = static_cast<std::int64_t>(correct.size());
  std::int64_t right_before = 0, right_now = 0;
  for (std::size_t i = 0; i < correct.size(); ++i) {
    right_before += baseline_correct[i];
    right_now += correct[i];
    p.fixed += !baseline_correct[i] && correct[i];
    p.broken += baseline_correct[i] && !correct[i];
  }
  const double n = static_cast<double>(p.n);
  p.baseline_accuracy = p.n ? static_cast<double>(right_before) / n : kNaN;
  p.accuracy = p.n ? static_cast<double>(right_now) / n : kNaN;
  // d_i is +1 (fixed), -1 (broken) or 0, so sum d = fixed - broken and sum d^2 = fixed + broken.
  const double mean = p.n ? static_cast<double>(p.fixed - p.broken) / n : kNaN;
  p.change = 100 * mean;
  p.change_se = kNaN;
  if (p.n >= 2) {
    const double variance = (static_cast<double>(p.fixed + p.broken) - n * mean * mean) / (n - 1);
    p.change_se = 100 * std::sqrt(std::max(variance, 0.0) / n);
  }
  return p;
}

LabelF1Changes label_f1_changes(const std::map<std::string, double>& baseline, const std::map<std::string, double>& f1,
                                std::size_t count) {
  std::map<std::string, LabelF1Change> all;  // label order: the tie-break
  for (const auto& [label, v] : baseline) all[label] = {label, v, 0.0, 0.0};
  for (const auto& [label, v] : f1) {
    auto [it, added] = all.try_emplace(label, LabelF1Change{label, 0.0, v, 0.0});
    if (!added) it->second.value = v;
  }
  LabelF1Changes out;
  for (auto& [label, c] : all) {
    c.change = 100 * (c.value - c.baseline);
    if (c.change < -kF1Tolerance) out.fell.push_back(c);
    if (c.change > kF1Tolerance) out.rose.push_back(c);
  }
  std::stable_sort(out.fell.begin(), out.fell.end(), [](const auto& a, const auto& b) { return a.change < b.change; });
  std::stable_sort(out.rose.begin(), out.rose.end(), [](const auto& a, const auto& b) { return a.change > b.change; });
  if (out.fell.size() > count) out.fell.resize(count);
  if (out.rose.size() > count) out.rose.resize(count);
  return out;
}

ordered_json baseline_comparison(const ordered_json& row, const ordered_json& baseline_row,
                                 const std::vector<ordered_json>& predictions,
                                 const std::vector<ordered_json>& baseline_predictions,
                                 const fs::path& baseline_report) {
  const std::string name = text_at(row, k::kName), baseline_name = text_at(baseline_row, k::kName);
  const std::string method = text_at(row, k::kAccuracyMethod);
  const char* key =
      method == eval_method_name(EvalMethod::kGenerate) ? k::kPredGeneratedCorrect : k::kPredScoredCorrect;
  auto outcome = [&](const ordered_json& p, const std::string& model) {
    const auto it = p.find(key);
    return text_at(p, k::kPredModel) == model && it != p.end() && it->is_boolean() ? &*it : nullptr;
  };
  // The baseline's outcomes by id, in file order, and how many of each have been paired.
  std::map<std::string, std::vector<bool>> theirs;
  std::map<std::string, std::size_t> used;
  std::size_t their_count = 0;
  for (const ordered_json& p : baseline_predictions)
    if (const ordered_json* c = outcome(p, baseline_name)) {
      theirs[id_key(p)].push_back(c->get<bool>());
      ++their_count;
    }
  std::vector<bool> before, after;
  std::int64_t unmatched = 0;
  for (const ordered_json& p : predictions) {
    const ordered_json* c = outcome(p, name);
    if (!c) continue;
    const std::string id = id_key(p);
    const auto it = theirs.find(id);
    std::size_t& next = used[id];
    if (it == theirs.end() || next >= it->second.size()) {
      ++unmatched;
      continue;
    }
    before.push_back(it->second[next++]);
    after.push_back(c->get<bool>());
  }
  const PairedAccuracy pa = paired_accuracy(before, after);
  const LabelF1Changes labels = label_f1_changes(label_f1_map(baseline_row), label_f1_map(row), kLabelsKept);
  return {{k::kCompareBaselineReport, baseline_report.string()},
          {k::kCompareBaselineModel, baseline_name},
          {k::kCompareMethod, method},
          {k::kCompareN, pa.n},
          {k::kCompareUnmatched, unmatched},
          {k::kCompareBaselineUnmatched, static_cast<std::int64_t>(their_count) - pa.n},
          {k::kCompareBaselineAccuracy, number_or_null(pa.baseline_accuracy)},
          {k::kAccuracy, number_or_null(pa.accuracy)},
          {k::kCompareChange, number_or_null(pa.change)},
          {k::kCompareChangeSe, number_or_null(pa.change_se)},
          {k::kCompareFixed, pa.fixed},
          {k::kCompareBroken, pa.broken},
          {k::kCompareBaselineMacroF1, number_or_null(json_number(baseline_row, k::kMacroF1))},
          {k::kMacroF1, number_or_null(json_number(row, k::kMacroF1))},
          {k::kCompareLabelF1Fell, label_changes_json(labels.fell)},
          {k::kCompareLabelF1Rose, label_changes_json(labels.rose)}};
}

std::string add_baseline_comparisons(const Gate& gate, const fs::path& baseline_report, ordered_json& report,
                                     const std::vector<ordered_json>& predictions) {
  if (baseline_report.empty() || text_at(report, k::kTask) != k::kTaskClassification) return "";
  const fs::path path = baseline_report.parent_path() / "predictions.jsonl";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return fmt::format("\nNo paired comparison with the baseline: {} has no predictions.jsonl beside it.\n",
                       baseline_report.string());
  const std::vector<ordered_json> theirs = read_predictions(path);
  std::string lines;
  for (ordered_json& row : report.at(k::kModels)) {
    if (text_at(row, k::kAccuracyMethod).empty()) continue;
    const std::string name = text_at(row, k::kName);
    row[k::kBaselineComparison] =
        baseline_comparison(row, gate.baseline_row(name), predictions, theirs, baseline_report);
    lines += comparison_line(name, row[k::kBaselineComparison]) + "\n";
  }
  return lines.empty() ? "" : "\n" + lines;
}

}  // namespace hone
