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
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "core/error.h"

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

class LinearKd : public torch::autograd::Function<LinearKd> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                                                const at::Tensor& weight, const at::Tensor& targets,
                                                const at::Tensor& t_ids, const at::Tensor& t_logprobs,
                                                const at::Tensor& t_tail, int64_t divergence, double beta,
                                                double temperature, double alpha, int64_t chunk) {
    const bool grad_h = hidden.requires_grad(), grad_w = weight.requires_grad();
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);  // float32 throughout
    const KdOptions o{static_cast<Divergence>(divergence), beta, temperature, alpha};
    const TeacherTopK teacher{t_ids, t_logprobs, t_tail};
    const std::int64_t N = hidden.size(0);
    const at::Tensor w = weight.detach().to(at::kFloat);
    at::Tensor loss = at::zeros({}, hidden.options().dtype(at::kFloat));
    at::Tensor dh = grad_h ? at::zeros_like(hidden, hidden.options().dtype(at::kFloat)) : at::Tensor();
    at::Tensor dw = grad_w ? at::zeros_like(w) : at::Tensor();
    for (std::int64_t start = 0; start < N; start += chunk) {
      const std::int64_t n = std::min(chunk, N - start);
      const at::Tensor h = hidden.narrow(0, start, n).detach().to(at::kFloat);
      const at::Tensor t = targets.narrow(0, start, n);
      const TeacherTopK tc = alpha > 0 ? teacher.narrow(start, n) : TeacherTopK{};
      at::Tensor logits = at::matmul(h, w.t());  // [n, V]
      if (!grad_h && !grad_w) {
        loss += row_loss(logits, t, tc, o).sum();
        continue;
      }
      at::AutoGradMode grad_on(true);
      logits.requires_grad_(true);
      const at::Tensor chunk_loss = row_loss(logits, t, tc, o).sum();
      const at::Tensor dlogits = torch::autograd::grad({chunk_loss}, {logits})[0];
      loss += chunk_loss.detach();
      if (grad_h) dh.narrow(0, start, n).copy_(at::matmul(dlogits, w));
      if (grad_w) dw.add_(at::matmul(dlogits.t(), h));
    }
    ctx->save_for_backward({dh, dw});
    ctx->saved_data["hidden_dtype"] = static_cast<std::int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<std::int64_t>(weight.scalar_type());
    return {loss};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& g = grads[0];
    auto dtype = [&](const char* key) { return static_cast<at::ScalarType>(ctx->saved_data[key].toInt()); };
    at::Tensor dh = saved[0].defined() ? (saved[0] * g).to(dtype("hidden_dtype")) : at::Tensor();
    at::Tensor dw = saved[1].defined() ? (saved[1] * g).to(dtype("weight_dtype")) : at::Tensor();
    return {dh, dw, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  }
};

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
  HONE_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1), UsageError,
             "linear_kd_loss: hidden [{}] and weight [{}] do not fit", fmt::join(hidden.sizes(), ", "),
             fmt::join(weight.sizes(), ", "));
  HONE_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), UsageError,
             "linear_kd_loss: {} targets for {} rows", targets.numel(), hidden.size(0));
  HONE_CHECK(o.alpha == 0 || teacher.rows() == hidden.size(0), UsageError,
             "linear_kd_loss: {} teacher rows for {} student rows", teacher.rows(), hidden.size(0));
  HONE_CHECK(chunk_rows > 0, UsageError, "chunk_rows must be positive");
  const at::Tensor none = at::zeros({0}, hidden.options().dtype(at::kFloat));
  const bool kd = o.alpha > 0;
  return LinearKd::apply(hidden, weight, targets.to(at::kLong), kd ? teacher.ids : none.to(at::kLong),
                         kd ? teacher.logprobs : none, kd ? teacher.tail : none, static_cast<int64_t>(o.divergence),
                         o.beta, o.temperature, o.alpha, chunk_rows)[0];
}

}  // namespace hone
