// `hone eval --baseline`: each model row compared with its baseline row example by example. The
// baseline's predictions.jsonl (beside its report, where eval writes it) and this run's are paired
// by example id within the two rows, and the row gets a `baseline_comparison` object
// (report/eval_schema.h): both accuracies over the paired examples, the change with its paired
// standard error, the examples fixed and broken, and the labels whose F1 fell or rose most. It is
// informational, not a gate check: the gate (gate.h) compares the rows' metrics.
//
// Why paired: both models answered the same examples, so the difference of their accuracies is the
// mean of the per-example differences d_i = correct_i - baseline_correct_i (each -1, 0 or 1), whose
// standard error sd(d) / sqrt(n) leaves out the examples both get right or both get wrong. It is
// far smaller than the error of two independent accuracies when the models mostly agree, as a
// model and its update do (McNemar's test looks at the same fixed and broken counts).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class Gate;

// Accuracy of the paired examples, before and after.
struct PairedAccuracy {
  std::int64_t n = 0;            // examples paired
  double baseline_accuracy = 0;  // fraction right in the baseline run (NaN for n = 0)
  double accuracy = 0;           // fraction right in this run (NaN for n = 0)
  double change = 0;             // accuracy - baseline_accuracy, in percentage points (NaN for n = 0)
  double change_se = 0;          // its standard error in points: sd(d) / sqrt(n), sd over n - 1 (NaN for n < 2)
  std::int64_t fixed = 0;        // wrong in the baseline, right here
  std::int64_t broken = 0;       // right in the baseline, wrong here
};

// `baseline_correct[i]` and `correct[i]` are one example's correctness in the two runs (equally long).
PairedAccuracy paired_accuracy(const std::vector<bool>& baseline_correct, const std::vector<bool>& correct);

// One label's F1 in both runs; change in percentage points.
struct LabelF1Change {
  std::string label;
  double baseline = 0, value = 0, change = 0;
};

// The labels of both maps (a label one lacks: F1 0, as the gate counts it) whose F1 fell, most first,
// and rose, most first; at most `count` each (ties in label order).
struct LabelF1Changes {
  std::vector<LabelF1Change> fell, rose;
};
LabelF1Changes label_f1_changes(const std::map<std::string, double>& baseline, const std::map<std::string, double>& f1,
                                std::size_t count);

// The baseline_comparison object of `row` against `baseline_row`, pairing the rows' predictions by
// id (`predictions` and `baseline_predictions`: predictions.jsonl rows of any models; only each
// row's are read). The correctness compared is the row's accuracy_method's (scored_correct or
// generated_correct); an example without it in either run is not paired. A repeated id pairs its
// occurrences in order.
nlohmann::ordered_json baseline_comparison(const nlohmann::ordered_json& row,
                                           const nlohmann::ordered_json& baseline_row,
                                           const std::vector<nlohmann::ordered_json>& predictions,
                                           const std::vector<nlohmann::ordered_json>& baseline_predictions,
                                           const fs::path& baseline_report);

// With --baseline on a classification set: reads the predictions.jsonl beside the baseline report
// (InputError naming the file and line for a line that is not a JSON object) and writes each model
// row's baseline_comparison into `report`. Returns the lines to print: one per model
// (comparison_line), or one note when the baseline has no predictions.jsonl ("" without a baseline
// or on another task).
std::string add_baseline_comparisons(const Gate& gate, const fs::path& baseline_report, nlohmann::ordered_json& report,
                                     const std::vector<nlohmann::ordered_json>& predictions);

}  // namespace hone
