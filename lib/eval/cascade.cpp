#include "eval/cascade.h"

#include <spdlog/spdlog.h>

#include "eval/metrics.h"
#include "report/eval_schema.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

namespace k = eval_report;

// The second model's accuracy alone, from its own scoring of every example.
double accuracy_alone(const ExampleRun& run) {
  std::int64_t right = 0;
  for (std::size_t i = 0; i < run.rankings.size(); ++i) right += run.rankings[i].top.front().second == run.gold_label[i];
  return run.rankings.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(run.rankings.size());
}

}  // namespace

CascadeResult run_cascade(const EvalOptions& o, ExampleRun& first, const std::vector<double>& first_confidence,
                          ExampleRun& second, double threshold, const std::string& chosen_on) {
  const std::int64_t n = first.size();
  std::vector<std::int64_t> deferred;
  for (std::int64_t i = 0; i < n; ++i)
    if (first_confidence[i] < threshold) deferred.push_back(i);
  spdlog::info("cascade: {} answers {} of {} queries, {} defers {} to {}", first.lm.name, n - static_cast<std::int64_t>(deferred.size()),
               n, first.lm.name, deferred.size(), second.lm.name);
  std::vector<double> second_ms;
  const std::vector<LabelRanking> answered = score_subset(o, second, deferred, second_ms);

  const std::string name = first.lm.name + " → " + second.lm.name;
  const std::vector<std::string>& labels = first.d.labels;
  CascadeResult out;
  std::vector<std::string> pred(static_cast<std::size_t>(n));
  std::vector<double> latency(static_cast<std::size_t>(n));
  std::size_t j = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool to_second = j < deferred.size() && deferred[j] == i;
    const LabelRanking& r = to_second ? answered[j] : first.rankings[i];
    pred[i] = labels[r.top.front().second];
    latency[i] = first.score_ms[i] + (to_second ? second_ms[j] : 0.0);
    out.predictions.push_back({{"model", name},
                               {"id", first.preds[i]["id"]},
                               {"gold", first.preds[i]["gold"]},
                               {"scored", pred[i]},
                               {"scored_correct", pred[i] == first.gold[i]},
                               {"answered_by", to_second ? second.lm.name : first.lm.name},
                               {"deferred", to_second},
                               {"first_confidence", first_confidence[i]},
                               {"latency_ms", latency[i]}});
    if (to_second) ++j;
  }
  const ClassificationMetrics m = classification_metrics(first.gold, pred);
  const double second_mean = mean(second.score_ms), second_accuracy = accuracy_alone(second);
  out.json = {{k::kName, name},
              {k::kCascadeFirst, first.lm.name},
              {k::kCascadeSecond, second.lm.name},
              {k::kThresholdValue, threshold},
              {k::kChosenOn, chosen_on},
              {k::kTargetAccuracy, o.target_accuracy > 0 ? ordered_json(o.target_accuracy) : ordered_json(nullptr)},
              {k::kExamples, n},
              {k::kAccuracy, m.accuracy},
              {k::kMacroF1, m.macro_f1},
              {k::kDeferred, n ? static_cast<double>(deferred.size()) / static_cast<double>(n) : 0.0},
              {k::kLatencyMsMean, mean(latency)},
              {k::kLatencyMsP50, percentile(latency, 0.5)},
              {k::kLatencyMsP95, percentile(latency, 0.95)},
              {k::kLatencyRatio, second_mean > 0 ? mean(latency) / second_mean : 0.0},
              {k::kAccuracyGap, m.accuracy - second_accuracy}};
  spdlog::info("cascade {}: accuracy {:.4f} ({} alone {:.4f}), {:.1f}% deferred, {:.2f} ms per query ({:.2f}x {}'s)",
               name, m.accuracy, second.lm.name, second_accuracy,
               100.0 * out.json[k::kDeferred].get<double>(), mean(latency), out.json[k::kLatencyRatio].get<double>(),
               second.lm.name);
  return out;
}

}  // namespace hone
