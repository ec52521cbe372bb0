// The eval gate and the comparison with a baseline as text, from the eval report's objects
// (report/eval_schema.h: the report's `gate`, a model row's `baseline_comparison`). `hone eval`
// prints the checks' table and one line per comparison with these functions; `hone report` puts
// them in its "Feedback round" section: the before/after table of each model against its baseline
// (accuracy, macro-F1, the paired change with its standard error, the examples fixed and broken),
// the labels whose F1 fell most, and each gate's verdict with its checks. No LibTorch.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/table.h"

namespace hone {

// report.json's array of the eval reports' gates: each the eval report's `gate` object and `report`,
// the path of the eval report it came from.
inline constexpr const char* kReportGates = "gates";
inline constexpr const char* kGateEvalReport = "report";

// A metric's value as the gate writes it: a fraction with 4 decimals ("0.8500"), another unit with
// 6 significant digits ("12.5"); "-" when not finite.
std::string format_gate_value(double value, bool fraction);
// A change or a limit in --max-drop's unit: "2.00 points" (fractions), "0.5 ms", "+1 tokens/s".
std::string format_gate_points(double points, bool fraction, const std::string& unit, bool sign);

// What a check asked, from its JSON: "accuracy >= 0.8500", "perplexity <= 12", "accuracy drop <=
// 2.00 points", "perplexity rise <= 0.5". A check without `unit` is formatted as a plain number.
std::string gate_check_title(const nlohmann::ordered_json& check);
// The check's value, bound or baseline (`key`) as a cell: "0.8100", "card 0.5000" for label_f1's
// value and baseline (the worst label's), "-" for none.
std::string gate_check_cell(const nlohmann::ordered_json& check, const char* key);
// One row per check: model, gate (its title), value, bound, baseline, result ("pass" or "FAIL").
// `escape` is applied to the model names.
Table gate_check_table(const nlohmann::ordered_json& checks, std::string (*escape)(const std::string&));

// "feedback vs baseline tuned: accuracy 83.4% -> 84.6% (+1.2 ± 0.5 points paired SE, n 1000; 31
// fixed, 19 broken)", and the examples that had no match; `comparison` is a row's
// baseline_comparison.
std::string comparison_line(const std::string& model, const nlohmann::ordered_json& comparison);

// The eval report `src`'s gate for report.json: its keys (null where absent) and `report`. InputError
// naming `src` when it is not an object with an array of check objects.
nlohmann::ordered_json read_gate(const nlohmann::ordered_json& gate, const std::string& src);

// The section ("" when no model has a baseline_comparison and no eval report has a gate), as
// markdown and as HTML. `report`: report.json's object (models with their baseline_comparison,
// gates).
std::string gate_section_markdown(const nlohmann::ordered_json& report);
std::string gate_section_html(const nlohmann::ordered_json& report);

}  // namespace hone
