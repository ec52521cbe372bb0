// `hone eval --cascade`: the first model answers the queries it is sure of (confidence at or above
// the threshold) and hands the rest to the second. The second model is run again, on the deferred
// queries only and batched as a serving stack would batch them, so that the latency per query is
// what the cascade costs: the first model's scoring of the query, plus the second's when deferred.
// Report keys: report/eval_schema.h, "the cascade".
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/example_run.h"

namespace hone {

struct CascadeResult {
  nlohmann::ordered_json json;                   // the report's "cascade" object
  std::vector<nlohmann::ordered_json> predictions;  // per query, model = the cascade's name
};

// `first` and `second` have both scored the same examples alone (score_examples);
// `first_confidence` holds the first model's confidences at its temperature.
CascadeResult run_cascade(const EvalOptions& o, ExampleRun& first, const std::vector<double>& first_confidence,
                          ExampleRun& second, double threshold, const std::string& chosen_on);

}  // namespace hone
