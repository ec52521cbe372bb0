// qwen3 (transformers models/qwen3/modeling_qwen3.py): Qwen3 dense models. The llama graph with
// an RMSNorm over each head's queries and keys before RoPE (q_norm, k_norm: [head_dim]), no q/k/v
// biases, and an explicit head_dim that may differ from hidden / heads. llama.cpp keeps its Q/K
// rows as they are (NEOX rotary layout). Like qwen2, a config that turns on the per-layer sliding
// window is rejected rather than computed otherwise.
#include "model/family.h"

namespace hone {
namespace {

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  c.attention_bias = json_value<bool>(j, "attention_bias", false, src);
  HONE_CHECK(!json_value<bool>(j, "use_sliding_window", false, src), InputError,
             "{}: use_sliding_window=true (per-layer sliding attention) is not supported", src);
}

void write_keys(const ModelConfig& c, nlohmann::json& j) {
  j["attention_bias"] = c.attention_bias;
  j["use_sliding_window"] = false;
}

DecoderTraits decoder_traits() {
  DecoderTraits t;
  t.layer_norms = llama_layer_norms();
  t.layer_norms.push_back({NormRole::kQ, "self_attn.q_norm", "attn_q_norm"});
  t.layer_norms.push_back({NormRole::kK, "self_attn.k_norm", "attn_k_norm"});
  return t;
}

}  // namespace

extern const FamilyTraits kQwen3Family = {ModelFamily::kQwen3, "qwen3", "Qwen3ForCausalLM", "qwen3",
                                          /*gguf_qk_permuted=*/false, read_keys, write_keys,
                                          no_gguf_keys, write_no_gguf_keys, decoder_traits()};

}  // namespace hone
