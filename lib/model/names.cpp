#include "model/names.h"

#include <fmt/format.h>

#include "model/family.h"

namespace hone {

std::vector<LayerLinear> layer_linears(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const std::int64_t ff = c.intermediate_size;
  const bool b = c.attention_bias;
  if (family_traits(c.family).decoder.fused_projections)
    return {{"self_attn.qkv_proj", "attn_qkv", q + 2 * kv, h, true, b},
            {"self_attn.o_proj", "attn_output", h, q, true, false},
            {"mlp.gate_up_proj", "ffn_up", 2 * ff, h, false, false},  // llama.cpp splits ffn_up in two
            {"mlp.down_proj", "ffn_down", h, ff, false, false}};
  return {{"self_attn.q_proj", "attn_q", q, h, true, b},
          {"self_attn.k_proj", "attn_k", kv, h, true, b},
          {"self_attn.v_proj", "attn_v", kv, h, true, b},
          {"self_attn.o_proj", "attn_output", h, q, true, false},
          {"mlp.gate_proj", "ffn_gate", ff, h, false, false},
          {"mlp.up_proj", "ffn_up", ff, h, false, false},
          {"mlp.down_proj", "ffn_down", h, ff, false, false}};
}

std::vector<WeightSpec> expected_weights(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size;
  const auto& norms = family_traits(c.family).decoder.layer_norms;
  const std::vector<LayerLinear> linears = layer_linears(c);
  std::vector<WeightSpec> w;
  w.push_back({"model.embed_tokens.weight", "token_embd.weight", {c.vocab_size, h}});
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l), g = fmt::format("blk.{}.", l);
    auto norm = [&](NormRole role) {
      for (const LayerNormName& n : norms) {
        if (n.role != role) continue;
        const std::int64_t dim = role == NormRole::kQ || role == NormRole::kK ? c.head_dim : h;
        w.push_back({fmt::format("{}{}.weight", p, n.hf), fmt::format("{}{}.weight", g, n.gguf), {dim}});
      }
    };
    auto block = [&](bool attention) {
      for (const LayerLinear& lin : linears) {
        if (lin.attention != attention) continue;
        w.push_back({p + lin.hf + ".weight", g + lin.gguf + ".weight", {lin.out, lin.in}});
        if (lin.biased) w.push_back({p + lin.hf + ".bias", g + lin.gguf + ".bias", {lin.out}});
      }
    };
    // The order transformers' modules declare them in: attention, then the MLP.
    norm(NormRole::kAttnIn);
    block(/*attention=*/true);
    norm(NormRole::kQ);
    norm(NormRole::kK);
    norm(NormRole::kAttnOut);
    norm(NormRole::kMlpIn);
    block(/*attention=*/false);
    norm(NormRole::kMlpOut);
  }
  w.push_back({"model.norm.weight", "output_norm.weight", {h}});
  if (!c.tie_word_embeddings) w.push_back({"lm_head.weight", "output.weight", {c.vocab_size, h}});
  return w;
}

std::optional<std::string> hf_to_gguf_name(const ModelConfig& c, const std::string& name) {
  for (const WeightSpec& s : expected_weights(c))
    if (s.name == name) return s.gguf_name;
  return std::nullopt;
}

bool is_norm_weight(const std::string& name) {
  const std::string suffix = "norm.weight";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace hone
