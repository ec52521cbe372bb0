// Fused RMSNorm and SwiGLU for the decoder: autograd functions that keep less for the backward
// pass than the composite expressions do, and on CUDA run as one kernel each way (fused_cuda.cu).
//  - rms_norm: keeps x and one float per row (the composite keeps the same for a frozen weight;
//    with a trainable weight it also keeps the normalised x); one kernel instead of six.
//  - swiglu: keeps gate and up only, and recomputes silu(gate) in the backward pass: the
//    composite also keeps silu(gate), one more (tokens x intermediate) tensor per layer, about
//    15% of a SmolLM2 layer's activations.
// The *_reference functions are the composite expressions (transformers' LlamaRMSNorm and
// act_fn(gate) * up), what the fused versions are tested against.
#pragma once

#include <ATen/core/Tensor.h>

namespace hone {

// weight * cast(x * rsqrt(mean(x^2, -1) + eps)), normalised in float32, cast to x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up.
at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);
at::Tensor swiglu_reference(const at::Tensor& gate, const at::Tensor& up);

// Whether rms_norm / swiglu run the CUDA kernels for tensors like these (a CUDA build, CUDA
// tensors of float32, bfloat16 or float16, the weight in x's dtype); the ATen path otherwise.
bool fused_cuda_kernels(const at::Tensor& x, const at::Tensor& other);

}  // namespace hone
