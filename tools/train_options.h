// The options of the training loop, registered once for the two commands that run it
// (lora-train and distill).
#pragma once

#include <string>

#include "command.h"
#include "train/trainer.h"

namespace hone::tools {

// Values bound to options that need converting before they go into TrainOptions.
struct TrainCliValues {
  std::string targets = "all-linear";
  std::string layers = "all";
  std::string dump_grads;
  bool no_shuffle = false;
  // Copies them into `t` (targets parsed, paths set).
  void apply(TrainOptions& t) const;
};

// --targets, --rank, --alpha, --lora-dropout, --rslora, --lora-layers, --loraplus-lr-ratio (group
// "LoRA").
void add_lora_options(CLI::App& cmd, TrainOptions& t, TrainCliValues& v);

// --max-steps, --epochs, --resume and the groups "Optimisation", "Compute" and "Evaluation and
// output".
void add_loop_options(CLI::App& cmd, TrainOptions& t, TrainCliValues& v);

}  // namespace hone::tools
