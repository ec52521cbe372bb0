// One model's run over the examples of an example set (`hone eval`): constrained scoring of the
// labels and greedy generation, with what each example gave (its predictions.jsonl object, its
// label ranking and confidence) and the time it took.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/dataset.h"
#include "eval/eval.h"
#include "eval/eval_model.h"
#include "eval/label_scoring.h"
#include "eval/metrics.h"

namespace hone {

struct ExampleRun {
  const EvalDataset& d;
  const LoadedModel& lm;
  const ExampleEncoder& enc;
  bool classification;
  std::vector<EncodedExample> examples;
  std::vector<std::string> gold;        // per example: its label, or its reference answer
  std::vector<std::int64_t> gold_label;  // classification: per example, its label's index in d.labels
  std::vector<nlohmann::ordered_json> preds;  // per example
  std::vector<double> latency_ms;       // per example the latency reported (generation's where it ran)
  std::vector<double> score_ms;         // scoring: per example, its batch's time over the batch's size
  std::vector<LabelRanking> rankings;   // scoring: per example, the top --score-top labels
  std::vector<double> gen_logprob;      // generation: per example, the mean token log-probability (NaN: none)
  std::vector<bool> gen_correct;        // generation: per example, exact match
  std::optional<LabelTrie> trie;        // scoring: the labels' answer tokens
  std::int64_t tokens = 0;              // prompt and answer tokens through the model
  double seconds = 0;

  ExampleRun(const EvalDataset& dataset, const LoadedModel& model, const ExampleEncoder& encoder);
  std::int64_t size() const { return static_cast<std::int64_t>(examples.size()); }
};

// Constrained scoring of every example, `o.batch_size` prompts per pass. `timed`: scoring's time
// per example is the latency reported (no generation runs).
ClassificationMetrics score_examples(const EvalOptions& o, ExampleRun& run, bool timed);

// Scores the examples `indices` of `run` in batches of `o.batch_size` (their rankings, in order),
// and adds each one's share of its batch's time to `ms`. Nothing is recorded in `run`.
std::vector<LabelRanking> score_subset(const EvalOptions& o, ExampleRun& run, const std::vector<std::int64_t>& indices,
                                       std::vector<double>& ms);

// What greedy generation measured (validity only where a format was asked for or labels give one).
struct GenerationMetrics {
  std::int64_t examples = 0;
  double exact = 0, normalised = 0;
  std::optional<double> validity;
  std::optional<ClassificationMetrics> classification;
};

// Greedy generation for every example, or for --generate-sample of them (evenly spaced); the
// output (trimmed) is compared with the gold answer.
GenerationMetrics generate_examples(const EvalOptions& o, ExampleRun& run);

}  // namespace hone
