// Cross-entropy of the output head on selected positions only, never materialising the
// (tokens x vocab) logits: rows are processed in chunks, and the gradient with respect to the
// hidden states (and to the head when it is trained) is computed chunk by chunk in the forward
// pass and kept instead of the logits (the "fused linear cross-entropy" of Liger-Kernel).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace hone {

// sum_i -log softmax(hidden_i W^T)[target_i], float32, over the rows of hidden [N, H] (W [V, H],
// targets [N] int64 in [0, V)). Differentiable with respect to `hidden` and `weight` (those that
// require grad); with gradients off (evaluation) it costs only the forward chunks.
at::Tensor linear_cross_entropy(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                std::int64_t chunk_rows = 1024);

}  // namespace hone
