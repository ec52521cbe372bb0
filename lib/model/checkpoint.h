// Activation checkpointing for the C++ frontend, which has none (pytorch#52744): the segment runs
// without recording a graph, only its input is kept, and the backward pass re-runs it with
// gradients on and back-propagates through the recomputation (PyTorch's reentrant
// torch.utils.checkpoint). The default generator's state is saved before the forward and
// restored for the recomputation, so dropout draws the same masks both times.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace hone {

using Segment = std::function<at::Tensor(const at::Tensor&)>;

// `segment(x)`, recomputed in the backward pass. Parameters the segment uses receive their
// gradients through the recomputation (accumulated into their .grad); `x` must require grad for
// the backward pass to reach the segment at all.
at::Tensor checkpoint_segment(Segment segment, const at::Tensor& x);

}  // namespace hone
