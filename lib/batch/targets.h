// A decoder run over a batch, read at the batch's target positions (those that predict a loss
// token): the hidden states there, and the cross-entropy of the next-token predictions. Shared by
// training, distillation and evaluation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "batch/batches.h"
#include "model/decoder.h"

namespace hone {

// The final hidden states [N, H] at the batch's N target positions (those that predict a loss
// token); `layer_outputs`, when given, receives every layer's output [B, T, H] (ForwardInput's).
at::Tensor target_hidden(const Decoder& model, const Batch& batch, bool checkpoint_layers,
                         std::vector<at::Tensor>* layer_outputs = nullptr);

// The cross-entropy of the model's next-token predictions at the batch's loss-masked positions
// (the output head computed for those rows only, in chunks of `chunk` rows).
at::Tensor cross_entropy_sum(const Decoder& model, const Batch& batch, bool checkpoint_layers, std::int64_t chunk);

}  // namespace hone
