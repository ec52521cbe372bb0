#include "eval/calibration.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

#include "eval/selective.h"
#include "report/eval_schema.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

namespace k = eval_report;

constexpr std::size_t kCurvePoints = 101;

ordered_json number_or_null(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

// Each example's confidence at `temperature` and whether its best label is the gold one.
void answers(const std::vector<LabelRanking>& rankings, const std::vector<std::int64_t>& gold, double temperature,
             std::vector<double>& confidence, std::vector<bool>& correct) {
  confidence.clear();
  correct.clear();
  for (std::size_t i = 0; i < rankings.size(); ++i) {
    confidence.push_back(ranking_confidence(rankings[i], temperature));
    correct.push_back(rankings[i].top.front().second == gold[i]);
  }
}

ordered_json curve_json(const std::vector<double>& confidence, const std::vector<bool>& correct) {
  ordered_json c = ordered_json::array();
  for (const CoveragePoint& p : thin_curve(coverage_curve(confidence, correct), kCurvePoints))
    c.push_back({{k::kThresholdValue, p.threshold}, {k::kCoverage, p.coverage}, {k::kAccuracy, p.accuracy}});
  return c;
}

// The threshold reaching --target-accuracy on `choose_conf` (the calibration split's, or the
// evaluated set's), and what it keeps of the evaluated set.
void target_threshold(const EvalOptions& o, const std::vector<double>& choose_conf, const std::vector<bool>& choose_correct,
                      const std::vector<double>& conf, const std::vector<bool>& correct, SelectiveResult& r) {
  r.json[k::kTargetAccuracy] = o.target_accuracy > 0 ? ordered_json(o.target_accuracy) : ordered_json(nullptr);
  r.json[k::kSelectiveThreshold] = nullptr;
  if (o.target_accuracy <= 0) return;
  const std::optional<CoveragePoint> chosen = threshold_for(choose_conf, choose_correct, o.target_accuracy);
  if (!chosen) {
    spdlog::warn("no confidence threshold reaches accuracy {} on the {} split", o.target_accuracy, r.chosen_on);
    return;
  }
  r.threshold = chosen->threshold;
  const CoveragePoint here = at_threshold(conf, correct, chosen->threshold);
  r.json[k::kSelectiveThreshold] = {{k::kThresholdValue, chosen->threshold},
                                    {k::kChosenOn, r.chosen_on},
                                    {k::kCoverage, here.coverage},
                                    {k::kAccuracy, number_or_null(here.accuracy)}};
}

}  // namespace

SelectiveResult classification_selective(const EvalOptions& o, const std::vector<LabelRanking>& rankings,
                                         const std::vector<std::int64_t>& gold, const CalibrationSet* cal) {
  SelectiveResult r;
  ordered_json& j = r.json;
  j[k::kConfidence] = k::kConfidenceLabelProbability;
  j[k::kConfidenceLabels] = rankings.empty() ? 0 : static_cast<std::int64_t>(rankings.front().top.size());
  std::vector<double> raw, cal_conf;
  std::vector<bool> correct, cal_correct;
  answers(rankings, gold, 1.0, raw, correct);
  ordered_json calibration = nullptr;
  if (cal && o.calibrate) {
    std::vector<LabelScores> scores;
    for (std::size_t i = 0; i < cal->rankings.size(); ++i) scores.push_back(label_scores(cal->rankings[i], cal->gold[i]));
    r.temperature = fit_temperature(scores);
    calibration = {{k::kData, cal->data},           {k::kSplit, cal->split},
                   {k::kExamples, scores.size()},   {k::kTemperature, r.temperature},
                   {k::kNll, mean_nll(scores, 1.0)}, {k::kNllCalibrated, mean_nll(scores, r.temperature)}};
    spdlog::info("calibration on {} examples of the {} split: temperature {:.4f}, NLL {:.4f} -> {:.4f}", scores.size(),
                 cal->split, r.temperature, calibration[k::kNll].get<double>(),
                 calibration[k::kNllCalibrated].get<double>());
  }
  j[k::kTemperature] = r.temperature;
  j[k::kCalibration] = calibration;
  answers(rankings, gold, r.temperature, r.confidence, correct);
  j[k::kEce] = calibration_error(raw, correct);
  j[k::kEceCalibrated] = calibration.is_null() ? ordered_json(nullptr) : ordered_json(calibration_error(r.confidence, correct));
  j[k::kAurc] = aurc(raw, correct);
  j[k::kAurcCalibrated] = calibration.is_null() ? ordered_json(nullptr) : ordered_json(aurc(r.confidence, correct));
  j[k::kCurve] = curve_json(r.confidence, correct);
  if (cal) {
    answers(cal->rankings, cal->gold, r.temperature, cal_conf, cal_correct);
    r.chosen_on = cal->split;
    target_threshold(o, cal_conf, cal_correct, r.confidence, correct, r);
  } else {
    r.chosen_on = o.split;
    target_threshold(o, r.confidence, correct, r.confidence, correct, r);
  }
  return r;
}

SelectiveResult generation_selective(const EvalOptions& o, const std::vector<double>& mean_logprob,
                                     const std::vector<bool>& correct) {
  SelectiveResult r;
  r.confidence = mean_logprob;
  std::vector<double> conf;
  std::vector<bool> right;
  for (std::size_t i = 0; i < mean_logprob.size(); ++i)
    if (std::isfinite(mean_logprob[i])) {
      conf.push_back(mean_logprob[i]);
      right.push_back(correct[i]);
    }
  ordered_json& j = r.json;
  j[k::kConfidence] = k::kConfidenceMeanTokenLogprob;
  j[k::kConfidenceLabels] = nullptr;
  j[k::kTemperature] = nullptr;
  j[k::kCalibration] = nullptr;
  j[k::kEce] = nullptr;
  j[k::kEceCalibrated] = nullptr;
  j[k::kAurc] = aurc(conf, right);
  j[k::kAurcCalibrated] = nullptr;
  j[k::kCurve] = curve_json(conf, right);
  r.chosen_on = o.split;
  target_threshold(o, conf, right, conf, right, r);
  return r;
}

}  // namespace hone
