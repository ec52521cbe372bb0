#include "report/gate_section.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/plot.h"
#include "report/eval_schema.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;
namespace k = eval_report;

namespace {

// The labels each model's F1 changes name, at most, in the section.
constexpr std::size_t kLabelsShown = 5;

const ordered_json& object_at(const ordered_json& j, const char* key) {
  static const ordered_json none;
  const auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : none;
}

const ordered_json& array_at(const ordered_json& j, const char* key) {
  static const ordered_json none = ordered_json::array();
  const auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : none;
}

std::string text_at(const ordered_json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_fraction(const ordered_json& check) {
  return text_at(check, k::kGateUnit) == k::kGateUnitFraction;
}

std::string unit_of(const ordered_json& check) {
  const std::string u = text_at(check, k::kGateUnit);
  return u == k::kGateUnitFraction ? "" : u;
}

// "83.40% → 84.60%"; one side "-" where it is missing.
std::string before_after_percent(const ordered_json& c, const char* before, const char* after) {
  return format_percent(json_number(c, before)) + " → " + format_percent(json_number(c, after));
}

std::string before_after_fixed(const ordered_json& c, const char* before, const char* after) {
  return format_fixed(json_number(c, before), 4) + " → " + format_fixed(json_number(c, after), 4);
}

// "+1.20 ± 0.50": the paired change in points and its standard error; no SE for fewer than two pairs.
std::string change_cell(const ordered_json& c) {
  const double change = json_number(c, k::kCompareChange), se = json_number(c, k::kCompareChangeSe);
  if (!std::isfinite(change)) return "-";
  return std::isfinite(se) ? fmt::format("{:+.2f} ± {:.2f}", change, se) : fmt::format("{:+.2f}", change);
}

std::int64_t count_at(const ordered_json& c, const char* key) {
  const double v = json_number(c, key);
  return std::isfinite(v) ? static_cast<std::int64_t>(v) : 0;
}

// "1000", or "997 (3 unmatched)" where examples of either run had no match in the other.
std::string paired_cell(const ordered_json& c) {
  const std::int64_t unmatched = count_at(c, k::kCompareUnmatched) + count_at(c, k::kCompareBaselineUnmatched);
  const std::string n = format_fixed(json_number(c, k::kCompareN), 0);
  return unmatched ? fmt::format("{} ({} unmatched)", n, unmatched) : n;
}

bool has_comparison(const ordered_json& models) {
  return std::any_of(models.begin(), models.end(),
                     [](const ordered_json& m) { return object_at(m, k::kBaselineComparison).is_object(); });
}

// Each model against its baseline: one row per model with a comparison.
Table comparison_table(const ordered_json& models, std::string (*escape)(const std::string&)) {
  Table t{{"model", "baseline", "paired examples", "accuracy", "change (points ± SE)", "macro-F1", "fixed", "broken"},
          {}};
  for (const auto& m : models) {
    const ordered_json& c = object_at(m, k::kBaselineComparison);
    if (c.is_null()) continue;
    t.rows.push_back({escape(text_at(m, k::kName)), escape(text_at(c, k::kCompareBaselineModel)), paired_cell(c),
                      before_after_percent(c, k::kCompareBaselineAccuracy, k::kAccuracy), change_cell(c),
                      before_after_fixed(c, k::kCompareBaselineMacroF1, k::kMacroF1),
                      format_fixed(json_number(c, k::kCompareFixed), 0),
                      format_fixed(json_number(c, k::kCompareBroken), 0)});
  }
  return t;
}

// The labels whose F1 fell most, per model: model, label, F1 before → after, change in points.
Table label_drop_table(const ordered_json& models, std::string (*escape)(const std::string&)) {
  Table t{{"model", "label", "F1", "change (points)"}, {}};
  for (const auto& m : models) {
    const ordered_json& fell = array_at(object_at(m, k::kBaselineComparison), k::kCompareLabelF1Fell);
    for (std::size_t i = 0; i < fell.size() && i < kLabelsShown; ++i)
      t.rows.push_back({escape(text_at(m, k::kName)), escape(text_at(fell[i], k::kCompareLabel)),
                        before_after_fixed(fell[i], k::kCompareBaseline, k::kCompareValue),
                        fmt::format("{:+.2f}", json_number(fell[i], k::kCompareChange))});
  }
  return t;
}

// "Largest per-label F1 rises: feedback: atm +5.00, card +2.00." ("" when none rose).
std::string label_rise_sentence(const ordered_json& models) {
  std::string s;
  for (const auto& m : models) {
    const ordered_json& rose = array_at(object_at(m, k::kBaselineComparison), k::kCompareLabelF1Rose);
    std::string labels;
    for (std::size_t i = 0; i < rose.size() && i < kLabelsShown; ++i)
      labels += fmt::format("{}{} {:+.2f}", i ? ", " : "", text_at(rose[i], k::kCompareLabel),
                            json_number(rose[i], k::kCompareChange));
    if (!labels.empty()) s += fmt::format("{}{}: {}", s.empty() ? "" : "; ", text_at(m, k::kName), labels);
  }
  return s.empty() ? "" : "Largest per-label F1 rises (points): " + s + ".";
}

const char* const kComparisonNotes =
    "Paired over the test examples both runs answered, matched by id: the change in accuracy (percentage points) "
    "± its standard error (the standard deviation of the per-example difference in correctness over √n); a change "
    "within about two standard errors of zero may be noise. Fixed: wrong in the baseline run, right now; broken: "
    "the reverse. Macro-F1 and the per-label F1 are the two runs' own.";

// "The gate of eval/feedback/report.json (baseline eval/tuned/report.json) passed: all 3 checks." or
// "... FAILED: 1 of 3 checks."
std::string gate_verdict(const ordered_json& gate) {
  const std::size_t checks = array_at(gate, k::kGateChecks).size();
  const std::int64_t failed = count_at(gate, k::kGateFailed);
  const std::string baseline = text_at(gate, k::kGateBaselineReport);
  const std::string head = fmt::format("The gate of {}{}", text_at(gate, kGateEvalReport),
                                       baseline.empty() ? "" : " (baseline " + baseline + ")");
  if (failed) return fmt::format("{} FAILED: {} of {} checks.", head, failed, checks);
  return checks == 1 ? head + " passed: its one check." : fmt::format("{} passed: all {} checks.", head, checks);
}

// Each failed check's message, one per item.
std::vector<std::string> gate_failures(const ordered_json& gate) {
  std::vector<std::string> out;
  for (const auto& c : array_at(gate, k::kGateChecks))
    if (c.is_object() && !c.value(k::kGatePassed, false))
      out.push_back(fmt::format("{}: {}", text_at(c, k::kGateModel), text_at(c, k::kGateMessage)));
  return out;
}

std::string plain(const std::string& s) {
  return s;
}

}  // namespace

std::string format_gate_value(double value, bool fraction) {
  if (!std::isfinite(value)) return "-";
  return fraction ? fmt::format("{:.4f}", value) : fmt::format("{:.6g}", value);
}

std::string format_gate_points(double points, bool fraction, const std::string& unit, bool sign) {
  if (fraction) return fmt::format(sign ? "{:+.2f} points" : "{:.2f} points", points);
  return fmt::format(sign ? "{:+.6g}{}" : "{:.6g}{}", points, unit.empty() ? "" : " " + unit);
}

std::string gate_check_title(const ordered_json& check) {
  const std::string metric = text_at(check, k::kGateMetric);
  const bool higher = text_at(check, k::kGateDirection) != "lower";
  const double limit = json_number(check, k::kGateLimit);
  if (text_at(check, k::kGateCheck) == k::kGateCheckMin)
    return fmt::format("{} {} {}", metric, higher ? ">=" : "<=", format_gate_value(limit, is_fraction(check)));
  return fmt::format("{} {} <= {}", metric, higher ? "drop" : "rise",
                     format_gate_points(limit, is_fraction(check), unit_of(check), false));
}

std::string gate_check_cell(const ordered_json& check, const char* key) {
  const double v = json_number(check, key);
  if (!std::isfinite(v)) return "-";
  const std::string label = text_at(check, k::kGateLabel);
  if (!label.empty() && std::string(key) != k::kGateBound)
    return label + " " + format_gate_value(v, is_fraction(check));
  return format_gate_value(v, is_fraction(check));
}

Table gate_check_table(const ordered_json& checks, std::string (*escape)(const std::string&)) {
  Table t{{"model", "gate", "value", "bound", "baseline", "result"}, {}};
  for (const auto& c : checks) {
    if (!c.is_object()) continue;
    t.rows.push_back({escape(text_at(c, k::kGateModel)), escape(gate_check_title(c)),
                      escape(gate_check_cell(c, k::kGateValue)), gate_check_cell(c, k::kGateBound),
                      escape(gate_check_cell(c, k::kGateBaseline)), c.value(k::kGatePassed, false) ? "pass" : "FAIL"});
  }
  return t;
}

std::string comparison_line(const std::string& model, const ordered_json& c) {
  const std::string baseline = text_at(c, k::kCompareBaselineModel);
  const std::int64_t n = count_at(c, k::kCompareN), unmatched = count_at(c, k::kCompareUnmatched),
                     theirs = count_at(c, k::kCompareBaselineUnmatched);
  std::string s = fmt::format("{} vs baseline {}: ", model, baseline);
  if (n == 0) {
    s += "no examples paired";
  } else {
    auto pct = [](double f) { return fmt::format("{:.1f}%", 100 * f); };
    const double se = json_number(c, k::kCompareChangeSe);
    s += fmt::format("accuracy {} -> {} ({:+.1f}{} points{}, n {}; {} fixed, {} broken)",
                     pct(json_number(c, k::kCompareBaselineAccuracy)), pct(json_number(c, k::kAccuracy)),
                     json_number(c, k::kCompareChange), std::isfinite(se) ? fmt::format(" ± {:.1f}", se) : "",
                     std::isfinite(se) ? " paired SE" : "", n, count_at(c, k::kCompareFixed),
                     count_at(c, k::kCompareBroken));
  }
  if (unmatched) s += fmt::format("; {} of its examples had no baseline match", unmatched);
  if (theirs) s += fmt::format("; {} of the baseline's had no match here", theirs);
  return s;
}

ordered_json read_gate(const ordered_json& gate, const std::string& src) {
  HONE_CHECK(gate.is_object() && gate.contains(k::kGateChecks) && gate[k::kGateChecks].is_array(), InputError,
             "{}: '{}' holds {}, expected an object with an array of '{}'", src, k::kGate, gate.dump(), k::kGateChecks);
  for (const auto& c : gate[k::kGateChecks])
    HONE_CHECK(c.is_object(), InputError, "{}: the gate's '{}' holds {}, expected objects", src, k::kGateChecks,
               c.dump());
  ordered_json out = {{kGateEvalReport, src}};
  for (const char* key : {k::kGatePassed, k::kGateFailed, k::kGateBaselineReport, k::kGateChecks})
    out[key] = gate.contains(key) ? gate[key] : ordered_json(nullptr);
  return out;
}

std::string gate_section_markdown(const ordered_json& report) {
  const ordered_json& models = report["models"];
  const ordered_json& gates = array_at(report, kReportGates);
  const bool compared = has_comparison(models);
  if (!compared && gates.empty()) return "";
  std::string md = compared ? "\n## Feedback round\n\n" : "\n## Gate\n";
  if (compared) {
    md += comparison_table(models, plain).markdown() + "\n" + kComparisonNotes + "\n";
    const Table drops = label_drop_table(models, plain);
    if (!drops.rows.empty()) md += "\nLargest per-label F1 drops:\n\n" + drops.markdown();
    const std::string rises = label_rise_sentence(models);
    if (!rises.empty()) md += "\n" + rises + "\n";
    if (!gates.empty()) md += "\n### Gate\n";
  }
  for (const auto& g : gates) {
    md += "\n" + gate_verdict(g) + "\n\n" + gate_check_table(array_at(g, k::kGateChecks), plain).markdown();
    const std::vector<std::string> failures = gate_failures(g);
    if (!failures.empty()) md += "\n";
    for (const std::string& f : failures) md += "- FAIL " + f + "\n";
  }
  return md;
}

std::string gate_section_html(const ordered_json& report) {
  const ordered_json& models = report["models"];
  const ordered_json& gates = array_at(report, kReportGates);
  const bool compared = has_comparison(models);
  if (!compared && gates.empty()) return "";
  std::string html = compared ? "<h2>Feedback round</h2>\n" : "<h2>Gate</h2>\n";
  if (compared) {
    html += comparison_table(models, xml_escape).html() + "<p>" + xml_escape(kComparisonNotes) + "</p>\n";
    const Table drops = label_drop_table(models, xml_escape);
    if (!drops.rows.empty()) html += "<p>Largest per-label F1 drops:</p>\n" + drops.html();
    const std::string rises = label_rise_sentence(models);
    if (!rises.empty()) html += "<p>" + xml_escape(rises) + "</p>\n";
    if (!gates.empty()) html += "<h3>Gate</h3>\n";
  }
  for (const auto& g : gates) {
    html += "<p>" + xml_escape(gate_verdict(g)) + "</p>\n" +
            gate_check_table(array_at(g, k::kGateChecks), xml_escape).html();
    const std::vector<std::string> failures = gate_failures(g);
    if (failures.empty()) continue;
    html += "<ul>\n";
    for (const std::string& f : failures) html += "<li>FAIL " + xml_escape(f) + "</li>\n";
    html += "</ul>\n";
  }
  return html;
}

}  // namespace hone
