// `hone lora-train --objective dpo`: preference tuning on the pairs of a preference store (`hone
// tokenize --pairs`), on the shared training loop (checkpoints, resume, metrics, data
// parallelism). The reference is the model the run starts from; its log-probabilities are
// computed once before the first step (reference.h). Replay mixes sequences of the original
// training store into every micro-batch with the cross-entropy, against forgetting.
#pragma once

#include "core/fs.h"
#include "dpo/dpo_loss.h"
#include "train/trainer.h"

namespace hone {

struct DpoOptions {
  DpoLoss loss = DpoLoss::kSigmoid;
  double beta = 0.1;  // how far the policy may move from the reference (TRL's default)
  fs::path replay;    // a token store of the original training data (its train split); empty: none
  // Replay sequences per preference pair in every micro-batch (rounded to a whole number per
  // micro-batch of --batch-size pairs). The step's loss is the mean DPO loss over its pairs plus
  // the mean over its replay sequences of each one's mean cross-entropy per loss token.
  double replay_ratio = 1.0;
};

// Trains the LoRA adapter (or, with --full, every weight) of `options` on the preference store
// options.data.
TrainSummary dpo_train(const TrainOptions& options, const DpoOptions& dpo);

const char* to_string(DpoLoss loss);

}  // namespace hone
