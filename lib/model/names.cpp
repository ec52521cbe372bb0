#include "model/names.h"

#include <array>
#include <fmt/format.h>

#include "model/family.h"

namespace hone {
namespace {

// The projections of every layer: HF (after "model.layers.N.") and GGUF (after "blk.N.").
struct LinearName {
  const char* hf;
  const char* gguf;
};
constexpr std::array<LinearName, 7> kLinears = {{
    {"self_attn.q_proj", "attn_q"},     // q, k, v carry biases when the config has attention_bias
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
}};

}  // namespace

std::vector<WeightSpec> expected_weights(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const std::int64_t ff = c.intermediate_size;
  // Output rows and input columns of each projection, in kLinears order.
  const std::array<std::array<std::int64_t, 2>, 7> shapes = {{{q, h}, {kv, h}, {kv, h}, {h, q}, {ff, h}, {ff, h}, {h, ff}}};
  const auto& norms = family_traits(c.family).decoder.layer_norms;
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
    auto linear = [&](std::size_t i) {
      w.push_back({p + kLinears[i].hf + ".weight", g + kLinears[i].gguf + ".weight", {shapes[i][0], shapes[i][1]}});
    };
    // The order transformers' modules declare them in: attention, then the MLP.
    norm(NormRole::kAttnIn);
    for (std::size_t i = 0; i < 3; ++i) linear(i);
    for (std::size_t i = 0; i < 3 && c.attention_bias; ++i)
      w.push_back({p + kLinears[i].hf + ".bias", g + kLinears[i].gguf + ".bias", {shapes[i][0]}});
    linear(3);
    norm(NormRole::kQ);
    norm(NormRole::kK);
    norm(NormRole::kAttnOut);
    norm(NormRole::kMlpIn);
    for (std::size_t i = 4; i < 7; ++i) linear(i);
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
