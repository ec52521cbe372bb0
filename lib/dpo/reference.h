// The reference model's log-probabilities of every answer of a preference store, computed once
// before the first step and kept in the run directory (reference_logps.json), so that the
// reference model is never held in memory while training. The reference is the model the run
// starts from (the base model, or the base with --init-adapter's factors), which is the trained
// model itself before its first update: no second model is loaded at all.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "batch/batches.h"
#include "core/fs.h"
#include "model/decoder.h"
#include "train/trainer.h"

namespace hone {

// Per row of `batch`: the sum of the log-probabilities of its targets under `model` ([B] float32,
// differentiable), and, in `targets` when given, each row's target count ([B] float32).
at::Tensor sequence_logprobs(const Decoder& model, const Batch& batch, bool checkpoint_layers, std::int64_t chunk,
                             at::Tensor* targets = nullptr);

// Per sequence of the train and valid splits (2i: pair i's chosen answer, 2i + 1: its rejected
// one): the reference's sum of the answer's token log-probabilities.
struct ReferenceLogprobs {
  std::vector<double> train, valid;
};

inline fs::path reference_path(const fs::path& out) { return out / "reference_logps.json"; }

// The reference log-probabilities of this run: computed from `model` (in eval mode, without
// gradients, in the run's compute type, the ranks sharing the batches) and written to
// reference_path(out) by the main rank; read back from there when the run is resumed (InputError
// naming the file when it is missing or does not fit the splits).
ReferenceLogprobs reference_logprobs(const Decoder& model, const PrepareContext& context, std::int64_t chunk);

}  // namespace hone
