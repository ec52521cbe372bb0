// The keys of a `hone eval --report` file, defined once: lib/eval writes them, lib/report reads
// them. The report is a JSON object:
//   {hone_version, data, split, task, [examples, subset, [labels, label_names, method, scoring]],
//    data_hash, dtype, models: [{row per model}], [cascade], [gate]}
// task is perplexity (a token store), classification (examples that all have labels) or
// generation (other examples). A model's row holds name, params, adapter_params and bytes, the
// metrics of its task, latency and throughput, the model and adapter paths, and with --baseline
// its baseline_comparison. A metric that was not measured is null.
#pragma once

namespace hone::eval_report {

// ---------------------------------------------------------------------------- the report
inline constexpr const char* kHoneVersion = "hone_version";
inline constexpr const char* kData = "data";          // the --data path
inline constexpr const char* kSplit = "split";
inline constexpr const char* kTask = "task";          // one of the kTask* values below
inline constexpr const char* kExamples = "examples";  // examples evaluated (example sets)
inline constexpr const char* kSubset = "subset";      // "all", "first N" or "N evenly spaced"
inline constexpr const char* kLabels = "labels";      // classification: number of labels
inline constexpr const char* kMethod = "method";      // classification: score, generate or both
inline constexpr const char* kScoring = "scoring";    // classification: pruned or exhaustive
inline constexpr const char* kDtype = "dtype";        // what was computed in: f32, bf16 or f16
inline constexpr const char* kModels = "models";      // one row per model, in --model order
inline constexpr const char* kLabelNames = "label_names";  // classification: the labels, sorted
inline constexpr const char* kCascade = "cascade";    // --cascade: the cascade's object (below)
// SHA-256 (hex) of what was evaluated, so that two reports compare only on the same examples.
// Example sets: "hone-eval-examples\n", then each evaluated record's canonical line and "\n", in
// order (after --limit/--sample). Token stores: "hone-eval-store\n", then the evaluated sequences'
// token ids, loss mask and sequence lengths (after --limit).
inline constexpr const char* kDataHash = "data_hash";
inline constexpr const char* kGate = "gate";          // --min/--max-drop: the gate's object (below)

inline constexpr const char* kTaskPerplexity = "perplexity";
inline constexpr const char* kTaskClassification = "classification";
inline constexpr const char* kTaskGeneration = "generation";

// ---------------------------------------------------------------------------- a model's row
inline constexpr const char* kName = "name";
inline constexpr const char* kParams = "params";                  // the base model's parameters
inline constexpr const char* kAdapterParams = "adapter_params";   // the adapter's (0: none)
inline constexpr const char* kBytes = "bytes";                    // model + adapter weights on disk
inline constexpr const char* kModel = "model";                    // the --model path
inline constexpr const char* kAdapter = "adapter";                // the --adapter path ("" : none)
// Perplexity.
inline constexpr const char* kMeanLoss = "mean_loss";             // nats per loss token
inline constexpr const char* kPerplexity = "perplexity";
inline constexpr const char* kLossTokens = "loss_tokens";
// Example sets. accuracy and macro_f1 are the scored ones where scoring ran, else the generated.
inline constexpr const char* kGenerateExamples = "generate_examples";  // examples generated for
inline constexpr const char* kAccuracy = "accuracy";
inline constexpr const char* kMacroF1 = "macro_f1";
inline constexpr const char* kAccuracyMethod = "accuracy_method";  // "score", "generate" or ""
inline constexpr const char* kScoreAccuracy = "score_accuracy";
inline constexpr const char* kScoreMacroF1 = "score_macro_f1";
inline constexpr const char* kGenerateAccuracy = "generate_accuracy";
inline constexpr const char* kGenerateMacroF1 = "generate_macro_f1";
inline constexpr const char* kExactMatch = "exact_match";
inline constexpr const char* kNormalizedMatch = "normalized_match";  // SQuAD normalisation
inline constexpr const char* kFormatValidity = "format_validity";
inline constexpr const char* kMostConfused = "most_confused";  // [{gold, predicted, count}]
inline constexpr const char* kConfusedGold = "gold";
inline constexpr const char* kConfusedPredicted = "predicted";
inline constexpr const char* kConfusedCount = "count";
// Classification: {label: F1} for every label of label_names, from the predictions accuracy and
// macro_f1 come from (a label never predicted nor gold in the subset: 0).
inline constexpr const char* kLabelF1 = "label_f1";
// Speed, every task.
inline constexpr const char* kLatencyMsP50 = "latency_ms_p50";  // per example (per sequence)
inline constexpr const char* kLatencyMsP95 = "latency_ms_p95";
inline constexpr const char* kLatencyMethod = "latency_method";  // what one latency sample timed
inline constexpr const char* kTokensPerS = "tokens_per_s";
inline constexpr const char* kSeconds = "seconds";
inline constexpr const char* kLatencyMsMean = "latency_ms_mean";

// ---------------------------------------------------------------------------- confidence
// A model's row holds "selective" (null where no confidence was measured): how sure the model is
// of each answer (predictions.jsonl's `confidence`) and what leaving out its least sure answers does.
inline constexpr const char* kSelective = "selective";
// "label_probability": softmax(log-likelihoods / temperature) of the best label over the top
// `confidence_labels` labels; "mean_token_logprob" (generation sets): the mean log-probability of
// the generated tokens, which is not a probability (no ECE, no calibration).
inline constexpr const char* kConfidence = "confidence";
inline constexpr const char* kConfidenceLabelProbability = "label_probability";
inline constexpr const char* kConfidenceMeanTokenLogprob = "mean_token_logprob";
inline constexpr const char* kConfidenceLabels = "confidence_labels";  // K, the labels normalised over
inline constexpr const char* kTemperature = "temperature";  // applied to the confidences (1: none fitted)
// {data, split, examples, temperature, nll, nll_calibrated}: where the temperature was fitted
// (--calibrate), and there the mean NLL of the answers being right (selective.h, mean_nll) at T = 1
// and at the fitted T; null: none.
inline constexpr const char* kCalibration = "calibration";
inline constexpr const char* kNll = "nll";
inline constexpr const char* kNllCalibrated = "nll_calibrated";
inline constexpr const char* kEce = "ece";                        // at T = 1, 15 bins, on this set
inline constexpr const char* kEceCalibrated = "ece_calibrated";   // at the fitted T; null: none
inline constexpr const char* kAurc = "aurc";    // area under the risk-coverage curve at T = 1 (lower: better)
inline constexpr const char* kAurcCalibrated = "aurc_calibrated";  // at the fitted T; null: none
// [{threshold, coverage, accuracy}] at the applied temperature, highest threshold first, at most
// 101 points.
inline constexpr const char* kCurve = "curve";
inline constexpr const char* kCoverage = "coverage";
inline constexpr const char* kThresholdValue = "threshold";
inline constexpr const char* kTargetAccuracy = "target_accuracy";  // --target-accuracy; null: none
// {threshold, chosen_on, coverage, accuracy}: the lowest confidence threshold whose kept answers
// reach the target accuracy on the split `chosen_on` (the calibration split where there is one,
// else this set), and the coverage and accuracy it gives on this set; null where no threshold
// reaches the target.
inline constexpr const char* kSelectiveThreshold = "target_threshold";
inline constexpr const char* kChosenOn = "chosen_on";

// ---------------------------------------------------------------------------- the cascade
// --cascade: the first model answers when its confidence is at least the threshold, the second
// answers the rest. {name, first, second, threshold, chosen_on, target_accuracy, examples,
// accuracy, macro_f1, deferred, latency_ms_mean, latency_ms_p50, latency_ms_p95,
// latency_ratio (mean latency over the second model's alone), accuracy_gap (cascade accuracy
// minus the second model's alone)}. Latency per query: the first model's scoring of it, plus the
// second's when deferred.
inline constexpr const char* kCascadeFirst = "first";
inline constexpr const char* kCascadeSecond = "second";
inline constexpr const char* kDeferred = "deferred";  // the share of queries the second model answered
inline constexpr const char* kLatencyRatio = "latency_ratio";
inline constexpr const char* kAccuracyGap = "accuracy_gap";

// ---------------------------------------------------------------------------- the gate
// --min / --max-drop (eval/gate.h): {passed, failed, baseline_report, checks: [check]}, checked on
// every model's row. A check: {model, metric, check ("min" or "max_drop"), direction ("higher" or
// "lower" is better), limit (VALUE or POINTS as given), bound (the value the metric had to reach,
// or not pass, in the metric's unit), value, baseline (max_drop: the baseline row's value; null for
// min), change (max_drop: value - baseline, in percentage points for fraction metrics, else in the
// metric's unit; null for min), passed, message, unit (below)}. label_f1 adds label (the worst label, whose F1
// and baseline are value and baseline) and labels ([{label, value, baseline, change}], every label
// that fails, worst first).
inline constexpr const char* kGatePassed = "passed";
inline constexpr const char* kGateFailed = "failed";  // how many checks failed
inline constexpr const char* kGateBaselineReport = "baseline_report";  // the --baseline path; null: none
inline constexpr const char* kGateChecks = "checks";
inline constexpr const char* kGateModel = "model";  // the row's name
inline constexpr const char* kGateMetric = "metric";
inline constexpr const char* kGateCheck = "check";
inline constexpr const char* kGateCheckMin = "min";
inline constexpr const char* kGateCheckMaxDrop = "max_drop";
inline constexpr const char* kGateDirection = "direction";
inline constexpr const char* kGateLimit = "limit";
inline constexpr const char* kGateBound = "bound";
inline constexpr const char* kGateValue = "value";
inline constexpr const char* kGateBaseline = "baseline";
inline constexpr const char* kGateChange = "change";
inline constexpr const char* kGateMessage = "message";
inline constexpr const char* kGateLabel = "label";
inline constexpr const char* kGateLabels = "labels";
// The metric's unit, so that a reader formats the check without the metric table of eval/gate.h:
// "fraction" (values are shares, POINTS percentage points), "nats", "ms", "tokens/s", "" (perplexity).
inline constexpr const char* kGateUnit = "unit";
inline constexpr const char* kGateUnitFraction = "fraction";

// ---------------------------------------------------------------------------- the baseline comparison
// --baseline with the baseline's predictions.jsonl beside its report: a model row's
// "baseline_comparison" (absent otherwise), the row's examples paired by id with the baseline row's
// (eval/baseline_comparison.h). Informational: no gate checks it. {baseline_report, baseline_model,
// method (the correctness compared: "score" or "generate", the row's accuracy_method), n (examples
// paired), unmatched (this row's examples with no baseline example of that id), baseline_unmatched
// (the reverse), baseline_accuracy, accuracy (over the n paired examples), change (accuracy -
// baseline_accuracy, in percentage points), change_se (its paired standard error in points: the
// sample standard deviation of the per-example difference in correctness over sqrt(n); null for n
// < 2), fixed (wrong in the baseline, right here), broken (right in the baseline, wrong here),
// baseline_macro_f1, macro_f1 (the rows'), label_f1_fell and label_f1_rose ([{label, baseline,
// value, change}] from the rows' label_f1, change in points: the labels that fell most, most first,
// and those that rose most)}.
inline constexpr const char* kBaselineComparison = "baseline_comparison";
inline constexpr const char* kCompareBaselineReport = "baseline_report";
inline constexpr const char* kCompareBaselineModel = "baseline_model";
inline constexpr const char* kCompareMethod = "method";
inline constexpr const char* kCompareN = "n";
inline constexpr const char* kCompareUnmatched = "unmatched";
inline constexpr const char* kCompareBaselineUnmatched = "baseline_unmatched";
inline constexpr const char* kCompareBaselineAccuracy = "baseline_accuracy";
inline constexpr const char* kCompareChange = "change";
inline constexpr const char* kCompareChangeSe = "change_se";
inline constexpr const char* kCompareFixed = "fixed";
inline constexpr const char* kCompareBroken = "broken";
inline constexpr const char* kCompareBaselineMacroF1 = "baseline_macro_f1";
inline constexpr const char* kCompareLabelF1Fell = "label_f1_fell";
inline constexpr const char* kCompareLabelF1Rose = "label_f1_rose";
inline constexpr const char* kCompareLabel = "label";
inline constexpr const char* kCompareBaseline = "baseline";
inline constexpr const char* kCompareValue = "value";

// ---------------------------------------------------------------------------- predictions.jsonl
// The keys of a predictions row that the baseline comparison reads (the file's other keys:
// docs/formats.md).
inline constexpr const char* kPredModel = "model";  // the row's name
inline constexpr const char* kPredId = "id";        // the example's id
inline constexpr const char* kPredScoredCorrect = "scored_correct";
inline constexpr const char* kPredGeneratedCorrect = "generated_correct";

}  // namespace hone::eval_report
