// The keys of a `hone eval --report` file, defined once: lib/eval writes them, lib/report reads
// them. The report is a JSON object:
//   {hone_version, data, split, task, [examples, subset, [labels, method, scoring]], dtype,
//    models: [{row per model}]}
// task is perplexity (a token store), classification (examples that all have labels) or
// generation (other examples). A model's row holds name, params, adapter_params and bytes, the
// metrics of its task, latency and throughput, and the model and adapter paths. A metric that was
// not measured is null.
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
// Speed, every task.
inline constexpr const char* kLatencyMsP50 = "latency_ms_p50";  // per example (per sequence)
inline constexpr const char* kLatencyMsP95 = "latency_ms_p95";
inline constexpr const char* kLatencyMethod = "latency_method";  // what one latency sample timed
inline constexpr const char* kTokensPerS = "tokens_per_s";
inline constexpr const char* kSeconds = "seconds";

}  // namespace hone::eval_report
