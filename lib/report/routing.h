// routing.json: the rule that decides, per query, whether a calibrated classifier answers or hands
// the query to another model, written beside an exported model (`hone export --routing
// REPORT.json`) and applied by `hone classify --routing` or by a serving stack:
//   scores   the log-likelihoods of the top `confidence_labels` labels (of `labels`) after the
//            prompt: the record's text through `prompt_template`, with `system` as the system message
//   answer   the best label when softmax(scores / temperature)[0] >= threshold, else defer
// The temperature and threshold come from the eval report of a calibrated run (hone eval
// --calibrate --target-accuracy), chosen on its calibration split, never on the test set.
// docs/formats.md, "routing.json", gives every field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

struct Routing {
  std::string model;                // the model's name in the eval report
  std::vector<std::string> labels;  // sorted
  std::string scoring = "pruned";   // how the labels were scored: pruned or exhaustive
  std::int64_t confidence_labels = 2;  // K: the labels the softmax normalises over
  double temperature = 1;
  double threshold = 0;             // answer at or above, defer below
  double target_accuracy = 0;       // the accuracy the threshold was chosen to reach
  std::optional<std::string> system;  // the system message of the data (ingest --system)
  std::string prompt_template = "{text}";  // how a record's text became the prompt (ingest --prompt-template)
  // Where the threshold was chosen (the calibration split) and what it gave there and on the
  // eval set.
  std::string chosen_on_data, chosen_on_split;
  std::int64_t chosen_on_examples = 0;
  double eval_coverage = 0, eval_accuracy = 0;
  std::string eval_data, eval_split;
  // The model and adapter paths the report evaluated ("" : none), to check an export against;
  // not written to routing.json.
  std::string evaluated_model, evaluated_adapter;
};

// The system message of an ingested data directory (its manifest's options.system), if any.
std::optional<std::string> data_system(const std::string& data);

// The prompt template of an ingested data directory (its manifest's options.prompt_template), if
// it has one.
std::optional<std::string> data_prompt_template(const std::string& data);

// The routing of model `model` ("" : the first model of the report's cascade, else its only model)
// of a `hone eval --report` file. InputError naming the file when it is not a classification
// report, names no such model (or several models and no cascade, with `model` ""), or the model
// was not calibrated (--calibrate) or has no threshold (--target-accuracy, reached on the
// calibration split).
Routing routing_from_eval_report(const fs::path& report, const std::string& model);

// routing.json's text, and the file read back (InputError naming the file and field).
std::string routing_json(const Routing& routing);
Routing read_routing(const fs::path& path);

}  // namespace hone
