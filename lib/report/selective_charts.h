// The report's "Confidence and routing" section, from the eval reports' confidence (a model row's
// `selective`) and cascade (`cascade`) objects (report/eval_schema.h): a table of each model's
// confidence, calibration and threshold, accuracy against coverage as a line per model, and for a
// cascade its row in the models table, a sentence on what it saves, and accuracy against mean
// latency with one point per model and one for the cascade. No LibTorch.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/table.h"

namespace hone {

// The key of a cascade's two models as its own run measured them ({name, accuracy,
// latency_ms_mean, latency_ms_p50, latency_ms_p95}, first then second).
inline constexpr const char* kCascadeAlone = "alone";

// The cascade object of eval report `src` for report.json: every key of the schema (null where
// absent), `subset`, the report's subset, and `alone`. InputError naming `src` when `cascade` is not an
// object, or its first or second model is not among `report_models` (that report's rows).
nlohmann::ordered_json read_cascade(const nlohmann::ordered_json& cascade, const nlohmann::ordered_json& report_models,
                                    const std::string& subset, const std::string& src);

// "student → tuned (cascade)": the cascade's name (else "FIRST → SECOND") marked as a cascade.
std::string cascade_label(const nlohmann::ordered_json& cascade);

// One row per model with a `selective` object: confidence kind, K, temperature, ECE before → after
// calibration, AURC, target accuracy, threshold (and the split it was chosen on), and the coverage
// and accuracy that threshold gives on the test set. `escape` is applied to the model names.
Table confidence_table(const nlohmann::ordered_json& models, std::string (*escape)(const std::string&));

// "The cascade answers 70.0% of queries with student and defers 30.0% to tuned: accuracy 88.50%
// (tuned alone 90.00%), mean latency 40.2 ms, 0.35× tuned's.", then the threshold and the split
// it was chosen on.
std::string cascade_sentence(const nlohmann::ordered_json& cascade, const nlohmann::ordered_json& models);

// Accuracy against coverage (percent), one line per model with a curve, each model's threshold as
// a marked point.
std::string coverage_chart_svg(const nlohmann::ordered_json& models);

// Accuracy (percent) against mean latency per query (ms; p50 where a report has no mean), one
// marked point for the cascade and one for each of its models as its own run measured them
// (`alone`), or for every model with both where the cascade has no `alone`.
std::string cost_chart_svg(const nlohmann::ordered_json& models, const nlohmann::ordered_json& cascade);

// The whole section ("" when no model has confidence and there is no cascade), as markdown and as
// HTML (with both charts). `report`: report.json's object (models, cascade).
std::string confidence_markdown(const nlohmann::ordered_json& report);
std::string confidence_html(const nlohmann::ordered_json& report);

}  // namespace hone
