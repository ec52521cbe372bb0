// The pieces of DPO on plain tensors: the per-target log-probabilities of the output head and their
// gradients (against autograd through the full logits), and the two pair losses (by hand).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "batch/loss.h"
#include "dpo/dpo_loss.h"

namespace hone::test {
namespace {

TEST(LinearTargetLogprobs, ValuesAndGradientsEqualAutogradThroughTheLogits) {
  at::manual_seed(0);
  const at::Tensor h0 = at::randn({7, 16}, at::kDouble).to(at::kFloat), w0 = at::randn({40, 16}).mul_(0.3);
  const at::Tensor targets = at::randint(0, 40, {7}, at::kLong);
  const at::Tensor g = at::randn({7});  // a non-uniform weight per row: the function is not a plain sum
  for (std::int64_t chunk : {1, 3, 64}) {
    SCOPED_TRACE(chunk);
    at::Tensor h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
    const at::Tensor mine = linear_target_logprobs(h, w, targets, chunk);
    at::tanh(mine * g).sum().backward();
    at::Tensor h2 = h0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true);
    const at::Tensor ref = at::log_softmax(at::matmul(h2, w2.t()), 1).gather(1, targets.unsqueeze(1)).squeeze(1);
    at::tanh(ref * g).sum().backward();
    EXPECT_TRUE(at::allclose(mine, ref, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(h.grad(), h2.grad(), 1e-4, 1e-6));
    EXPECT_TRUE(at::allclose(w.grad(), w2.grad(), 1e-4, 1e-6));
  }
}

TEST(PairLosses, SigmoidAndIpoByHand) {
  auto t = [](std::vector<float> v) { return at::tensor(v); };
  const PairLogprobs p{t({-3.0f, -1.0f}), t({-2.0f, -4.0f}), t({-2.5f, -1.5f}),
                       t({-2.5f, -3.0f}), t({2.0f, 1.0f}),   t({4.0f, 2.0f})};
  const double beta = 0.5;
  const PairLosses s = pair_losses(p, DpoLoss::kSigmoid, beta);
  // Pair 0: chosen ratio -0.5, rejected 0.5: -log sigmoid(0.5 * -1); pair 1: 0.5 and -1.
  EXPECT_NEAR(s.loss[0].item<double>(), std::log1p(std::exp(0.5)), 1e-6);
  EXPECT_NEAR(s.loss[1].item<double>(), std::log1p(std::exp(-0.75)), 1e-6);
  EXPECT_NEAR(s.chosen_rewards[0].item<double>(), -0.25, 1e-6);
  EXPECT_NEAR(s.rejected_rewards[1].item<double>(), -0.5, 1e-6);
  const PairLosses i = pair_losses(p, DpoLoss::kIpo, beta);
  // Pair 0: -0.5 / 2 - 0.5 / 4 = -0.375; pair 1: 0.5 / 1 + 1 / 2 = 1; minus 1 / (2 beta) = 1, squared.
  EXPECT_NEAR(i.loss[0].item<double>(), std::pow(-0.375 - 1.0, 2), 1e-6);
  EXPECT_NEAR(i.loss[1].item<double>(), 0.0, 1e-6);
}

}  // namespace
}  // namespace hone::test
