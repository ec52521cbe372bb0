// `hone eval`: what a model (with an adapter) measurably does on a data set, several models side
// by side.
//   token store (.h5)              mean loss and perplexity on the loss tokens of a split
//   classification examples        accuracy and macro-F1 by constrained scoring (the log-likelihood of
//   (ingested, with labels)        every label's answer tokens over the labels' prefix tree:
//                                  label_scoring.h) and by free greedy generation (exact match);
//                                  format validity (the output is a known label); the most
//                                  confused label pairs
//   generation examples            exact match and normalised match of greedy generation; format
//   (completion or chat records)   validity (JSON, or a regex) when asked
// and for every model: latency per example (p50/p95), throughput, parameters, size on disk.
// Gates (gate.h) check the rows against floors and a baseline report for CI.
// The report's keys: report/eval_schema.h. The pieces: dataset.h (records and their tokens),
// label_scoring.h, metrics.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/compute.h"
#include "core/fs.h"
#include "eval/gate.h"

namespace hone {

// How a classification set is evaluated.
struct EvalModel {
  fs::path model;    // .gguf or HF directory
  fs::path adapter;  // PEFT adapter directory (optional)
  std::string name;  // shown in the report ("" -> derived from the paths)
};

enum class EvalMethod {
  kScore,     // constrained scoring of the labels
  kGenerate,  // free greedy generation, compared with the label
  kBoth,
};

// How constrained scoring finds the best labels (label_scoring.h).
enum class LabelScoring {
  kPruned,      // search_labels: the exact top --score-top labels, feeding only what can reach them
  kExhaustive,  // score_labels: every label's log-likelihood, the whole tree fed after each prompt
};

// The names the report writes (and --method/--scoring take): "score", "generate", "both";
// "pruned", "exhaustive".
const char* eval_method_name(EvalMethod method);
const char* label_scoring_name(LabelScoring scoring);

struct EvalOptions {
  std::vector<EvalModel> models;
  fs::path data;                  // token store (.h5), ingested directory, or a canonical .jsonl file
  std::string split = "test";     // split of a store or an ingested directory
  std::int64_t limit = 0;         // the first N examples (0: all)
  std::int64_t sample = 0;        // N evenly spaced examples (every label of a label-sorted split; 0: all)
  EvalMethod method = EvalMethod::kBoth;  // classification: score, generate or both
  std::int64_t generate_sample = 0;  // generate for N evenly spaced examples of those evaluated (0: all)
  std::int64_t max_new_tokens = 0;  // generation length (0: longest label + 2, or 64 for generation sets)
  bool format_json = false;       // generation sets: valid when the output parses as JSON
  std::string format_regex;       // generation sets: valid when the whole output matches (ECMAScript)
  LabelScoring scoring = LabelScoring::kPruned;  // constrained scoring: pruned or exhaustive
  // Labels (best first) kept per example in predictions.jsonl; the confidence is normalised over them.
  std::int64_t score_top = 2;
  std::int64_t score_per_round = 2;  // pruned: tree nodes fed per example per forward pass
  std::int64_t batch_size = 16;   // examples per scoring pass, sequences per perplexity pass
  int threads = 0;                // CPU threads (0: all cores)
  std::string device = "cpu";     // cpu | cuda | cuda:N
  // Weights and activations: f32, bf16 (about 2x faster on CPUs with AVX512-BF16 or AMX), fast
  // (bf16 where native), auto (bf16 on CUDA) or f16 (CUDA).
  ComputeDtype dtype = ComputeDtype::kF32;
  fs::path chat_template;         // a Jinja file that renders prompts instead of the model's (or adapter's) template
  // Confidence (classification: the best label's probability over the top --score-top labels,
  // which must be 2 or more; generation sets: the answer's mean token log-probability).
  bool calibrate = false;          // fit a temperature on the calibration split and apply it
  fs::path calibration_data;       // where the calibration split is ("" -> --data)
  std::string calibration_split = "valid";
  double target_accuracy = 0;      // report the threshold that reaches it (0: none); cascade: route by it
  // Cascade: the first model answers when its confidence is at least the threshold, the second
  // model the rest (exactly two models, classification, scoring).
  bool cascade = false;
  std::optional<double> threshold;  // the cascade's threshold (none: chosen on the calibration split for --target-accuracy)
  fs::path report;                // JSON report ("" -> none)
  fs::path predictions;           // per-example predictions (JSON lines; "" -> beside the report)
  GateOptions gate;               // CI gates on each model's metrics, and the JUnit file (gate.h)
};

struct EvalResult {
  std::string markdown;  // the tables printed on stdout (and the gate's checks, where there are gates)
  GateResult gate;       // what the gates found (require_gate_passed turns a failure into exit code 4)
};

// Runs the evaluation, checks the gates, writes the report, predictions and JUnit file, and returns
// the markdown tables and the gate's result.
EvalResult run_eval(const EvalOptions& options);

}  // namespace hone
