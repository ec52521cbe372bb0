#include "batch/targets.h"

#include <ATen/ops/index_select.h>

#include "batch/loss.h"

namespace hone {

at::Tensor target_hidden(const Decoder& model, const Batch& b, bool checkpoint_layers,
                         std::vector<at::Tensor>* layer_outputs) {
  ForwardInput in;
  in.layer_outputs = layer_outputs;
  in.input_ids = b.input_ids;
  in.position_ids = b.position_ids;
  in.document_ids = b.document_ids;
  in.checkpoint_layers = checkpoint_layers;
  const at::Tensor hidden = model.forward_hidden(in);  // [B, T, H]
  return at::index_select(hidden.reshape({-1, hidden.size(-1)}), 0, b.target_index);
}

at::Tensor cross_entropy_sum(const Decoder& model, const Batch& b, bool checkpoint_layers, std::int64_t chunk) {
  return linear_cross_entropy(target_hidden(model, b, checkpoint_layers), model.lm_head(), b.targets, chunk);
}

}  // namespace hone
