#include "report/selective_charts.h"

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

const char* const kCascadeColor = "#222222";

// The object at `key` of `j`, or null.
const ordered_json& object_at(const ordered_json& j, const char* key) {
  static const ordered_json none;
  const auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : none;
}

// The array at `key` of `j`, or null.
const ordered_json& array_at(const ordered_json& j, const char* key) {
  static const ordered_json none;
  const auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : none;
}

std::string text_at(const ordered_json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The row of the model named `name`, or null.
const ordered_json& model_named(const ordered_json& models, const std::string& name) {
  static const ordered_json none;
  for (const auto& m : models)
    if (text_at(m, k::kName) == name) return m;
  return none;
}

// A model's mean latency per query in ms, its p50 where its report has no mean.
double mean_latency(const ordered_json& m) {
  const double mean = json_number(m, k::kLatencyMsMean);
  return std::isfinite(mean) ? mean : json_number(m, k::kLatencyMsP50);
}

std::string confidence_kind(const ordered_json& sel) {
  const std::string kind = text_at(sel, k::kConfidence);
  if (kind == k::kConfidenceLabelProbability) return "label probability";
  if (kind == k::kConfidenceMeanTokenLogprob) return "mean token log-prob";
  return kind.empty() ? "-" : kind;
}

// "1.750" for a fitted temperature, "1 (not fitted)" without calibration; "-" where the
// confidence is not a probability.
std::string temperature_cell(const ordered_json& sel) {
  if (text_at(sel, k::kConfidence) == k::kConfidenceMeanTokenLogprob) return "-";
  if (object_at(sel, k::kCalibration).is_null())
    return format_fixed(json_number(sel, k::kTemperature), 0) + " (not fitted)";
  return format_fixed(json_number(sel, k::kTemperature), 3);
}

// "0.1200 → 0.0300": a measure at T = 1 → at the fitted temperature; one number without
// calibration or where the two print the same (temperature scaling keeps the ranking, so the AURC
// rarely moves); "-" for none.
std::string before_after(const ordered_json& sel, const char* before_key, const char* after_key) {
  const std::string before = format_fixed(json_number(sel, before_key), 4);
  const std::string after = format_fixed(json_number(sel, after_key), 4);
  return after == "-" || after == before ? before : before + " → " + after;
}

// "0.820 (valid)"; "not reached" when a target accuracy was given and no threshold reaches it.
std::string threshold_cell(const ordered_json& sel) {
  const ordered_json& th = object_at(sel, k::kSelectiveThreshold);
  if (th.is_null()) return std::isfinite(json_number(sel, k::kTargetAccuracy)) ? "not reached" : "-";
  const std::string on = text_at(th, k::kChosenOn);
  return format_fixed(json_number(th, k::kThresholdValue), 3) + (on.empty() ? "" : " (" + on + ")");
}

// The (coverage, accuracy) points of a curve in percent, coverage ascending. The report lists them
// from the highest threshold down, which is already lowest coverage first; sorting keeps the chart
// right whatever the order.
std::vector<std::pair<double, double>> curve_points(const ordered_json& sel) {
  std::vector<std::pair<double, double>> points;
  const auto it = sel.find(k::kCurve);
  if (it == sel.end() || !it->is_array()) return points;
  for (const auto& p : *it)
    if (p.is_object()) points.emplace_back(100 * json_number(p, k::kCoverage), 100 * json_number(p, k::kAccuracy));
  std::stable_sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return points;
}

bool has_confidence(const ordered_json& models) {
  return std::any_of(models.begin(), models.end(),
                     [](const ordered_json& m) { return object_at(m, k::kSelective).is_object(); });
}

// Whether some model has a threshold on a calibrated confidence: what `hone export --routing` writes.
bool has_routing(const ordered_json& models) {
  return std::any_of(models.begin(), models.end(), [](const ordered_json& m) {
    const ordered_json& sel = object_at(m, k::kSelective);
    return object_at(sel, k::kCalibration).is_object() && object_at(sel, k::kSelectiveThreshold).is_object();
  });
}

// What the table's columns mean, and how to ship a threshold; `code` wraps the command (markdown
// backticks, or an escaped HTML <code>), `escape` the rest.
std::string confidence_notes(const ordered_json& models, std::string (*escape)(const std::string&),
                             std::string (*code)(const std::string&)) {
  std::string s = escape(
      "ECE: expected calibration error on the test set (15 bins); AURC: area under its risk-coverage curve (lower "
      "is better); each at temperature 1 → at the temperature fitted on the calibration split. The threshold is the "
      "lowest confidence whose answers reach the target accuracy on the split named beside it; coverage and "
      "accuracy are what it keeps on the test set.");
  if (has_routing(models))
    s += " " + code("hone export --routing REPORT.json --routing-model MODEL") +
         escape(" writes a model's temperature and threshold beside its export (routing.json).");
  return s;
}

std::string plain(const std::string& s) {
  return s;
}
std::string md_code(const std::string& s) {
  return "`" + s + "`";
}
std::string html_code(const std::string& s) {
  return "<code>" + xml_escape(s) + "</code>";
}

}  // namespace

ordered_json read_cascade(const ordered_json& cascade, const ordered_json& report_models, const std::string& subset,
                          const std::string& src) {
  HONE_CHECK(cascade.is_object(), InputError, "{}: '{}' holds {}, expected an object", src, k::kCascade,
             cascade.dump());
  ordered_json out = ordered_json::object();
  for (const char* key : {k::kName, k::kCascadeFirst, k::kCascadeSecond, k::kThresholdValue, k::kChosenOn,
                          k::kTargetAccuracy, k::kExamples, k::kAccuracy, k::kMacroF1, k::kDeferred, k::kLatencyMsMean,
                          k::kLatencyMsP50, k::kLatencyMsP95, k::kLatencyRatio, k::kAccuracyGap})
    out[key] = cascade.contains(key) ? cascade[key] : ordered_json(nullptr);
  out[k::kSubset] = subset;
  // The two models as that run measured them: their latencies are comparable with the cascade's
  // (the same scoring, in the same process), which another report's need not be.
  ordered_json alone = ordered_json::array();
  for (const char* key : {k::kCascadeFirst, k::kCascadeSecond}) {
    const std::string name = text_at(cascade, key);
    const ordered_json& m = model_named(report_models, name);
    HONE_CHECK(!m.is_null(), InputError, "{}: the cascade's {} model '{}' is not one of the report's models", src,
               key, name);
    ordered_json row = ordered_json::object();
    for (const char* k2 : {k::kName, k::kAccuracy, k::kLatencyMsMean, k::kLatencyMsP50, k::kLatencyMsP95})
      row[k2] = m.contains(k2) ? m[k2] : ordered_json(nullptr);
    alone.push_back(row);
  }
  out[kCascadeAlone] = alone;
  return out;
}

std::string cascade_label(const ordered_json& cascade) {
  std::string name = text_at(cascade, k::kName);
  if (name.empty()) name = text_at(cascade, k::kCascadeFirst) + " → " + text_at(cascade, k::kCascadeSecond);
  return name + " (cascade)";
}

Table confidence_table(const ordered_json& models, std::string (*escape)(const std::string&)) {
  Table t{{"model", "confidence", "K", "temperature", "ECE", "AURC", "target accuracy", "threshold (chosen on)",
           "coverage", "accuracy"},
          {}};
  for (const auto& m : models) {
    const ordered_json& sel = object_at(m, k::kSelective);
    if (sel.is_null()) continue;
    const ordered_json& th = object_at(sel, k::kSelectiveThreshold);
    const bool probability = text_at(sel, k::kConfidence) != k::kConfidenceMeanTokenLogprob;
    t.rows.push_back({escape(text_at(m, k::kName)), confidence_kind(sel),
                      probability ? format_fixed(json_number(sel, k::kConfidenceLabels), 0) : "-",
                      temperature_cell(sel), before_after(sel, k::kEce, k::kEceCalibrated),
                      before_after(sel, k::kAurc, k::kAurcCalibrated),
                      format_percent(json_number(sel, k::kTargetAccuracy)), threshold_cell(sel),
                      format_percent(json_number(th, k::kCoverage)), format_percent(json_number(th, k::kAccuracy))});
  }
  return t;
}

std::string cascade_sentence(const ordered_json& cascade, const ordered_json& models) {
  const std::string first = text_at(cascade, k::kCascadeFirst), second = text_at(cascade, k::kCascadeSecond);
  const double deferred = json_number(cascade, k::kDeferred), accuracy = json_number(cascade, k::kAccuracy);
  double second_accuracy = json_number(model_named(models, second), k::kAccuracy);
  if (!std::isfinite(second_accuracy)) second_accuracy = accuracy - json_number(cascade, k::kAccuracyGap);
  auto share = [](double f) { return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : std::string("-"); };
  const ordered_json& second_alone = model_named(array_at(cascade, kCascadeAlone), second);
  const double second_ms = json_number(second_alone, k::kLatencyMsMean);
  std::string s = fmt::format(
      "The cascade answers {} of queries with {} and defers {} to {}: accuracy {} ({} alone {}), mean scoring "
      "latency {} ms per query, {}× {}'s{}.",
      share(1 - deferred), first, share(deferred), second, format_percent(accuracy), second,
      format_percent(second_accuracy), format_fixed(json_number(cascade, k::kLatencyMsMean), 1),
      format_fixed(json_number(cascade, k::kLatencyRatio), 2), second,
      std::isfinite(second_ms) ? fmt::format(" ({} ms in the same run)", format_fixed(second_ms, 1)) : "");
  const double threshold = json_number(cascade, k::kThresholdValue), target = json_number(cascade, k::kTargetAccuracy);
  if (std::isfinite(threshold)) {
    const std::string on = text_at(cascade, k::kChosenOn);
    s += fmt::format(" The threshold on {}'s confidence, {}, was chosen", first, format_fixed(threshold, 3));
    if (!on.empty()) s += fmt::format(" on the '{}' split", on);
    if (std::isfinite(target)) s += fmt::format(" for a target accuracy of {}", format_percent(target));
    s += ".";
  }
  return s;
}

std::string coverage_chart_svg(const ordered_json& models) {
  std::vector<PlotSeries> series;
  std::size_t color = 0;
  for (const auto& m : models) {
    const ordered_json& sel = object_at(m, k::kSelective);
    if (sel.is_null()) continue;
    const std::string name = text_at(m, k::kName), c = kPlotColors[color++ % kPlotColorCount];
    series.push_back({name, curve_points(sel), c, false});
    const ordered_json& th = object_at(sel, k::kSelectiveThreshold);
    if (th.is_object())
      series.push_back({name + " at its threshold",
                        {{100 * json_number(th, k::kCoverage), 100 * json_number(th, k::kAccuracy)}},
                        c,
                        true});
  }
  return line_chart_svg("Accuracy of the answers kept, by coverage", "coverage (% of test queries answered)",
                        "accuracy (%)", series);
}

std::string cost_chart_svg(const ordered_json& models, const ordered_json& cascade) {
  std::vector<PlotSeries> series;
  std::size_t color = 0;
  const ordered_json& alone = array_at(cascade, kCascadeAlone);
  for (const auto& m : alone.is_array() ? alone : models) {
    const double x = mean_latency(m), y = 100 * json_number(m, k::kAccuracy);
    const std::string c = kPlotColors[color++ % kPlotColorCount];
    if (std::isfinite(x) && std::isfinite(y)) series.push_back({text_at(m, k::kName), {{x, y}}, c, true});
  }
  if (cascade.is_object())
    series.push_back({cascade_label(cascade),
                      {{mean_latency(cascade), 100 * json_number(cascade, k::kAccuracy)}},
                      kCascadeColor,
                      true});
  return line_chart_svg("Accuracy against cost", alone.is_array() ? "mean scoring latency per query (ms)" : "mean latency per query (ms)", "accuracy (%)", series);
}

std::string confidence_markdown(const ordered_json& report) {
  const ordered_json& models = report["models"];
  const ordered_json& cascade = object_at(report, k::kCascade);
  if (!has_confidence(models) && cascade.is_null()) return "";
  std::string md = "\n## Confidence and routing\n\n";
  if (has_confidence(models))
    md += confidence_table(models, plain).markdown() + "\n" + confidence_notes(models, plain, md_code) + "\n";
  if (cascade.is_object()) md += (has_confidence(models) ? "\n" : "") + cascade_sentence(cascade, models) + "\n";
  return md;
}

std::string confidence_html(const ordered_json& report) {
  const ordered_json& models = report["models"];
  const ordered_json& cascade = object_at(report, k::kCascade);
  if (!has_confidence(models) && cascade.is_null()) return "";
  std::string html = "<h2>Confidence and routing</h2>\n";
  if (has_confidence(models))
    html += confidence_table(models, xml_escape).html() + "<p>" + confidence_notes(models, xml_escape, html_code) +
            "</p>\n" + coverage_chart_svg(models);
  if (cascade.is_object())
    html += "<p>" + xml_escape(cascade_sentence(cascade, models)) + "</p>\n" + cost_chart_svg(models, cascade);
  return html;
}

}  // namespace hone
