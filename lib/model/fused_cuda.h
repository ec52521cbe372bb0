// CUDA kernels of the fused decoder ops (fused.h): RMSNorm and SwiGLU, forward and backward, each
// one pass over memory. Plain pointers, no LibTorch: fused.cpp checks shapes, dtypes and devices
// and passes contiguous device buffers. The CPU reference is fused.h's *_reference functions;
// tests/gpu/test_cuda.cpp compares the two where a GPU exists.
#pragma once

#include <cstdint>

namespace hone::cuda {

// Element type of the activations: float32, bfloat16 or float16.
enum class Elem { kF32, kBF16, kF16 };

// y = w * cast(x * rstd), rstd = 1/sqrt(mean(x^2) + eps) in float32 per row of `cols`; `rstd`
// (rows floats) is written for the backward pass. x, w, y: `elem`.
bool launch_rms_norm_forward(Elem elem, const void* x, const void* w, void* y, float* rstd, std::int64_t rows,
                             std::int64_t cols, float eps, void* stream);
// grad_x of the above (grad_w is left to the caller: it is needed only in full fine-tuning).
bool launch_rms_norm_backward(Elem elem, const void* grad_y, const void* x, const void* w, const float* rstd,
                              void* grad_x, std::int64_t rows, std::int64_t cols, void* stream);

// y = silu(g) * u over n elements, rounded as ATen rounds silu(g) then the product.
bool launch_swiglu_forward(Elem elem, const void* g, const void* u, void* y, std::int64_t n, void* stream);
// grad_g and grad_u from grad_y, recomputing silu(g) (nothing but g and u is kept).
bool launch_swiglu_backward(Elem elem, const void* grad_y, const void* g, const void* u, void* grad_g, void* grad_u,
                            std::int64_t n, void* stream);

}  // namespace hone::cuda
