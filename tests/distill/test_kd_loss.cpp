// The distillation losses against a direct reference: full softmaxes in float64, the top-k
// buckets and the tail summed from probabilities, the divergences written out from their
// definitions, and gradients by autograd through all of it.
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/log.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "distill/kd_loss.h"
#include "helpers.h"
#include "batch/loss.h"

namespace hone::test {
namespace {

struct Case {
  Divergence divergence;
  double beta, temperature;
  std::int64_t k;  // 0: the whole vocabulary
  double alpha;
};

std::string name(const Case& c) {
  return fmt::format("{} beta {} T {} k {} alpha {}", divergence_name(c.divergence), c.beta, c.temperature, c.k,
                     c.alpha);
}

// The reference loss in float64: sum over rows of alpha T^2 D(P, Q) + (1 - alpha) CE.
at::Tensor reference_loss(const at::Tensor& h, const at::Tensor& w, const at::Tensor& teacher_logits,
                          const at::Tensor& targets, const Case& c) {
  const std::int64_t V = w.size(0);
  const at::Tensor s = at::matmul(h, w.t());
  const at::Tensor q = at::softmax(s / c.temperature, 1);
  const at::Tensor p = at::softmax(teacher_logits / c.temperature, 1);
  at::Tensor P = p, Q = q;
  if (c.k > 0 && c.k < V) {
    const at::Tensor order = at::argsort(p, 1, /*descending=*/true).narrow(1, 0, c.k);
    at::Tensor in_top = at::zeros_like(p).scatter(1, order, 1.0);
    P = at::cat({p.gather(1, order), (p * (1 - in_top)).sum(1, true)}, 1);
    Q = at::cat({q.gather(1, order), (q * (1 - in_top)).sum(1, true)}, 1);
  }
  auto kl = [](const at::Tensor& a, const at::Tensor& b) { return (a * at::log(a / b)).sum(1); };
  at::Tensor d;
  switch (c.divergence) {
    case Divergence::kForwardKl: d = kl(P, Q); break;
    case Divergence::kReverseKl: d = kl(Q, P); break;
    case Divergence::kJsd: {
      const at::Tensor M = P * c.beta + Q * (1 - c.beta);
      d = kl(P, M) * c.beta + kl(Q, M) * (1 - c.beta);
      break;
    }
  }
  const at::Tensor ce = -at::log_softmax(s, 1).gather(1, targets.unsqueeze(1)).squeeze(1);
  return (d * (c.alpha * c.temperature * c.temperature) + ce * (1 - c.alpha)).sum();
}

double max_rel(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want).abs().max().item<double>() / std::max(1e-12, want.abs().max().item<double>());
}

TEST(KdLoss, MatchesTheReferenceForEveryDivergenceTemperatureAndTopK) {
  at::manual_seed(7);
  const std::int64_t N = 9, H = 12, V = 40;
  const std::vector<Case> cases = {
      {Divergence::kForwardKl, 0.5, 1.0, 0, 1.0},  {Divergence::kForwardKl, 0.5, 2.0, 0, 0.5},
      {Divergence::kForwardKl, 0.5, 1.0, 5, 1.0},  {Divergence::kForwardKl, 0.5, 3.0, 5, 0.7},
      {Divergence::kReverseKl, 0.5, 1.0, 0, 1.0},  {Divergence::kReverseKl, 0.5, 2.0, 0, 0.5},
      {Divergence::kReverseKl, 0.5, 1.0, 7, 1.0},  {Divergence::kReverseKl, 0.5, 0.5, 7, 0.3},
      {Divergence::kJsd, 0.5, 1.0, 0, 1.0},        {Divergence::kJsd, 0.1, 2.0, 0, 1.0},
      {Divergence::kJsd, 0.9, 1.0, 6, 0.5},        {Divergence::kJsd, 0.5, 2.0, 6, 1.0},
      {Divergence::kForwardKl, 0.5, 2.0, 0, 0.0},  // cross-entropy only
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(name(c));
    const at::Tensor h64 = at::randn({N, H}, at::kDouble), w64 = at::randn({V, H}, at::kDouble) * 0.7;
    const at::Tensor teacher_logits = at::randn({N, V}, at::kDouble) * 2.5;
    const at::Tensor targets = at::randint(0, V, {N}, at::kLong);
    // hone: float32, chunks of 4 rows (so that chunking is exercised), top-k from the teacher's logits.
    at::Tensor h = h64.to(at::kFloat).requires_grad_(true), w = w64.to(at::kFloat).requires_grad_(true);
    KdOptions o{c.divergence, c.beta, c.temperature, c.alpha};
    const TeacherTopK t = teacher_topk(teacher_logits.to(at::kFloat), c.k, c.temperature);
    at::Tensor loss = linear_kd_loss(h, w, targets, t, o, /*chunk_rows=*/4);
    loss.backward();
    // The reference.
    at::Tensor rh = h64.clone().requires_grad_(true), rw = w64.clone().requires_grad_(true);
    at::Tensor ref = reference_loss(rh, rw, teacher_logits, targets, c);
    ref.backward();
    EXPECT_LT(std::abs(loss.item<double>() - ref.item<double>()) / std::abs(ref.item<double>()), 1e-5)
        << loss.item<double>() << " vs " << ref.item<double>();
    EXPECT_LT(max_rel(h.grad(), rh.grad()), 1e-4);
    EXPECT_LT(max_rel(w.grad(), rw.grad()), 1e-4);
  }
}

TEST(KdLoss, TeacherTopKKeepsTheLargestAndTheTailMass) {
  at::manual_seed(3);
  const at::Tensor logits = at::randn({4, 30}) * 3;
  const TeacherTopK t = teacher_topk(logits, 6, 2.0);
  const at::Tensor logp = at::log_softmax(logits.to(at::kDouble) / 2.0, 1);
  const at::Tensor sorted = std::get<0>(logp.sort(1, /*descending=*/true));
  EXPECT_LT((t.logprobs.to(at::kDouble) - sorted.narrow(1, 0, 6)).abs().max().item<double>(), 1e-5);
  const at::Tensor tail = at::log(sorted.narrow(1, 6, 24).exp().sum(1));
  EXPECT_LT((t.tail.to(at::kDouble) - tail).abs().max().item<double>(), 1e-5);
  // All of the vocabulary: no tail.
  const TeacherTopK all = teacher_topk(logits, 0, 1.0);
  EXPECT_EQ(all.ids.size(1), 30);
  EXPECT_TRUE(std::isinf(all.tail[0].item<float>()) && all.tail[0].item<float>() < 0);
}

TEST(KdLoss, IsZeroWhenTheStudentIsTheTeacherAndCrossEntropyAtAlphaZero) {
  at::manual_seed(5);
  const at::Tensor h = at::randn({5, 8}), w = at::randn({20, 8});
  const at::Tensor targets = at::randint(0, 20, {5}, at::kLong);
  const TeacherTopK same = teacher_topk(at::matmul(h, w.t()), 0, 1.5);
  for (Divergence d : {Divergence::kForwardKl, Divergence::kReverseKl, Divergence::kJsd}) {
    const double v = linear_kd_loss(h, w, targets, same, KdOptions{d, 0.5, 1.5, 1.0}).item<double>();
    EXPECT_NEAR(v, 0.0, 1e-5) << divergence_name(d);
  }
  const double ce = linear_cross_entropy(h, w, targets).item<double>();
  EXPECT_NEAR(linear_kd_loss(h, w, targets, TeacherTopK{}, KdOptions{Divergence::kForwardKl, 0.5, 2.0, 0.0}).item<double>(),
              ce, 1e-5 * ce);
}

// The hidden-state term against 1 - cos written out in float64, its gradient by autograd through
// that; a bf16 teacher is read in float32; the teacher gets no gradient; a zero row counts as
// orthogonal (1), not NaN.
TEST(KdLoss, HiddenCosineLossMatchesTheReferenceAndItsGradient) {
  at::manual_seed(11);
  const at::Tensor s0 = at::randn({6, 16}) * 3, t0 = at::randn({6, 16}) + s0 * 0.5;
  for (const c10::ScalarType teacher_dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(teacher_dtype));
    const at::Tensor t = t0.to(teacher_dtype);
    const at::Tensor s = s0.clone().requires_grad_(true);
    const at::Tensor got = hidden_cosine_loss_sum(s, t);
    const at::Tensor dgot = torch::autograd::grad({got}, {s})[0];

    const at::Tensor sd = s0.to(at::kDouble).requires_grad_(true), td = t.to(at::kDouble);
    const at::Tensor want = (1 - (sd * td).sum(1) / (sd.pow(2).sum(1).sqrt() * td.pow(2).sum(1).sqrt())).sum();
    const at::Tensor dwant = torch::autograd::grad({want}, {sd})[0];
    EXPECT_LE(max_rel(got, want), 1e-6);
    EXPECT_LE(max_rel(dgot, dwant), 1e-5);
  }
  // Scale-free, zero for the same direction, 2 for the opposite one, 1 against a zero row.
  const at::Tensor a = at::randn({3, 16});
  EXPECT_NEAR(hidden_cosine_loss_sum(a * 7, a).item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(hidden_cosine_loss_sum(-a, a).item<double>(), 6.0, 1e-5);
  const at::Tensor z = hidden_cosine_loss_sum(at::zeros({2, 16}), a.narrow(0, 0, 2));
  EXPECT_NEAR(z.item<double>(), 2.0, 1e-6);
  // The teacher is a target, not a trained tensor.
  const at::Tensor tg = a.clone().requires_grad_(true);
  const at::Tensor l = hidden_cosine_loss_sum(at::randn({3, 16}).requires_grad_(true), tg);
  EXPECT_FALSE(torch::autograd::grad({l}, {tg}, {}, std::nullopt, false, /*allow_unused=*/true)[0].defined());
  EXPECT_HONE_ERROR(hidden_cosine_loss_sum(at::zeros({2, 16}), at::zeros({2, 8})), UsageError,
                    "must both be [rows, hidden]");
}

TEST(KdLoss, RejectsOptionsOutOfRange) {
  EXPECT_HONE_ERROR(check_kd_options(KdOptions{Divergence::kJsd, 0.0, 1.0, 0.5}), UsageError, "--jsd-beta");
  EXPECT_HONE_ERROR(check_kd_options(KdOptions{Divergence::kForwardKl, 0.5, 0.0, 0.5}), UsageError, "--temperature");
  EXPECT_HONE_ERROR(check_kd_options(KdOptions{Divergence::kForwardKl, 0.5, 1.0, 1.5}), UsageError, "--kd-alpha");
  EXPECT_HONE_ERROR(parse_divergence("kl"), UsageError, "forward-kl, reverse-kl or jsd");
}

}  // namespace
}  // namespace hone::test
