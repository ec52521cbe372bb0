#include "eval/gate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "core/json_file.h"
#include "eval/junit.h"
#include "report/eval_schema.h"
#include "report/gate_section.h"
#include "report/table.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

namespace k = eval_report;

// A metric at exactly its bound passes: accuracies are ratios of counts, and 0.80 - 0.02 is not
// 0.78 in binary floating point. In percentage points for --max-drop, in the metric's unit for --min.
constexpr double kTolerance = 1e-9;
constexpr std::size_t kLabelsNamed = 5;  // the worst labels a label_f1 message names

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Percentage points per unit of the metric: 100 for fractions, 1 for the others.
double point_scale(const GateMetricInfo& m) {
  return m.fraction ? 100.0 : 1.0;
}

std::string format_value(const GateMetricInfo& m, double v) {
  return format_gate_value(v, m.fraction);
}

// A change or a limit in --max-drop's unit: "2.00 points", "0.5 ms".
std::string format_points(const GateMetricInfo& m, double points, bool sign) {
  return format_gate_points(points, m.fraction, m.unit, sign);
}

bool measured_on(const GateMetricInfo& m, const std::string& task) {
  if (task == k::kTaskPerplexity) return m.on_perplexity;
  if (task == k::kTaskClassification) return m.on_classification;
  return m.on_generation;
}

ordered_json field(const ordered_json& j, const char* key) {
  return j.contains(key) ? j[key] : ordered_json();
}

// "data/test.jsonl, split test, first 40, 40 examples": what a report evaluated.
std::string describe_set(const ordered_json& r) {
  auto text = [&](const char* key) { return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : "?"; };
  std::string s = fmt::format("{}, split {}", text(k::kData), text(k::kSplit));
  if (r.contains(k::kSubset)) s += ", " + text(k::kSubset);
  if (r.contains(k::kExamples)) s += fmt::format(", {} examples", r[k::kExamples].dump());
  return s;
}

// One label's F1 against its bound: `badness` > 0 fails (how far past the bound it is).
struct LabelCheck {
  std::string label;
  double value = 0, baseline = kNaN, change = kNaN, badness = 0;
};

// The check's head: which model, metric and kind of check, and its limit as given.
ordered_json check_head(const std::string& model, const GateMetricInfo& m, const char* kind, double limit) {
  return {{k::kGateModel, model},    {k::kGateMetric, m.key},
          {k::kGateCheck, kind},     {k::kGateDirection, m.higher_is_better ? "higher" : "lower"},
          {k::kGateLimit, limit},    {k::kGateBound, nullptr},
          {k::kGateValue, nullptr},  {k::kGateBaseline, nullptr},
          {k::kGateChange, nullptr}, {k::kGatePassed, false},
          {k::kGateMessage, ""},     {k::kGateUnit, m.unit}};
}

// Sorts worst first, and sets the check's label, value, baseline and labels from them. Returns
// whether every label passes.
bool set_labels(ordered_json& c, std::vector<LabelCheck>& labels, std::string& named) {
  std::stable_sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) { return a.badness > b.badness; });
  ordered_json failing = ordered_json::array();
  for (const LabelCheck& l : labels) {
    if (l.badness <= kTolerance) break;
    failing.push_back({{k::kGateLabel, l.label},
                       {k::kGateValue, l.value},
                       {k::kGateBaseline, std::isfinite(l.baseline) ? ordered_json(l.baseline) : ordered_json()},
                       {k::kGateChange, std::isfinite(l.change) ? ordered_json(l.change) : ordered_json()}});
    if (failing.size() <= kLabelsNamed) {
      named += fmt::format("{}{} {:.4f}", failing.size() > 1 ? ", " : "", l.label, l.value);
      if (std::isfinite(l.baseline)) named += fmt::format(" (baseline {:.4f}, {:+.2f} points)", l.baseline, l.change);
    }
  }
  if (failing.size() > kLabelsNamed) named += fmt::format(" and {} more", failing.size() - kLabelsNamed);
  if (!labels.empty()) {
    const LabelCheck& worst = labels.front();
    c[k::kGateLabel] = worst.label;
    c[k::kGateValue] = worst.value;
    if (std::isfinite(worst.baseline)) c[k::kGateBaseline] = worst.baseline;
    if (std::isfinite(worst.change)) c[k::kGateChange] = worst.change;
  }
  c[k::kGateLabels] = failing;
  return failing.empty();
}

// The row's {label: F1}, or false when it has none.
bool label_f1s(const ordered_json& row, std::map<std::string, double>& out) {
  if (!row.contains(k::kLabelF1) || !row[k::kLabelF1].is_object()) return false;
  for (const auto& [label, f1] : row[k::kLabelF1].items())
    if (f1.is_number()) out[label] = f1.get<double>();
  return true;
}

// --min METRIC=VALUE on one model's row.
ordered_json check_min(const std::string& model, const ordered_json& row, const GateBound& b) {
  const GateMetricInfo& m = gate_metric_info(b.metric);
  ordered_json c = check_head(model, m, k::kGateCheckMin, b.value);
  c[k::kGateBound] = b.value;
  const char* past = m.higher_is_better ? "below the floor" : "above the ceiling";
  if (b.metric == GateMetric::kLabelF1) {
    std::map<std::string, double> f1;
    if (!label_f1s(row, f1)) {
      c[k::kGateMessage] = fmt::format("{} was not measured (none in the report)", m.key);
      return c;
    }
    std::vector<LabelCheck> labels;
    for (const auto& [label, v] : f1) labels.push_back({label, v, kNaN, kNaN, b.value - v});
    std::string named;
    const bool passed = set_labels(c, labels, named);
    c[k::kGatePassed] = passed;
    c[k::kGateMessage] =
        passed ? fmt::format("every label's F1 >= {} (lowest: {})", format_value(m, b.value),
                             labels.empty() ? "-" : labels.front().label + " " + format_value(m, labels.front().value))
               : fmt::format("label_f1 is below the floor {} for {} of {} labels: {}", format_value(m, b.value),
                             c[k::kGateLabels].size(), labels.size(), named);
    return c;
  }
  const double v = json_number(row, m.key);
  if (!std::isfinite(v)) {
    c[k::kGateMessage] = fmt::format("{} was not measured (null in the report)", m.key);
    return c;
  }
  const bool passed = m.higher_is_better ? v >= b.value - kTolerance : v <= b.value + kTolerance;
  c[k::kGateValue] = v;
  c[k::kGatePassed] = passed;
  c[k::kGateMessage] = passed
                           ? fmt::format("{} {} {} {}", m.key, format_value(m, v),
                                         m.higher_is_better ? ">=" : "<=", format_value(m, b.value))
                           : fmt::format("{} {} is {} {}", m.key, format_value(m, v), past, format_value(m, b.value));
  return c;
}

// --max-drop METRIC=POINTS on one model's row against its baseline row.
ordered_json check_drop(const std::string& model, const ordered_json& row, const ordered_json& base,
                        const GateBound& b) {
  const GateMetricInfo& m = gate_metric_info(b.metric);
  ordered_json c = check_head(model, m, k::kGateCheckMaxDrop, b.value);
  const double scale = point_scale(m), sign = m.higher_is_better ? 1.0 : -1.0;
  const char* drop = m.higher_is_better ? "dropped" : "rose";
  if (b.metric == GateMetric::kLabelF1) {
    std::map<std::string, double> now, then;
    if (!label_f1s(row, now)) {
      c[k::kGateMessage] = fmt::format("{} was not measured (none in the report)", m.key);
      return c;
    }
    label_f1s(base, then);
    std::set<std::string> names;
    for (const auto* f : {&now, &then})
      for (const auto& [label, v] : *f) names.insert(label);
    std::vector<LabelCheck> labels;
    for (const std::string& l : names) {
      const double v = now.count(l) ? now[l] : 0.0, bv = then.count(l) ? then[l] : 0.0;  // absent: never right
      const double change = (v - bv) * scale;
      labels.push_back({l, v, bv, change, -sign * change - b.value});
    }
    std::string named;
    const bool passed = set_labels(c, labels, named);
    c[k::kGatePassed] = passed;
    c[k::kGateMessage] =
        passed ? fmt::format("no label's F1 dropped more than {} from the baseline (worst: {} {})",
                             format_points(m, b.value, false), labels.empty() ? "-" : labels.front().label,
                             labels.empty() ? "" : format_points(m, labels.front().change, true))
               : fmt::format("label_f1 dropped more than {} from the baseline for {} of {} labels: {}",
                             format_points(m, b.value, false), c[k::kGateLabels].size(), labels.size(), named);
    return c;
  }
  const double v = json_number(row, m.key), bv = json_number(base, m.key);
  c[k::kGateBaseline] = bv;
  c[k::kGateBound] = bv - sign * b.value / scale;
  if (!std::isfinite(v)) {
    c[k::kGateMessage] = fmt::format("{} was not measured (null in the report)", m.key);
    return c;
  }
  const double change = (v - bv) * scale;
  const bool passed = -sign * change <= b.value + kTolerance;
  c[k::kGateValue] = v;
  c[k::kGateChange] = change;
  c[k::kGatePassed] = passed;
  c[k::kGateMessage] =
      passed ? fmt::format("{} {} against the baseline's {}: {} (at most {} {} allowed)", m.key, format_value(m, v),
                           format_value(m, bv), format_points(m, change, true), format_points(m, b.value, false),
                           m.higher_is_better ? "drop" : "rise")
             : fmt::format("{} {} {} {} from the baseline's {} (at most {} allowed: bound {})", m.key,
                           format_value(m, v), drop, format_points(m, std::abs(change), false), format_value(m, bv),
                           format_points(m, b.value, false), format_value(m, bv - sign * b.value / scale));
  return c;
}

// The checks' table (report/gate_section.h) and a FAIL line per failed check.
std::string gate_markdown(const ordered_json& checks, std::int64_t failed) {
  const Table t = gate_check_table(checks, [](const std::string& s) { return s; });
  std::string lines;
  for (const ordered_json& c : checks)
    if (!c[k::kGatePassed].get<bool>())
      lines += fmt::format("FAIL {}: {}\n", c[k::kGateModel].get<std::string>(), c[k::kGateMessage].get<std::string>());
  const std::string head = failed ? fmt::format("\nGate: {} of {} checks failed.\n\n", failed, checks.size())
                                  : fmt::format("\nGate: all {} checks passed.\n\n", checks.size());
  return head + t.markdown() + (lines.empty() ? "" : "\n" + lines);
}

}  // namespace

const std::vector<GateMetricInfo>& gate_metrics() {
  // {metric, key, higher is better, fraction, unit, on perplexity, classification, generation sets}
  static const std::vector<GateMetricInfo> metrics = {
      {GateMetric::kAccuracy, k::kAccuracy, true, true, "fraction", false, true, false},
      {GateMetric::kMacroF1, k::kMacroF1, true, true, "fraction", false, true, false},
      {GateMetric::kScoreAccuracy, k::kScoreAccuracy, true, true, "fraction", false, true, false},
      {GateMetric::kScoreMacroF1, k::kScoreMacroF1, true, true, "fraction", false, true, false},
      {GateMetric::kGenerateAccuracy, k::kGenerateAccuracy, true, true, "fraction", false, true, false},
      {GateMetric::kGenerateMacroF1, k::kGenerateMacroF1, true, true, "fraction", false, true, false},
      {GateMetric::kExactMatch, k::kExactMatch, true, true, "fraction", false, true, true},
      {GateMetric::kNormalizedMatch, k::kNormalizedMatch, true, true, "fraction", false, true, true},
      {GateMetric::kFormatValidity, k::kFormatValidity, true, true, "fraction", false, true, true},
      {GateMetric::kLabelF1, k::kLabelF1, true, true, "fraction", false, true, false},
      {GateMetric::kMeanLoss, k::kMeanLoss, false, false, "nats", true, false, false},
      {GateMetric::kPerplexity, k::kPerplexity, false, false, "", true, false, false},
      {GateMetric::kLatencyMsMean, k::kLatencyMsMean, false, false, "ms", false, true, true},
      {GateMetric::kLatencyMsP50, k::kLatencyMsP50, false, false, "ms", true, true, true},
      {GateMetric::kLatencyMsP95, k::kLatencyMsP95, false, false, "ms", true, true, true},
      {GateMetric::kTokensPerS, k::kTokensPerS, true, false, "tokens/s", true, true, true},
  };
  return metrics;
}

const GateMetricInfo& gate_metric_info(GateMetric metric) {
  for (const GateMetricInfo& m : gate_metrics())
    if (m.metric == metric) return m;
  HONE_THROW(RuntimeError, "gate metric {} has no entry in gate_metrics()", static_cast<int>(metric));
}

void check_gate_options(const GateOptions& o) {
  for (const GateBound& b : o.min) {
    const GateMetricInfo& m = gate_metric_info(b.metric);
    HONE_CHECK(std::isfinite(b.value), UsageError, "--min {}={}: not a finite number", m.key, b.value);
    HONE_CHECK(!m.fraction || (b.value >= 0 && b.value <= 1), UsageError,
               Hint{fmt::format("--min takes {} as a fraction, as the report writes it: --min {}={:g} asks for {:g}%",
                                m.key, m.key, b.value / 100, b.value)},
               "--min {}={:g}: {} is a fraction in [0, 1]", m.key, b.value, m.key);
  }
  for (const GateBound& b : o.max_drop) {
    const GateMetricInfo& m = gate_metric_info(b.metric);
    HONE_CHECK(std::isfinite(b.value) && b.value >= 0 && (!m.fraction || b.value <= 100), UsageError,
               "--max-drop {}={:g}: POINTS must be at least 0{}", m.key, b.value,
               m.fraction ? " and at most 100 (percentage points)" : "");
  }
  HONE_CHECK(o.max_drop.empty() || !o.baseline.empty(), UsageError, Hint{"add --baseline PREVIOUS/report.json"},
             "--max-drop limits a regression against a previous model's eval report: give --baseline REPORT.json");
  HONE_CHECK(o.baseline.empty() || !o.max_drop.empty(), UsageError,
             Hint{"add --max-drop METRIC=POINTS, e.g. accuracy=2"},
             "--baseline {} is only read to compare by --max-drop: give one", o.baseline.string());
}

Gate::Gate(const GateOptions& options, const ordered_json& report) : o_(options) {
  check_gate_options(o_);
  const std::string task = report.at(k::kTask).get<std::string>();
  for (const auto* bounds : {&o_.min, &o_.max_drop})
    for (const GateBound& b : *bounds) {
      const GateMetricInfo& m = gate_metric_info(b.metric);
      std::string valid;
      for (const GateMetricInfo& v : gate_metrics())
        if (measured_on(v, task)) valid += std::string(valid.empty() ? "" : ", ") + v.key;
      HONE_CHECK(measured_on(m, task), UsageError, Hint{"a " + task + " set's metrics: " + valid},
                 "{} is not measured on a {} set ({})", m.key, task, describe_set(report));
    }
  if (o_.baseline.empty()) return;
  const std::string src = o_.baseline.string();
  ordered_json b = read_json_object<ordered_json>(o_.baseline);
  HONE_CHECK(b.contains(k::kTask) && b.contains(k::kModels) && b[k::kModels].is_array() && !b[k::kModels].empty(),
             InputError, Hint{"--baseline takes the report.json that hone eval --report wrote"},
             "{}: not a hone eval report (no task, or no models)", src);
  const std::string theirs = json_value<std::string>(b, k::kDataHash, "", src);
  const std::string mine = report.at(k::kDataHash).get<std::string>();
  HONE_CHECK(!theirs.empty(), InputError,
             Hint{"evaluate the baseline model again with this hone (same --data, --split, --limit/--sample)"},
             "{}: the report has no data_hash (written before hone recorded what it evaluated): it cannot be shown "
             "to have evaluated the same examples as this eval (data_hash {})",
             src, mine);
  HONE_CHECK(theirs == mine, InputError, Hint{"evaluate both models on the same --data, --split and --limit/--sample"},
             "{} evaluated another test set: its data_hash {} ({}) is not this eval's {} ({})", src, theirs,
             describe_set(b), mine, describe_set(report));
  baseline_ = std::move(b);
}

const ordered_json& Gate::baseline_row(const std::string& name) const {
  HONE_CHECK(baseline_.has_value(), RuntimeError, "no --baseline to find model '{}' in", name);
  const std::string src = o_.baseline.string();
  const ordered_json& rows = (*baseline_)[k::kModels];
  const ordered_json* row = nullptr;
  std::string names;
  for (const ordered_json& r : rows) {
    const std::string n = r.value(k::kName, std::string());
    names += (names.empty() ? "'" : ", '") + n + "'";
    if (!row && n == name) row = &r;
  }
  if (!row && rows.size() == 1) row = &rows[0];
  HONE_CHECK(row != nullptr, InputError,
             Hint{"name each model as the baseline's row (--name), or give a baseline report of one model"},
             "{}: no model named '{}' among its {} models ({})", src, name, rows.size(), names);
  for (const GateBound& b : o_.max_drop) {
    const GateMetricInfo& m = gate_metric_info(b.metric);
    const bool per_label = b.metric == GateMetric::kLabelF1;
    const bool has = row->contains(m.key) && (per_label ? (*row)[m.key].is_object() : (*row)[m.key].is_number());
    HONE_CHECK(has, InputError,
               Hint{per_label ? "evaluate the baseline model again with this hone: its report then has label_f1"
                              : "evaluate the baseline model so that it measures " + std::string(m.key)},
               "{}: model '{}' has no {} to compare with ({})", src, row->value(k::kName, std::string()), m.key,
               per_label ? "per-label F1 not recorded" : "null: not measured");
  }
  return *row;
}

GateResult Gate::check(const ordered_json& report) const {
  GateResult out;
  if (!o_.any()) return out;
  if (baseline_)
    for (const char* key : {k::kMethod, k::kScoring, k::kDtype})
      if (field(*baseline_, key) != field(report, key))
        spdlog::warn("the baseline {} has {} {}, this eval {}: their metrics may differ for that reason alone",
                     o_.baseline.string(), key, field(*baseline_, key).dump(), field(report, key).dump());
  ordered_json checks = ordered_json::array();
  for (const ordered_json& row : report.at(k::kModels)) {
    const std::string name = row.at(k::kName).get<std::string>();
    for (const GateBound& b : o_.min) checks.push_back(check_min(name, row, b));
    for (const GateBound& b : o_.max_drop) checks.push_back(check_drop(name, row, baseline_row(name), b));
  }
  for (const ordered_json& c : checks)
    if (!c[k::kGatePassed].get<bool>())
      out.failures.push_back(
          fmt::format("{}: {}", c[k::kGateModel].get<std::string>(), c[k::kGateMessage].get<std::string>()));
  const auto failed = static_cast<std::int64_t>(out.failures.size());
  out.checks = static_cast<std::int64_t>(checks.size());
  out.markdown = gate_markdown(checks, failed);
  out.json = {{k::kGatePassed, failed == 0},
              {k::kGateFailed, failed},
              {k::kGateBaselineReport, o_.baseline.empty() ? ordered_json() : ordered_json(o_.baseline.string())},
              {k::kGateChecks, checks}};
  return out;
}

void write_gate_junit(const fs::path& path, const ordered_json& report) {
  const std::string task = report.at(k::kTask).get<std::string>();
  const ordered_json checks = report.contains(k::kGate) ? report[k::kGate][k::kGateChecks] : ordered_json::array();
  std::vector<JUnitSuite> suites;
  for (const ordered_json& row : report.at(k::kModels)) {
    const std::string name = row.at(k::kName).get<std::string>();
    JUnitSuite s{"hone eval: " + name, json_number(row, k::kSeconds), {}};
    if (!std::isfinite(s.seconds)) s.seconds = 0;
    for (const GateMetricInfo& m : gate_metrics()) {
      if (!measured_on(m, task) || !row.contains(m.key)) continue;
      JUnitCase c{std::string("metric: ") + m.key, name, false, "", "", ""};
      if (m.metric == GateMetric::kLabelF1 && row[m.key].is_object()) {
        for (const auto& [label, f1] : row[m.key].items()) c.output += fmt::format("{} = {}\n", label, f1.dump());
      } else if (row[m.key].is_number()) {
        c.output = fmt::format("{} = {}{}", m.key, format_value(m, row[m.key].get<double>()),
                               *m.unit && !m.fraction ? std::string(" ") + m.unit : "");
      } else {
        continue;  // not measured (null)
      }
      s.cases.push_back(std::move(c));
    }
    for (const ordered_json& g : checks) {
      if (g[k::kGateModel] != name) continue;
      const bool passed = g[k::kGatePassed].get<bool>();
      const std::string message = g[k::kGateMessage].get<std::string>();
      JUnitCase c{"gate: " + gate_check_title(g), name, !passed, message, "", passed ? message : ""};
      if (!passed)
        c.failure_text = fmt::format("value: {}\nbound: {}\nbaseline: {}\n{}", gate_check_cell(g, k::kGateValue),
                                     gate_check_cell(g, k::kGateBound), gate_check_cell(g, k::kGateBaseline),
                                     g.contains(k::kGateLabels) ? "labels: " + g[k::kGateLabels].dump() : "");
      s.cases.push_back(std::move(c));
    }
    suites.push_back(std::move(s));
  }
  write_junit(path, "hone eval", suites);
}

void require_gate_passed(const GateResult& result) {
  if (result.failures.empty()) return;
  std::string all;
  for (const std::string& f : result.failures) all += (all.empty() ? "" : "; ") + f;
  HONE_THROW(GateFailure,
             Hint{"the report and predictions are written; the gate object in the report lists every check"},
             "{} of {} gate checks failed: {}", result.failures.size(), result.checks, all);
}

}  // namespace hone
