#include "distill/kd_loss.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/full.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "batch/loss.h"

namespace hone {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// sum_i exp(a_i) (a_i - b_i) over the last dimension of log-probabilities a, b; terms with
// a_i = -inf are 0 (0 log 0), terms with a_i finite and b_i = -inf are +inf.
at::Tensor kl_rows(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor live = at::isfinite(a);
  const at::Tensor zero = at::zeros({}, a.options());
  const at::Tensor a0 = at::where(live, a, zero);
  const at::Tensor b0 = at::where(live, b, zero);
  return at::where(live, at::exp(a0) * (a0 - b0), zero).sum(-1);
}

// The per-row loss of one chunk: alpha * T^2 * D + (1 - alpha) * CE.
at::Tensor row_loss(const at::Tensor& logits, const at::Tensor& targets, const TeacherTopK& teacher,
                    const KdOptions& o) {
  at::Tensor loss;
  if (o.alpha > 0) loss = kd_divergence(logits, teacher, o) * o.alpha;
  if (o.alpha < 1) {
    const at::Tensor ce = at::logsumexp(logits, {1}) - logits.gather(1, targets.unsqueeze(1)).squeeze(1);
    loss = loss.defined() ? loss + ce * (1.0 - o.alpha) : ce * (1.0 - o.alpha);
  }
  return loss;
}

}  // namespace

Divergence parse_divergence(const std::string& name) {
  if (name == "forward-kl") return Divergence::kForwardKl;
  if (name == "reverse-kl") return Divergence::kReverseKl;
  if (name == "jsd") return Divergence::kJsd;
  HONE_THROW(UsageError, "--kd-loss must be forward-kl, reverse-kl or jsd, got '{}'", name);
}

std::string divergence_name(Divergence d) {
  switch (d) {
    case Divergence::kForwardKl: return "forward-kl";
    case Divergence::kReverseKl: return "reverse-kl";
    case Divergence::kJsd: return "jsd";
  }
  return "?";
}

void check_kd_options(const KdOptions& o) {
  HONE_CHECK(o.temperature > 0 && std::isfinite(o.temperature), UsageError, "--temperature must be positive, got {}",
             o.temperature);
  HONE_CHECK(o.alpha >= 0 && o.alpha <= 1, UsageError, "--kd-alpha must be in [0, 1], got {}", o.alpha);
  HONE_CHECK(o.divergence != Divergence::kJsd || (o.beta > 0 && o.beta < 1), UsageError,
             Hint{"beta 0 is forward-kl and beta 1 is reverse-kl"}, "--jsd-beta must be in (0, 1), got {}", o.beta);
}

TeacherTopK TeacherTopK::narrow(std::int64_t start, std::int64_t length) const {
  return {ids.narrow(0, start, length), logprobs.narrow(0, start, length), tail.narrow(0, start, length)};
}

TeacherTopK teacher_topk(const at::Tensor& logits, std::int64_t k, double temperature) {
  HONE_CHECK(logits.dim() == 2, UsageError, "teacher_topk: logits must be [N, V]");
  const std::int64_t V = logits.size(1);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::Tensor logp = at::log_softmax(logits.to(at::kFloat) / temperature, 1);
  TeacherTopK t;
  if (k <= 0 || k >= V) k = V;
  auto [values, ids] = at::topk(logp, k, 1, /*largest=*/true, /*sorted=*/true);
  t.ids = ids;
  t.logprobs = values.contiguous();
  t.tail = k == V ? at::full({logits.size(0)}, -kInf, logp.options())
                  : at::logsumexp(logp.scatter(1, ids, -kInf), {1});
  return t;
}

at::Tensor kd_divergence(const at::Tensor& student_logits, const TeacherTopK& t, const KdOptions& o) {
  HONE_CHECK(student_logits.dim() == 2 && t.rows() == student_logits.size(0), UsageError,
             "kd_divergence: {} teacher rows for student logits [{}]", t.rows(), fmt::join(student_logits.sizes(), ", "));
  const std::int64_t N = student_logits.size(0), V = student_logits.size(1), K = t.ids.size(1);
  HONE_CHECK(K <= V, UsageError, "kd_divergence: the teacher keeps {} tokens of a {}-token vocabulary", K, V);
  const double T = o.temperature;
  const at::Tensor s = T == 1.0 ? student_logits.to(at::kFloat) : student_logits.to(at::kFloat) / T;
  const at::Tensor lse = at::logsumexp(s, {1}, /*keepdim=*/true);  // [N, 1]
  const at::Tensor q_k = s.gather(1, t.ids) - lse;                  // [N, K]
  const at::Tensor q_tail = K < V ? (at::logsumexp(s.scatter(1, t.ids, -kInf), {1}, true) - lse)
                                  : at::full({N, 1}, -kInf, s.options());
  const at::Tensor P = at::cat({t.logprobs.to(at::kFloat), t.tail.to(at::kFloat).reshape({N, 1})}, 1);  // teacher
  const at::Tensor Q = at::cat({q_k, q_tail}, 1);                                                         // student
  at::Tensor d;
  switch (o.divergence) {
    case Divergence::kForwardKl: d = kl_rows(P, Q); break;
    case Divergence::kReverseKl: d = kl_rows(Q, P); break;
    case Divergence::kJsd: {
      const at::Tensor M = at::logsumexp(at::stack({P + std::log(o.beta), Q + std::log(1.0 - o.beta)}), {0});
      d = kl_rows(P, M) * o.beta + kl_rows(Q, M) * (1.0 - o.beta);
      break;
    }
  }
  return d * (T * T);
}

at::Tensor linear_kd_loss(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          const TeacherTopK& teacher, const KdOptions& o, std::int64_t chunk_rows) {
  check_kd_options(o);
  HONE_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), UsageError,
             "linear_kd_loss: {} targets for {} rows", targets.numel(), hidden.size(0));
  HONE_CHECK(o.alpha == 0 || teacher.rows() == hidden.size(0), UsageError,
             "linear_kd_loss: {} teacher rows for {} student rows", teacher.rows(), hidden.size(0));
  const at::Tensor all_targets = targets.to(at::kLong);
  return chunked_linear_loss(hidden, weight, chunk_rows, [&](at::Tensor& logits, std::int64_t start, bool want_grad) {
    const std::int64_t n = logits.size(0);
    const at::Tensor t = all_targets.narrow(0, start, n);
    const TeacherTopK tc = o.alpha > 0 ? teacher.narrow(start, n) : TeacherTopK{};
    if (!want_grad) return std::make_pair(row_loss(logits, t, tc, o).sum(), at::Tensor());
    at::AutoGradMode grad_on(true);  // autograd through the loss of this chunk's logits only
    logits.requires_grad_(true);
    const at::Tensor sum = row_loss(logits, t, tc, o).sum();
    const at::Tensor dlogits = torch::autograd::grad({sum}, {logits})[0];
    return std::make_pair(sum.detach(), dlogits);
  });
}

at::Tensor hidden_cosine_loss_sum(const at::Tensor& student, const at::Tensor& teacher) {
  HONE_CHECK(student.dim() == 2 && teacher.sizes() == student.sizes(), UsageError,
             "hidden_cosine_loss_sum: student [{}] and teacher [{}] hidden states must both be [rows, hidden]",
             fmt::join(student.sizes(), ", "), fmt::join(teacher.sizes(), ", "));
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::Tensor s = student.to(at::kFloat), t = teacher.to(at::kFloat).detach();
  const at::Tensor norms = (s.pow(2).sum(-1) * t.pow(2).sum(-1)).sqrt().clamp_min(1e-12);
  return (1.0 - (s * t).sum(-1) / norms).sum();
}

}  // namespace hone
