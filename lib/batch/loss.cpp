#include "batch/loss.h"

#include <ATen/TensorOperators.h>
#include <ATen/autocast_mode.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/error.h"

namespace hone {

namespace {

// The product's dtype: the autocast dtype when autocast is on for `type` (as autocast runs a linear
// layer), else float32.
at::ScalarType matmul_dtype(c10::DeviceType type) {
  return at::autocast::is_autocast_enabled(type) ? at::autocast::get_autocast_dtype(type) : at::kFloat;
}

// d logp / d logits of the rows of `logits` [n, V] (overwritten): onehot(target) - softmax.
at::Tensor logprob_grad(at::Tensor& logits, const at::Tensor& lse, const at::Tensor& t) {
  at::Tensor p = at::exp(logits.sub_(lse)).neg_();
  p.scatter_add_(1, t, at::full_like(t, 1.0, p.options()));
  return p;
}

class ChunkedLinearLoss : public torch::autograd::Function<ChunkedLinearLoss> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                                                const at::Tensor& weight, std::int64_t chunk,
                                                const ChunkLoss* chunk_loss) {
    const bool grad_h = hidden.requires_grad(), grad_w = weight.requires_grad();
    // The three products run in the autocast dtype when autocast is on for this device (as
    // autocast runs a linear layer: bf16 operands, float32 accumulation); the logits, softmax,
    // loss and gradient accumulators are float32 either way.
    const at::ScalarType mm = matmul_dtype(hidden.device().type());
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const std::int64_t N = hidden.size(0);
    const at::Tensor w = weight.detach().to(mm);
    at::Tensor loss = at::zeros({}, hidden.options().dtype(at::kFloat));
    at::Tensor dh = grad_h ? at::zeros_like(hidden, hidden.options().dtype(at::kFloat)) : at::Tensor();
    at::Tensor dw = grad_w ? at::zeros_like(w, w.options().dtype(at::kFloat)) : at::Tensor();
    for (std::int64_t start = 0; start < N; start += chunk) {
      const std::int64_t n = std::min(chunk, N - start);
      const at::Tensor h = hidden.narrow(0, start, n).detach().to(mm);
      at::Tensor logits = at::matmul(h, w.t()).to(at::kFloat);  // [n, V]
      auto [chunk_sum, dlogits] = (*chunk_loss)(logits, start, grad_h || grad_w);
      loss += chunk_sum.detach();
      if (grad_h || grad_w) {
        const at::Tensor d = dlogits.to(mm);
        if (grad_h) dh.narrow(0, start, n).copy_(at::matmul(d, w));
        if (grad_w) dw.add_(at::matmul(d.t(), h));
      }
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
    return {dh, dw, at::Tensor(), at::Tensor()};
  }
};

class LinearTargetLogprobs : public torch::autograd::Function<LinearTargetLogprobs> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                                                const at::Tensor& weight, const at::Tensor& targets,
                                                std::int64_t chunk) {
    const bool grad_h = hidden.requires_grad();
    const at::ScalarType mm = matmul_dtype(hidden.device().type());
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const std::int64_t N = hidden.size(0);
    const at::Tensor w = weight.detach().to(mm);
    at::Tensor out = at::zeros({N}, hidden.options().dtype(at::kFloat));
    at::Tensor dh = grad_h ? at::zeros_like(hidden, hidden.options().dtype(at::kFloat)) : at::Tensor();
    for (std::int64_t start = 0; start < N; start += chunk) {
      const std::int64_t n = std::min(chunk, N - start);
      const at::Tensor h = hidden.narrow(0, start, n).detach().to(mm);
      at::Tensor logits = at::matmul(h, w.t()).to(at::kFloat);  // [n, V]
      const at::Tensor t = targets.narrow(0, start, n).unsqueeze(1);
      const at::Tensor lse = at::logsumexp(logits, {1}, /*keepdim=*/true);
      out.narrow(0, start, n).copy_((logits.gather(1, t) - lse).squeeze(1));
      if (grad_h) dh.narrow(0, start, n).copy_(at::matmul(logprob_grad(logits, lse, t).to(mm), w));
    }
    ctx->save_for_backward({dh, hidden, weight, targets});
    ctx->saved_data["chunk"] = chunk;
    return {out};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor g = grads[0].to(at::kFloat);  // [N]
    const at::Tensor &hidden = saved[1], &weight = saved[2], &targets = saved[3];
    at::Tensor dh = saved[0].defined() ? (saved[0] * g.unsqueeze(1)).to(hidden.scalar_type()) : at::Tensor();
    at::Tensor dw;
    if (weight.requires_grad()) {  // the head's gradient, recomputed chunk by chunk
      const at::ScalarType mm = matmul_dtype(hidden.device().type());
      c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
      const std::int64_t chunk = ctx->saved_data["chunk"].toInt(), N = hidden.size(0);
      const at::Tensor w = weight.detach().to(mm);
      dw = at::zeros_like(w, w.options().dtype(at::kFloat));
      for (std::int64_t start = 0; start < N; start += chunk) {
        const std::int64_t n = std::min(chunk, N - start);
        const at::Tensor h = hidden.narrow(0, start, n).detach().to(mm);
        at::Tensor logits = at::matmul(h, w.t()).to(at::kFloat);
        const at::Tensor t = targets.narrow(0, start, n).unsqueeze(1);
        const at::Tensor lse = at::logsumexp(logits, {1}, /*keepdim=*/true);
        const at::Tensor d = (logprob_grad(logits, lse, t) * g.narrow(0, start, n).unsqueeze(1)).to(mm);
        dw.add_(at::matmul(d.t(), h));
      }
      dw = dw.to(weight.scalar_type());
    }
    return {dh, dw, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunked_linear_loss(const at::Tensor& hidden, const at::Tensor& weight, std::int64_t chunk_rows,
                               const ChunkLoss& chunk_loss) {
  HONE_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1), UsageError,
             "chunked_linear_loss: hidden [{}] and weight [{}] do not fit", fmt::join(hidden.sizes(), ", "),
             fmt::join(weight.sizes(), ", "));
  HONE_CHECK(chunk_rows > 0, UsageError, "chunk_rows must be positive");
  return ChunkedLinearLoss::apply(hidden, weight, chunk_rows, &chunk_loss)[0];
}

at::Tensor linear_cross_entropy(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                std::int64_t chunk_rows) {
  HONE_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), UsageError,
             "linear_cross_entropy: {} targets for {} rows", targets.numel(), hidden.size(0));
  const at::Tensor all_targets = targets.to(at::kLong);
  return chunked_linear_loss(hidden, weight, chunk_rows, [&](at::Tensor& logits, std::int64_t start, bool want_grad) {
    const at::Tensor t = all_targets.narrow(0, start, logits.size(0)).unsqueeze(1);
    const at::Tensor lse = at::logsumexp(logits, {1}, /*keepdim=*/true);  // [n, 1]
    const at::Tensor sum = (lse - logits.gather(1, t)).sum();
    if (!want_grad) return std::make_pair(sum, at::Tensor());
    at::Tensor p = at::exp(logits.sub_(lse));  // softmax, reusing the logits' memory
    p.scatter_add_(1, t, at::full_like(t, -1.0, p.options()));
    return std::make_pair(sum, p);
  });
}

at::Tensor linear_target_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                  std::int64_t chunk_rows) {
  HONE_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1), UsageError,
             "linear_target_logprobs: hidden [{}] and weight [{}] do not fit", fmt::join(hidden.sizes(), ", "),
             fmt::join(weight.sizes(), ", "));
  HONE_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), UsageError,
             "linear_target_logprobs: {} targets for {} rows", targets.numel(), hidden.size(0));
  HONE_CHECK(chunk_rows > 0, UsageError, "chunk_rows must be positive");
  return LinearTargetLogprobs::apply(hidden, weight, targets.to(at::kLong), chunk_rows)[0];
}

}  // namespace hone
