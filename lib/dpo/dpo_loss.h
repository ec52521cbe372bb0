// The preference losses of `hone lora-train --objective dpo`, on per-sequence log-probabilities:
// DPO's sigmoid loss (Rafailov et al., 2023) and IPO's squared loss (Azar et al., 2023), as TRL's
// DPOTrainer computes them (loss_type "sigmoid" and "ipo").
#pragma once

#include <ATen/core/Tensor.h>

namespace hone {

enum class DpoLoss {
  kSigmoid,  // -log sigmoid(beta * (chosen log-ratio - rejected log-ratio))
  kIpo,      // ((chosen log-ratio / its tokens - rejected log-ratio / its tokens) - 1 / (2 beta))^2
};

// One batch of pairs, each [P] float32 (the policy's with gradients): the sums of the answers'
// token log-probabilities under the policy and the reference, and the answers' loss tokens.
struct PairLogprobs {
  at::Tensor chosen, rejected;          // policy
  at::Tensor ref_chosen, ref_rejected;  // reference (constants)
  at::Tensor chosen_tokens, rejected_tokens;
};

struct PairLosses {
  at::Tensor loss;              // [P] per pair
  at::Tensor chosen_rewards;    // [P] beta * (chosen - ref_chosen), detached
  at::Tensor rejected_rewards;  // [P] beta * (rejected - ref_rejected), detached
};

PairLosses pair_losses(const PairLogprobs& logprobs, DpoLoss loss, double beta);

}  // namespace hone
