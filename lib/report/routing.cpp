#include "report/routing.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_file.h"
#include "report/eval_schema.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

namespace k = eval_report;

constexpr const char* kFormat = "hone-routing";
constexpr int kVersion = 1;

// The row of `model` in the report's models. "": the cascade's first model where the report has a
// cascade (the model that answers or defers), else the only model; a report of several models
// without a cascade must name one.
const ordered_json& model_row(const ordered_json& report, const std::string& model, const std::string& src) {
  HONE_CHECK(report.contains(k::kModels) && report[k::kModels].is_array() && !report[k::kModels].empty(), InputError,
             "{}: no '{}' (not a hone eval report)", src, k::kModels);
  const ordered_json& models = report[k::kModels];
  std::string names;
  for (const auto& m : models) names += (names.empty() ? "" : ", ") + m.value(k::kName, std::string("?"));
  std::string wanted = model;
  if (wanted.empty() && report.contains(k::kCascade) && report[k::kCascade].is_object())
    wanted = report[k::kCascade].value(k::kCascadeFirst, std::string());
  if (wanted.empty()) {
    HONE_CHECK(models.size() == 1, InputError, Hint{"name the model to route with --routing-model"},
               "{}: {} models ({}) and no cascade: which one to route?", src, models.size(), names);
    return models[0];
  }
  for (const auto& m : models)
    if (m.is_object() && m.value(k::kName, std::string()) == wanted) return m;
  HONE_THROW(InputError, "{}: no model named '{}' (it has {})", src, wanted, names);
}

template <class T>
T required(const ordered_json& j, const char* key, const std::string& src, const std::string& where) {
  HONE_CHECK(j.is_object() && j.contains(key) && !j[key].is_null(), InputError, "{}: {} has no '{}'", src, where, key);
  return json_value<T>(j, key, T{}, src);
}

}  // namespace

namespace {

// options.<key> of an ingested data directory's manifest, where it is a string.
std::optional<std::string> manifest_option(const std::string& data, const char* key) {
  std::error_code ec;
  const fs::path manifest = fs::path(data) / "manifest.json";
  if (data.empty() || !fs::is_regular_file(manifest, ec)) return std::nullopt;
  const ordered_json m = read_json_object<ordered_json>(manifest);
  if (!m.contains("options") || !m["options"].is_object() || !m["options"].contains(key) ||
      !m["options"][key].is_string())
    return std::nullopt;
  return m["options"][key].get<std::string>();
}

}  // namespace

std::optional<std::string> data_system(const std::string& data) { return manifest_option(data, "system"); }

std::optional<std::string> data_prompt_template(const std::string& data) {
  return manifest_option(data, "prompt_template");
}

Routing routing_from_eval_report(const fs::path& report_path, const std::string& model) {
  const std::string src = report_path.string();
  const ordered_json report = read_json_object<ordered_json>(report_path);
  HONE_CHECK(report.value(k::kTask, std::string()) == k::kTaskClassification, InputError,
             Hint{"route with the report of hone eval on a classification set"},
             "{}: a '{}' report, expected a classification one", src, report.value(k::kTask, std::string("?")));
  const ordered_json& row = model_row(report, model, src);
  Routing r;
  r.model = required<std::string>(row, k::kName, src, "the model");
  const std::string where = "model '" + r.model + "'";
  r.evaluated_model = json_value<std::string>(row, k::kModel, "", src);
  r.evaluated_adapter = json_value<std::string>(row, k::kAdapter, "", src);
  const ordered_json& sel = row.contains(k::kSelective) ? row[k::kSelective] : ordered_json();
  HONE_CHECK(sel.is_object(), InputError, Hint{"hone eval --score-top 2 (or more) --calibrate --target-accuracy A"},
             "{}: {} has no confidence ('{}')", src, where, k::kSelective);
  const std::string kind = json_value<std::string>(sel, k::kConfidence, "", src);
  HONE_CHECK(kind == k::kConfidenceLabelProbability, InputError,
             "{}: {}'s confidence is '{}', routing needs '{}' (label scoring)", src, where, kind,
             k::kConfidenceLabelProbability);
  const ordered_json& cal = sel.contains(k::kCalibration) ? sel[k::kCalibration] : ordered_json();
  HONE_CHECK(cal.is_object(), InputError, Hint{"hone eval --calibrate fits the temperature on the valid split"},
             "{}: {} was not calibrated", src, where);
  const ordered_json& th = sel.contains(k::kSelectiveThreshold) ? sel[k::kSelectiveThreshold] : ordered_json();
  HONE_CHECK(th.is_object(), InputError,
             Hint{"give hone eval --target-accuracy A, with A reachable on the calibration split"},
             "{}: {} has no confidence threshold ('{}')", src, where, k::kSelectiveThreshold);
  r.labels = required<std::vector<std::string>>(report, k::kLabelNames, src, "the report");
  r.scoring = required<std::string>(report, k::kScoring, src, "the report");
  r.confidence_labels = required<std::int64_t>(sel, k::kConfidenceLabels, src, where);
  r.temperature = required<double>(sel, k::kTemperature, src, where);
  r.target_accuracy = required<double>(sel, k::kTargetAccuracy, src, where);
  r.threshold = required<double>(th, k::kThresholdValue, src, where);
  r.chosen_on_split = required<std::string>(th, k::kChosenOn, src, where);
  HONE_CHECK(r.chosen_on_split == required<std::string>(cal, k::kSplit, src, where), InputError,
             "{}: {}'s threshold was chosen on '{}', not on its calibration split", src, where, r.chosen_on_split);
  r.chosen_on_data = required<std::string>(cal, k::kData, src, where);
  r.chosen_on_examples = required<std::int64_t>(cal, k::kExamples, src, where);
  r.eval_coverage = required<double>(th, k::kCoverage, src, where);
  r.eval_accuracy = th[k::kAccuracy].is_number() ? th[k::kAccuracy].get<double>() : NAN;
  r.eval_data = required<std::string>(report, k::kData, src, "the report");
  r.eval_split = required<std::string>(report, k::kSplit, src, "the report");
  r.system = data_system(r.eval_data);
  r.prompt_template = data_prompt_template(r.eval_data).value_or("{text}");
  return r;
}

std::string routing_json(const Routing& r) {
  auto number = [](double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); };
  const ordered_json j = {
      {"format", kFormat},
      {"version", kVersion},
      {"model", r.model},
      {"rule", "answer with the best label when softmax(top-K label log-likelihoods / temperature)[0] >= threshold, "
               "else defer"},
      {"confidence", k::kConfidenceLabelProbability},
      {"confidence_labels", r.confidence_labels},
      {"scoring", r.scoring},
      {"temperature", r.temperature},
      {"threshold", r.threshold},
      {"target_accuracy", r.target_accuracy},
      {"system", r.system ? ordered_json(*r.system) : ordered_json(nullptr)},
      {"prompt_template", r.prompt_template},
      {"chosen_on", {{"data", r.chosen_on_data}, {"split", r.chosen_on_split}, {"examples", r.chosen_on_examples}}},
      {"evaluated_on",
       {{"data", r.eval_data}, {"split", r.eval_split}, {"coverage", number(r.eval_coverage)},
        {"accuracy", number(r.eval_accuracy)}}},
      {"labels", r.labels}};
  return j.dump(2) + "\n";
}

Routing read_routing(const fs::path& path) {
  const std::string src = path.string();
  const ordered_json j = read_json_object<ordered_json>(path);
  HONE_CHECK(j.value("format", std::string()) == kFormat, InputError, "{}: 'format' is not \"{}\" (not a routing.json)",
             src, kFormat);
  const auto version = json_value<std::int64_t>(j, "version", 0, src);
  HONE_CHECK(version == kVersion, InputError, "{}: version {}, this hone reads version {}", src, version, kVersion);
  Routing r;
  r.model = json_value<std::string>(j, "model", "", src);
  r.labels = required<std::vector<std::string>>(j, "labels", src, "routing");
  HONE_CHECK(!r.labels.empty(), InputError, "{}: 'labels' is empty", src);
  r.scoring = json_value<std::string>(j, "scoring", "pruned", src);
  HONE_CHECK(r.scoring == "pruned" || r.scoring == "exhaustive", InputError,
             "{}: 'scoring' is '{}', expected pruned or exhaustive", src, r.scoring);
  r.confidence_labels = required<std::int64_t>(j, "confidence_labels", src, "routing");
  HONE_CHECK(r.confidence_labels >= 1, InputError, "{}: 'confidence_labels' must be at least 1, got {}", src,
             r.confidence_labels);
  r.temperature = required<double>(j, "temperature", src, "routing");
  HONE_CHECK(r.temperature > 0 && std::isfinite(r.temperature), InputError, "{}: 'temperature' must be positive, got {}",
             src, r.temperature);
  r.threshold = required<double>(j, "threshold", src, "routing");
  HONE_CHECK(r.threshold >= 0 && r.threshold <= 1, InputError, "{}: 'threshold' must be in [0, 1], got {}", src,
             r.threshold);
  r.target_accuracy = json_value<double>(j, "target_accuracy", 0.0, src);
  if (j.contains("system") && j["system"].is_string()) r.system = j["system"].get<std::string>();
  r.prompt_template = json_value<std::string>(j, "prompt_template", "{text}", src);
  if (j.contains("chosen_on") && j["chosen_on"].is_object()) {
    r.chosen_on_data = json_value<std::string>(j["chosen_on"], "data", "", src);
    r.chosen_on_split = json_value<std::string>(j["chosen_on"], "split", "", src);
    r.chosen_on_examples = json_value<std::int64_t>(j["chosen_on"], "examples", 0, src);
  }
  return r;
}

}  // namespace hone
