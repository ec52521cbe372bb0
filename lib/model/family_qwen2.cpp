// qwen2 (transformers models/qwen2/modeling_qwen2.py): Qwen2, Qwen2.5. q/k/v projections always
// carry biases (o_proj none). llama.cpp keeps its Q/K rows as they are (NEOX rotary layout).
// Its optional sliding window applies only to layers past max_window_layers; hone rejects a
// config that turns it on rather than compute something else.
#include "model/family.h"

namespace hone {
namespace {

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  c.attention_bias = true;
  HONE_CHECK(!json_value<bool>(j, "use_sliding_window", false, src), InputError,
             "{}: use_sliding_window=true (per-layer sliding attention) is not supported", src);
}

void write_keys(const ModelConfig&, nlohmann::json& j) { j["use_sliding_window"] = false; }

}  // namespace

extern const FamilyTraits kQwen2Family = {ModelFamily::kQwen2, "qwen2", "Qwen2ForCausalLM", "qwen2",
                                          /*gguf_qk_permuted=*/false, read_keys, write_keys,
    no_gguf_keys, write_no_gguf_keys, DecoderTraits{llama_layer_norms()}};

}  // namespace hone
