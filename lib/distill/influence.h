// Which teacher layers a `layers:N` student keeps. `even` spaces them evenly (the first and the
// last included); `influence` keeps the N layers that change the residual stream most, by
// ShortGPT's block influence (Men et al., 2024): for layer l, the mean over tokens of
// 1 - cos(x_l, x_{l+1}) between its input and its output, measured by a pass of the teacher over
// a sample of the training data. A layer whose output is nearly its input is the cheapest to cut.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/token_store.h"

namespace hone {

class Decoder;

enum class LayerChoice {
  kEven,       // evenly spaced, first and last included
  kInfluence,  // the N of highest block influence
};
std::string_view to_string(LayerChoice choice);  // "even", "influence"

struct LayerInfluence {
  std::vector<double> scores;  // per teacher layer: mean over tokens of 1 - cos(input, output)
  std::int64_t sequences = 0;  // sequences of the sample
  std::int64_t tokens = 0;     // real tokens they hold
};

// The block influence of every layer of `teacher` over `sample` evenly spaced sequences of `split`
// (all of them when it holds fewer; each sequence run alone, without gradients, in the teacher's
// own dtype, so that the scores do not depend on batching). The cosine is computed in float32.
LayerInfluence layer_influence(const Decoder& teacher, const data::TokenSplit& split, std::int64_t sample);

// The `n` layers of highest score, in increasing layer order (ties: the lower layer first).
std::vector<std::int64_t> most_influential(const std::vector<double>& scores, std::int64_t n);

// How a student's layers were chosen, for logs and run.json.
struct StudentLayers {
  std::vector<std::int64_t> keep;  // teacher layers, increasing
  LayerChoice choice = LayerChoice::kEven;
  LayerInfluence influence;        // measured for kInfluence only
  std::string json() const;        // {"layers": [...], "layer_choice": ..., "influence": {...}}
  std::string summary() const;     // one log line
};

// The layers of a `layers:` spec (parse_student_layers) chosen by `choice` for a `teacher`: a count
// `layers:N` is spread evenly or chosen by influence over `sample` sequences of `split`; an
// explicit list `layers:i,j,k` is kept as given (UsageError with kInfluence: it chooses nothing).
StudentLayers choose_student_layers(const std::string& spec, LayerChoice choice, const Decoder& teacher,
                                    const data::TokenSplit& split, std::int64_t sample);

}  // namespace hone
