// Cross-entropy of the output head on selected positions only, never materialising the
// (tokens x vocab) logits: rows are processed in chunks, and the gradient with respect to the
// hidden states (and to the head when it is trained) is computed chunk by chunk in the forward
// pass and kept instead of the logits (the "fused linear cross-entropy" of Liger-Kernel).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <utility>

namespace hone {

// A loss of the rows of logits = hidden [N, H] x weight [V, H]^T: called per chunk with the
// chunk's float32 logits [n, V] (in memory it may overwrite), its first row and whether the
// gradient is wanted; returns the chunk's loss (a float32 scalar) and, when wanted, its gradient
// with respect to the logits [n, V].
using ChunkLoss =
    std::function<std::pair<at::Tensor, at::Tensor>(at::Tensor& logits, std::int64_t start, bool want_grad)>;

// sum over chunks of `chunk_loss`, `chunk_rows` rows at a time. The products with `weight` run
// in the autocast dtype when autocast is on for hidden's device (bf16 operands, as autocast runs
// a linear layer), in float32 otherwise; logits, loss and gradients are float32.
// Differentiable with respect to `hidden` and `weight` (those that require grad): their
// gradients are accumulated chunk by chunk in the forward pass from the logits' gradients, so
// the [N, V] logits never exist at once. The one mechanism behind linear_cross_entropy and the
// distillation losses.
at::Tensor chunked_linear_loss(const at::Tensor& hidden, const at::Tensor& weight, std::int64_t chunk_rows,
                               const ChunkLoss& chunk_loss);

// sum_i -log softmax(hidden_i W^T)[target_i], float32, over the rows of hidden [N, H] (W [V, H],
// targets [N] int64 in [0, V)). Differentiable with respect to `hidden` and `weight` (those that
// require grad); with gradients off (evaluation) it costs only the forward chunks.
at::Tensor linear_cross_entropy(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                std::int64_t chunk_rows = 1024);

// log softmax(hidden_i W^T)[target_i] for every row of hidden [N, H]: [N] float32. Differentiable
// with respect to `hidden` and `weight` (those that require grad) for any function of the result
// (DPO's loss is a non-linear function of per-sequence sums of them): the forward pass keeps
// d logp_i / d hidden_i [N, H], never the [N, V] logits, and the head's gradient is recomputed
// chunk by chunk in the backward pass when the head is trained.
at::Tensor linear_target_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                  std::int64_t chunk_rows = 1024);

}  // namespace hone
