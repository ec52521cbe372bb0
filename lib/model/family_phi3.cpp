// phi3 (transformers models/phi3/modeling_phi3.py, Phi3ForCausalLM): Phi-3-mini/medium,
// Phi-3.5-mini and Phi-4-mini. What differs from the llama graph:
//  - one fused qkv_proj ([q; k; v] rows) and one fused gate_up_proj ([gate; up] rows), which
//    PEFT adapts as such: a LoRA on qkv_proj shares its A between q, k and v;
//  - partial rotary embedding (partial_rotary_factor: Phi-4-mini rotates 96 of 128 channels);
//  - LongRoPE (rope_scaling type "longrope": short and long per-frequency factors, an attention
//    factor on cos/sin) for the 128k-context models;
//  - an optional sliding window on every layer (Phi-3-mini-4k: 2047).
// transformers always takes original_max_position_embeddings from the top level of config.json
// (Phi3Config defaults it to 4096). llama.cpp writes general.architecture "phi3", keeps the
// fused tensors (attn_qkv, ffn_up with both halves), the NEOX rotary layout, rope.dimension_count
// as the rotated channels, and LongRoPE's factors as the tensors rope_factors_long/short.
#include <cstring>

#include "core/gguf.h"
#include "model/family.h"

namespace hone {
namespace {

constexpr std::int64_t kDefaultOriginalContext = 4096;  // Phi3Config's default

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  const auto act = json_value<std::string>(j, "hidden_act", "silu", src);
  HONE_CHECK(act == "silu", InputError, "{}: hidden_act '{}' is not supported (phi3 uses silu)", src, act);
  if (auto w = json_value<std::int64_t>(j, "sliding_window", 0, src); w > 0) c.sliding_window = w;
  c.rope_scaling.original_max_position_embeddings =
      json_value<std::int64_t>(j, "original_max_position_embeddings", kDefaultOriginalContext, src);
  // The factor sits at the top level (older files) or among the rope parameters (transformers 5).
  c.partial_rotary_factor = json_value<double>(j, "partial_rotary_factor", 1.0, src);
  for (const char* key : {"rope_parameters", "rope_scaling"})
    if (j.contains(key) && j[key].is_object())
      c.partial_rotary_factor = json_value<double>(j[key], "partial_rotary_factor", c.partial_rotary_factor, src);
  HONE_CHECK(c.rope_scaling.type.empty() || c.rope_scaling.type == "longrope", InputError,
             Hint{"transformers' Phi3Config accepts default and longrope"},
             "{}: rope scaling '{}' is not supported for phi3", src, c.rope_scaling.type);
}

void write_keys(const ModelConfig& c, nlohmann::json& j) {
  j["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
  j["partial_rotary_factor"] = c.partial_rotary_factor;
  if (c.sliding_window) j["sliding_window"] = *c.sliding_window;
  else j["sliding_window"] = nullptr;
}

std::vector<double> factor_tensor(const GGUFFile& g, const std::string& name, std::int64_t expected) {
  const GGUFTensorInfo& info = g.tensor(name);
  HONE_CHECK(info.numel() == expected, InputError, "{}: tensor '{}' has {} values, expected rotary_dim / 2 = {}",
             g.path().string(), name, info.numel(), expected);
  std::vector<float> v(static_cast<std::size_t>(expected));
  g.dequantize(info, v.data());
  return {v.begin(), v.end()};
}

void read_gguf_keys(const GGUFFile& g, const std::string& arch, ModelConfig& c) {
  const auto dims = g.opt_uint(arch + ".rope.dimension_count");
  if (dims) {
    HONE_CHECK(*dims > 0 && *dims <= static_cast<std::uint64_t>(c.head_dim), InputError,
               "{}: {}.rope.dimension_count {} is not in (0, head_dim = {}]", g.path().string(), arch, *dims, c.head_dim);
    c.partial_rotary_factor = static_cast<double>(*dims) / static_cast<double>(c.head_dim);
  }
  if (auto w = g.opt_uint(arch + ".attention.sliding_window"); w && *w > 0) c.sliding_window = static_cast<std::int64_t>(*w);
  c.rope_scaling.original_max_position_embeddings = static_cast<std::int64_t>(
      g.opt_uint(arch + ".rope.scaling.original_context_length").value_or(kDefaultOriginalContext));
  if (!g.has_tensor("rope_factors_long.weight")) return;
  c.rope_scaling.type = "longrope";
  c.rope_scaling.factor = 0.0;
  const std::int64_t half = c.rotary_dim() / 2;
  c.rope_scaling.long_factor = factor_tensor(g, "rope_factors_long.weight", half);
  c.rope_scaling.short_factor = factor_tensor(g, "rope_factors_short.weight", half);
  c.rope_scaling.attention_factor = g.opt_float(arch + ".rope.scaling.attn_factor").value_or(0.0);
}

void add_factor_tensor(GGUFWriter& w, const std::string& name, const std::vector<double>& factors) {
  std::vector<float> v(factors.begin(), factors.end());
  const auto n = static_cast<std::int64_t>(v.size());
  w.add_tensor(name, GGMLType::kF32, {n}, [v](std::byte* dst) { std::memcpy(dst, v.data(), v.size() * sizeof(float)); });
}

void write_gguf_keys(const ModelConfig& c, const std::string& arch, const std::string&, GGUFWriter& w) {
  const auto u32 = [](std::int64_t v) { return GGUFValue::u32(static_cast<std::uint32_t>(v)); };
  w.set(arch + ".rope.scaling.original_context_length", u32(c.rope_scaling.original_max_position_embeddings));
  w.set(arch + ".attention.sliding_window", u32(c.sliding_window.value_or(0)));  // 0: none (Phi-4)
  if (c.rope_scaling.type != "longrope") return;
  w.set(arch + ".rope.scaling.attn_factor", GGUFValue::f32(static_cast<float>(c.rope_attention_factor())));
  add_factor_tensor(w, "rope_factors_long.weight", c.rope_scaling.long_factor);
  add_factor_tensor(w, "rope_factors_short.weight", c.rope_scaling.short_factor);
}

DecoderTraits decoder_traits() {
  DecoderTraits t;
  t.layer_norms = llama_layer_norms();
  t.fused_projections = true;
  return t;
}

}  // namespace

extern const FamilyTraits kPhi3Family = {ModelFamily::kPhi3, "phi3", "Phi3ForCausalLM", "phi3",
                                         /*gguf_qk_permuted=*/false, read_keys, write_keys,
                                         read_gguf_keys, write_gguf_keys, decoder_traits()};

}  // namespace hone
