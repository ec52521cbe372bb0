#include "dpo/dpo_loss.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/log_sigmoid.h>
#include <ATen/ops/pow.h>

namespace hone {

PairLosses pair_losses(const PairLogprobs& p, DpoLoss loss, double beta) {
  const at::Tensor chosen_ratio = p.chosen - p.ref_chosen, rejected_ratio = p.rejected - p.ref_rejected;
  PairLosses out;
  if (loss == DpoLoss::kSigmoid) {
    out.loss = -at::log_sigmoid((chosen_ratio - rejected_ratio) * beta);
  } else {
    // Per-token log-ratios, as TRL's IPO: the squared loss does not grow with the answers' length.
    const at::Tensor delta = chosen_ratio / at::clamp_min(p.chosen_tokens, 1.0) -
                             rejected_ratio / at::clamp_min(p.rejected_tokens, 1.0);
    out.loss = at::pow(delta - 1.0 / (2.0 * beta), 2);
  }
  out.chosen_rewards = (chosen_ratio * beta).detach();
  out.rejected_rewards = (rejected_ratio * beta).detach();
  return out;
}

}  // namespace hone
