// Linear layers with weights pre-packed for oneDNN, for CPU inference (eval, generate).
//
// ATen's float32 linear on CPU calls the BLAS (MKL), which copies the weight matrix into its own
// panel layout at every call. With the few rows an eval or decoding pass feeds (tens to a few
// hundred), that copy can cost as much as the multiplication. oneDNN's inner product with the
// weight reordered once into its blocked layout (PyTorch's own mkldnn::_reorder_linear_weight and
// mkldnn::_linear_pointwise, what torch.compile's CPU freezing uses) skips the copy
// (measurements: docs/benchmarks.md).
//
// Results equal at::linear's to float32 rounding (a different summation order), not bitwise.
#pragma once

#include <ATen/core/Tensor.h>

namespace hone {

// Whether this libtorch has the two oneDNN operators (a build with mkldnn) and `weight` is a
// 2-D float32 CPU tensor they can take.
bool can_pack_linear(const at::Tensor& weight);

// A copy of the weight [out, in] in oneDNN's blocked layout (an opaque mkldnn tensor).
at::Tensor pack_linear_weight(const at::Tensor& weight);

// x [..., in] @ packed^T (+ bias): a dense float32 tensor [..., out].
at::Tensor packed_linear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& bias);

}  // namespace hone
