// The CI gate of `hone eval`: floors on each evaluated model's metrics (--min METRIC=VALUE) and
// regression limits against the eval report of a previous model (--baseline REPORT.json
// --max-drop METRIC=POINTS), checked on every model's row of the report. The report gets a
// "gate" object (report/eval_schema.h), stdout a table of the checks, --junit a JUnit XML file;
// a failed check makes the command exit with code 4 once all of that is written. With --baseline,
// each row is also compared with its baseline row example by example (baseline_comparison.h): that
// comparison is informational, and no check reads it.
//
// Units. A metric's value is in the report's unit: accuracy-like metrics are fractions in [0, 1],
// so --min accuracy=0.85 asks for 85%. POINTS are percentage points for fraction metrics
// (--max-drop accuracy=2 allows 0.80 -> 0.78) and the metric's own unit for the others
// (perplexity, nats, ms, tokens/s). For a lower-is-better metric (perplexity, loss, latency) the
// floor is a ceiling and the drop a rise.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

// What a gate can name: the report's own keys of a model's row (report/eval_schema.h).
enum class GateMetric {
  kAccuracy,
  kMacroF1,
  kScoreAccuracy,
  kScoreMacroF1,
  kGenerateAccuracy,
  kGenerateMacroF1,
  kExactMatch,
  kNormalizedMatch,
  kFormatValidity,
  kLabelF1,  // every label's F1 (the row's label_f1): a gate fails when any label fails it
  kMeanLoss,
  kPerplexity,
  kLatencyMsMean,
  kLatencyMsP50,
  kLatencyMsP95,
  kTokensPerS,
};

struct GateMetricInfo {
  GateMetric metric;
  const char* key;        // the row's key, and the name --min and --max-drop take
  bool higher_is_better;  // false: --min is a ceiling and --max-drop limits a rise
  bool fraction;          // a share in [0, 1]: --max-drop in percentage points
  const char* unit;       // what a value is in, for messages ("fraction", "ms"; "": perplexity)
  // The tasks whose rows have it (report "task"): perplexity, classification, generation.
  bool on_perplexity, on_classification, on_generation;
};

// Every metric a gate can name, in the order docs and errors list them.
const std::vector<GateMetricInfo>& gate_metrics();
const GateMetricInfo& gate_metric_info(GateMetric metric);

// One --min METRIC=VALUE or --max-drop METRIC=POINTS.
struct GateBound {
  GateMetric metric = GateMetric::kAccuracy;
  double value = 0;  // VALUE in the metric's unit, or POINTS (percentage points for fractions)
};

struct GateOptions {
  std::vector<GateBound> min;       // floors (ceilings for lower-is-better metrics)
  fs::path baseline;                // the previous model's eval report, which --max-drop compares with
  std::vector<GateBound> max_drop;  // the largest drop (rise for lower-is-better metrics) from the baseline
  fs::path junit;                   // a JUnit XML file of every metric and gate check ("" -> none)
  bool any() const { return !min.empty() || !max_drop.empty(); }
};

// UsageError for a bound out of range (a fraction's floor outside [0, 1], POINTS negative or a
// fraction's over 100, a value that is not finite), or --max-drop without --baseline and the reverse.
void check_gate_options(const GateOptions& options);

// What the checks found.
struct GateResult {
  nlohmann::ordered_json json;        // the report's "gate" object (null: no gate was given)
  std::string markdown;               // the checks as a table and each failure on a line ("" : none)
  std::vector<std::string> failures;  // one line per failed check: model, metric, value, bound, baseline
  std::int64_t checks = 0;            // checks made
};

class Gate {
 public:
  // `report` holds the evaluated set's task and data_hash. Reads the baseline report: InputError
  // when it is not an eval report or evaluated other examples (another data_hash; both named).
  // UsageError for a metric the task does not measure.
  Gate(const GateOptions& options, const nlohmann::ordered_json& report);

  // The baseline's row for the model `name`: the row of that name, else the baseline's only row;
  // InputError otherwise, or when the row lacks a metric --max-drop compares. Called once a model
  // is loaded, so that a mismatch stops the eval before it measures.
  const nlohmann::ordered_json& baseline_row(const std::string& name) const;

  // Checks every model row of `report`.
  GateResult check(const nlohmann::ordered_json& report) const;

 private:
  GateOptions o_;
  std::optional<nlohmann::ordered_json> baseline_;
};

// Every metric of each model row (a passing test case each) and every gate check (failing where it
// failed) as JUnit XML, one <testsuite> per model, written atomically.
void write_gate_junit(const fs::path& path, const nlohmann::ordered_json& report);

// GateFailure (exit code 4) naming every failed check, when any failed.
void require_gate_passed(const GateResult& result);

}  // namespace hone
