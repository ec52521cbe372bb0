#include "model/names.h"

#include <array>
#include <fmt/format.h>

namespace hone {
namespace {

// Per-layer suffixes: HF (after "model.layers.N.") and GGUF (after "blk.N.").
struct LayerName {
  const char* hf;
  const char* gguf;
};
constexpr std::array<LayerName, 12> kLayerNames = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
}};

constexpr std::array<LayerName, 3> kGlobalNames = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// "prefix<N>.rest" -> (N, rest)
std::optional<std::pair<int, std::string>> split_layer(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::size_t i = prefix.size(), j = i;
  while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j >= name.size() || name[j] != '.') return std::nullopt;
  return std::make_pair(std::stoi(name.substr(i, j - i)), name.substr(j + 1));
}

}  // namespace

std::vector<WeightSpec> expected_weights(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  std::vector<WeightSpec> w;
  w.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    w.push_back({p + "input_layernorm.weight", {h}});
    w.push_back({p + "self_attn.q_proj.weight", {q, h}});
    w.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    w.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    if (c.attention_bias) {
      w.push_back({p + "self_attn.q_proj.bias", {q}});
      w.push_back({p + "self_attn.k_proj.bias", {kv}});
      w.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    w.push_back({p + "self_attn.o_proj.weight", {h, q}});
    w.push_back({p + "post_attention_layernorm.weight", {h}});
    w.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, h}});
    w.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, h}});
    w.push_back({p + "mlp.down_proj.weight", {h, c.intermediate_size}});
  }
  w.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) w.push_back({"lm_head.weight", {c.vocab_size, h}});
  return w;
}

std::optional<std::string> hf_to_gguf_name(const std::string& name) {
  for (const auto& g : kGlobalNames)
    if (name == g.hf) return std::string(g.gguf);
  if (auto l = split_layer(name, "model.layers."))
    for (const auto& n : kLayerNames)
      if (l->second == n.hf) return fmt::format("blk.{}.{}", l->first, n.gguf);
  return std::nullopt;
}

std::optional<std::string> gguf_to_hf_name(const std::string& name) {
  for (const auto& g : kGlobalNames)
    if (name == g.gguf) return std::string(g.hf);
  if (auto l = split_layer(name, "blk."))
    for (const auto& n : kLayerNames)
      if (l->second == n.gguf) return fmt::format("model.layers.{}.{}", l->first, n.hf);
  return std::nullopt;
}

}  // namespace hone
