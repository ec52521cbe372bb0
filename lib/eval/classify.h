// `hone classify`: batch inference with a classifier, for CI jobs and pipelines. Each input record
// (JSONL, JSON, CSV or TSV, optionally gzipped, or stdin) becomes one JSON line:
//   {"line":N,"id":...,"label":L,"confidence":C,"deferred":B,"model":M,"top":[[label,loglik],...]}
// where the label is the best of the closed set by constrained scoring (label_scoring.h), the
// confidence is softmax(top-K log-likelihoods / temperature)[0], and a row is deferred when its
// confidence is below the threshold (routing.json's rule, report/routing.h). With a cascade, a
// second model answers the deferred rows ("model" names it; "first_label" and "first_confidence"
// keep the first model's answer).
//
// Prompts are the canonical records `hone ingest --format classification` writes, rendered by the
// ExampleEncoder that training and `hone eval` use, so a record scores here exactly as eval
// scores it. Rows stream: --batch-size records are read, scored and written at a time (a cascade
// holds at most a few batches while its deferred rows gather into a batch for the second model),
// so memory does not grow with the input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/compute.h"
#include "core/fs.h"
#include "data/ingest.h"
#include "data/readers.h"
#include "eval/eval.h"

namespace hone {

struct ClassifyOptions {
  // The classifier; with `cascade`, a second model that answers the rows the first defers.
  std::vector<EvalModel> models;
  bool cascade = false;
  fs::path input = "-";                       // .jsonl/.json/.csv/.tsv (optionally .gz), or "-": stdin
  std::optional<data::InputType> input_type;  // unset: from the file name (stdin: JSONL)
  fs::path output;                            // JSON lines ("": stdout); a file is written atomically
  // Where the labels and the rule come from: a routing.json (hone export --routing), or an ingested
  // directory (its manifest's labels, system message and prompt template). Exactly one.
  fs::path routing;
  fs::path data;
  // Each overrides routing.json's value; without routing.json the default follows.
  std::optional<double> threshold;         // defer below this confidence (default 0: never)
  std::optional<double> temperature;       // the confidence's softmax temperature (default 1)
  std::optional<std::int64_t> score_top;   // K: the labels the softmax normalises over (default 2)
  std::optional<LabelScoring> scoring;     // how the top K are found (default pruned)
  std::optional<std::string> system;       // the system message (default: routing's or the data's)
  std::optional<std::string> prompt_template;  // "{text}" is replaced by the text (default: the data's, else "{text}")
  std::string text_field = "text";         // the input field holding the text
  std::int64_t score_per_round = 2;        // pruned scoring: tree nodes fed per row per pass
  std::int64_t batch_size = 16;            // rows read, scored and written together
  data::OnError on_error = data::OnError::kFail;  // a bad row: stop (InputError) or skip and count it
  int threads = 0;                         // CPU threads (0: all cores)
  std::string device = "cpu";              // cpu | cuda | cuda:N
  ComputeDtype dtype = ComputeDtype::kF32;  // weights and activations (as hone eval)
  fs::path chat_template;                  // Jinja file that renders prompts instead of the model's (or adapter's)
};

// What a run did (also logged).
struct ClassifyReport {
  std::int64_t rows = 0;      // rows written
  std::int64_t deferred = 0;  // rows whose first confidence was below the threshold
  std::int64_t skipped = 0;   // bad rows skipped (--on-error skip)
  std::map<std::string, std::int64_t> skipped_by_reason;  // reason kind -> count
  double seconds = 0;         // reading, scoring and writing (models loaded before)
};

// Loads the model(s), classifies every row of the input and writes the output. UsageError for
// invalid options; InputError naming the file and line for a bad row (unless skipped), in which
// case an output file is not created.
ClassifyReport run_classify(const ClassifyOptions& options);

}  // namespace hone
