#include "model/fused.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/sum.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/error.h"

#ifdef HONE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "model/fused_cuda.h"
#endif

namespace hone {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool fused_cuda_kernels(const at::Tensor& x, const at::Tensor& other) {
#ifdef HONE_WITH_CUDA
  const auto t = x.scalar_type();
  return x.is_cuda() && other.device() == x.device() && other.scalar_type() == t &&
         (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf);
#else
  (void)x;
  (void)other;
  return false;
#endif
}

namespace {

#ifdef HONE_WITH_CUDA
cuda::Elem elem_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kBFloat16: return cuda::Elem::kBF16;
    case at::kHalf: return cuda::Elem::kF16;
    default: return cuda::Elem::kF32;
  }
}
void* stream_of(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
#endif

// ---------------------------------------------------------------------------- RMSNorm

// x * rstd in float32, with rstd [..., 1].
at::Tensor rms_rstd(const at::Tensor& xf, double eps) { return at::rsqrt(xf.pow(2).mean({-1}, true) + eps); }

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& weight, double eps) {
    if (fused_cuda_kernels(x_in, weight) && weight.dim() == 1 && weight.size(0) == x_in.size(-1)) {
#ifdef HONE_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x_in.device());
      const at::Tensor x = x_in.contiguous(), w = weight.contiguous();
      const std::int64_t cols = x.size(-1), rows = x.numel() / std::max<std::int64_t>(cols, 1);
      at::Tensor y = at::empty_like(x);
      at::Tensor rstd = at::empty({rows}, x.options().dtype(at::kFloat));
      HONE_CHECK(cuda::launch_rms_norm_forward(elem_of(x), x.data_ptr(), w.data_ptr(), y.data_ptr(),
                                               rstd.data_ptr<float>(), rows, cols, static_cast<float>(eps),
                                               stream_of(x)),
                 RuntimeError, "RMSNorm CUDA kernel failed to launch");
      ctx->save_for_backward({x, weight, rstd});  // rstd: [rows]
      ctx->saved_data["kernel"] = true;
      return y;
#endif
    }
    const at::Tensor xf = x_in.to(at::kFloat);
    const at::Tensor rstd = rms_rstd(xf, eps);
    ctx->save_for_backward({x_in, weight, rstd});
    ctx->saved_data["kernel"] = false;
    return weight * (xf * rstd).to(x_in.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &rstd_saved = saved[2];
    const at::Tensor grad = grads[0];
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    at::Tensor grad_x, grad_w;
    at::Tensor rstd = rstd_saved;
    if (ctx->saved_data["kernel"].toBool()) {
      rstd = rstd_saved.view({-1});
#ifdef HONE_WITH_CUDA
      if (need_x) {
        const c10::cuda::CUDAGuard guard(x.device());
        const at::Tensor g = grad.contiguous();
        const std::int64_t cols = x.size(-1), rows = x.numel() / std::max<std::int64_t>(cols, 1);
        grad_x = at::empty_like(x);
        HONE_CHECK(cuda::launch_rms_norm_backward(elem_of(x), g.data_ptr(), x.data_ptr(), weight.contiguous().data_ptr(),
                                                  rstd.data_ptr<float>(), grad_x.data_ptr(), rows, cols, stream_of(x)),
                   RuntimeError, "RMSNorm CUDA backward kernel failed to launch");
      }
#endif
      std::vector<std::int64_t> shape = x.sizes().vec();
      shape.back() = 1;
      rstd = rstd.view(shape);
    } else if (need_x) {
      // The reference chain: y = w * cast(h), h = x * r: dh = float(cast(grad * w)),
      // grad_x = r * (dh - h * mean(dh * h)).
      const at::Tensor h = x.to(at::kFloat) * rstd;
      const at::Tensor dh = (grad * weight).to(x.scalar_type()).to(at::kFloat);
      grad_x = (rstd * (dh - h * (dh * h).mean({-1}, true))).to(x.scalar_type());
    }
    if (need_w) {
      const at::Tensor hn = (x.to(at::kFloat) * rstd).to(x.scalar_type());
      std::vector<std::int64_t> dims;
      for (std::int64_t d = 0; d + 1 < grad.dim(); ++d) dims.push_back(d);
      grad_w = (grad * hn).sum(dims).to(weight.scalar_type());
    }
    return {grad_x, grad_w, at::Tensor()};
  }
};

// ---------------------------------------------------------------------------- SwiGLU

class SwigluFunction : public torch::autograd::Function<SwigluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    if (fused_cuda_kernels(gate, up) && gate.sizes() == up.sizes()) {
#ifdef HONE_WITH_CUDA
      const c10::cuda::CUDAGuard guard(gate.device());
      const at::Tensor g = gate.contiguous(), u = up.contiguous();
      at::Tensor y = at::empty_like(g);
      HONE_CHECK(cuda::launch_swiglu_forward(elem_of(g), g.data_ptr(), u.data_ptr(), y.data_ptr(), g.numel(),
                                             stream_of(g)),
                 RuntimeError, "SwiGLU CUDA kernel failed to launch");
      return y;
#endif
    }
    return at::silu(gate) * up;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &gate = saved[0], &up = saved[1];
    const at::Tensor grad = grads[0];
    if (fused_cuda_kernels(gate, up) && gate.sizes() == up.sizes() && grad.sizes() == gate.sizes()) {
#ifdef HONE_WITH_CUDA
      const c10::cuda::CUDAGuard guard(gate.device());
      const at::Tensor g = gate.contiguous(), u = up.contiguous(), dy = grad.to(gate.scalar_type()).contiguous();
      at::Tensor grad_g = at::empty_like(g), grad_u = at::empty_like(u);
      HONE_CHECK(cuda::launch_swiglu_backward(elem_of(g), dy.data_ptr(), g.data_ptr(), u.data_ptr(), grad_g.data_ptr(),
                                              grad_u.data_ptr(), g.numel(), stream_of(g)),
                 RuntimeError, "SwiGLU CUDA backward kernel failed to launch");
      return {grad_g, grad_u};
#endif
    }
    // As autograd differentiates silu(gate) * up: grad_u = grad * silu(gate), and silu's
    // backward of grad * up.
    at::Tensor grad_g, grad_u;
    if (ctx->needs_input_grad(1)) grad_u = grad * at::silu(gate);
    if (ctx->needs_input_grad(0)) {
      const at::Tensor s = at::sigmoid(gate);
      grad_g = (grad * up) * s * (1 + gate * (1 - s));
    }
    return {grad_g, grad_u};
  }
};

}  // namespace

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean({-1}, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor swiglu_reference(const at::Tensor& gate, const at::Tensor& up) { return at::silu(gate) * up; }

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Without autograd (generation, evaluation) the composite keeps nothing anyway.
  if (!at::GradMode::is_enabled() || (!x.requires_grad() && !weight.requires_grad()))
    return fused_cuda_kernels(x, weight) ? RmsNormFunction::apply(x, weight, eps) : rms_norm_reference(x, weight, eps);
  return RmsNormFunction::apply(x, weight, eps);
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if (!at::GradMode::is_enabled() || (!gate.requires_grad() && !up.requires_grad()))
    return fused_cuda_kernels(gate, up) ? SwigluFunction::apply(gate, up) : swiglu_reference(gate, up);
  return SwigluFunction::apply(gate, up);
}

}  // namespace hone
