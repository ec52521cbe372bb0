// A model as `hone eval` and `hone classify` run it: a .gguf file or HF directory with an optional
// PEFT adapter merged in, the chat template its prompts are rendered with, and what the report
// says about it (name, parameters, size on disk).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

#include "core/fs.h"
#include "eval/eval.h"
#include "generate/text_generation.h"

namespace hone {

struct LoadedModel {
  LanguageModel lm;
  std::string name;
  std::int64_t params = 0, adapter_params = 0;
  std::uint64_t bytes = 0;  // the model's files and the adapter's weights and config
};

// Loads the model and merges its adapter. Prompts are rendered with `chat_template` when given,
// else with the template the adapter's training data were rendered with, else the model's own.
// Weights are packed for oneDNN where that speeds up CPU inference.
LoadedModel load_eval_model(const EvalModel& m, c10::Device device, c10::ScalarType dtype, const fs::path& chat_template);

}  // namespace hone
