// Training batches from a token store split: sequences (one example each, or several packed
// examples) padded on the right into [B, T] tensors, positions restarting at every example,
// per-example attention for packed rows, and the flat indices of the positions whose next token
// carries loss (the only positions the output head and the cross-entropy are computed for).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "data/token_store.h"

namespace hone {

struct Batch {
  at::Tensor input_ids;     // [B, T] int64 (padding: 0)
  at::Tensor position_ids;  // [B, T] int64, restarting at 0 for every example
  at::Tensor document_ids;  // [B, T] int64 (-1 for padding), undefined when no row packs examples
  at::Tensor target_index;  // [N] int64 flat indices into [B * T]: positions that predict a target
  at::Tensor targets;       // [N] int64: the token each of them predicts
  at::Tensor token_index;   // [tokens] int64 flat indices into [B * T] of the real (non-padding) tokens
  std::vector<std::int64_t> sequences;  // the split's sequences in the batch, in row order
  std::vector<std::int64_t> row_tokens;   // per row: its real tokens (its first positions; padding follows)
  std::vector<std::int64_t> row_targets;  // per row: its targets (consecutive in target_index)
  std::int64_t tokens = 0;       // real (non-padding) tokens
  std::int64_t loss_tokens = 0;  // N
};

// The batch of `sequences` (indices into split.sequence_offsets). Token t is a target when its
// loss_mask is 1 and it is not the first token of its example (nothing predicts it).
Batch make_batch(const data::TokenSplit& split, const std::vector<std::int64_t>& sequences, c10::Device device);

// Per sequence of the split, where its targets start in the split's list of all targets (in
// sequence order, each sequence's in make_batch's row order): [sequences + 1] offsets. A batch's
// targets are the concatenation of its sequences' ranges (the rows of a teacher cache).
std::vector<std::int64_t> target_offsets(const data::TokenSplit& split);

// Loss tokens of a batch of `sequences` without building it.
std::int64_t count_loss_tokens(const data::TokenSplit& split, const std::vector<std::int64_t>& sequences);

// The order of the `n` sequences in epoch `epoch`: a permutation drawn from (seed, epoch) with a
// portable generator (the same on every platform and thread count), or 0..n-1 unshuffled.
std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle = true);

}  // namespace hone
