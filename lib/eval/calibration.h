// A model's confidence on an evaluated set and what selective prediction makes of it (report
// keys: report/eval_schema.h, "confidence"): the temperature fitted on a calibration split
// (--calibrate), the calibration error and the risk-coverage area before and after, the
// accuracy-coverage curve, and the threshold that reaches --target-accuracy, chosen on the
// calibration split when there is one (never on the evaluated set then).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval.h"
#include "eval/label_scoring.h"

namespace hone {

// The calibration split's examples, scored as the evaluated ones are.
struct CalibrationSet {
  std::string data, split;
  std::vector<LabelRanking> rankings;
  std::vector<std::int64_t> gold;  // per example, the gold label's index
};

struct SelectiveResult {
  double temperature = 1;          // applied to every confidence (1: none fitted)
  std::optional<double> threshold; // reaches --target-accuracy where it was chosen; none: unreachable or not asked
  std::string chosen_on;           // the split the threshold was chosen on
  std::vector<double> confidence;  // per evaluated example, at `temperature` (NaN: none)
  nlohmann::ordered_json json;     // the model row's "selective" object
};

// Classification: the confidence is the best label's probability over the top --score-top labels.
// `cal` (may be null): fit the temperature there, and choose the threshold there.
SelectiveResult classification_selective(const EvalOptions& o, const std::vector<LabelRanking>& rankings,
                                         const std::vector<std::int64_t>& gold, const CalibrationSet* cal);

// Generation sets: the confidence is the generated answer's mean token log-probability (NaN for
// examples not generated, which are left out); correct is exact match. No temperature, no ECE.
SelectiveResult generation_selective(const EvalOptions& o, const std::vector<double>& mean_logprob,
                                     const std::vector<bool>& correct);

}  // namespace hone
