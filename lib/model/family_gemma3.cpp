// gemma3 (transformers models/gemma3/modeling_gemma3.py, Gemma3ForCausalLM, text only): Gemma 3
// 270M to 27B. What differs from the llama graph:
//  - embeddings scaled by sqrt(hidden); RMSNorm as (1 + w), in float32 before the cast back;
//  - four norms per layer (input, post-attention, pre- and post-feed-forward) plus q/k norms;
//  - GELU-tanh gated MLP; attention scaled by query_pre_attn_scalar^-1/2;
//  - sliding-window attention on the local layers and full attention on the global ones
//    (layer_types, or every sliding_window_pattern-th layer global), each with its own RoPE base:
//    rope_local_base_freq (10000) locally; rope_theta and any rope scaling globally.
// llama.cpp writes general.architecture "gemma3", keeps the NEOX rotary layout, stores every norm
// as 1 + w, and fixes what its metadata leaves out: the pattern 6 and the local base 10000
// (llama-model.cpp, LLM_ARCH_GEMMA3), the query scale 1/sqrt(head_dim).
#include <cmath>

#include "core/gguf.h"
#include "model/family.h"

namespace hone {
namespace {

constexpr std::int64_t kGgufSlidingPattern = 6;
constexpr double kLocalTheta = 10000.0;

std::vector<bool> pattern_layers(std::int64_t layers, std::int64_t pattern) {
  std::vector<bool> out(static_cast<std::size_t>(layers));
  for (std::int64_t i = 0; i < layers; ++i) out[static_cast<std::size_t>(i)] = (i + 1) % pattern != 0;
  return out;
}

// layer_types ("sliding_attention" / "full_attention"), else the older sliding_window_pattern.
std::vector<bool> read_layer_types(const nlohmann::json& j, std::int64_t layers, const std::string& src) {
  const auto types = json_value<std::vector<std::string>>(j, "layer_types", {}, src);
  if (types.empty()) {
    const auto pattern = json_value<std::int64_t>(
        j, "sliding_window_pattern", json_value<std::int64_t>(j, "_sliding_window_pattern", 6, src), src);
    HONE_CHECK(pattern > 0, InputError, "{}: sliding_window_pattern must be positive, got {}", src, pattern);
    return pattern_layers(layers, pattern);
  }
  HONE_CHECK(static_cast<std::int64_t>(types.size()) == layers, InputError,
             "{}: layer_types has {} entries, expected num_hidden_layers = {}", src, types.size(), layers);
  std::vector<bool> out;
  for (const std::string& t : types) {
    HONE_CHECK(t == "sliding_attention" || t == "full_attention", InputError,
               "{}: layer_types holds '{}', expected sliding_attention or full_attention", src, t);
    out.push_back(t == "sliding_attention");
  }
  return out;
}

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  for (const char* key : {"final_logit_softcapping", "attn_logit_softcapping"})
    HONE_CHECK(!j.contains(key) || j[key].is_null(), InputError, Hint{"Gemma 3 configs leave it null"},
               "{}: '{}' is not supported (got {})", src, key, j[key].dump());
  HONE_CHECK(!json_value<bool>(j, "use_bidirectional_attention", false, src), InputError,
             "{}: use_bidirectional_attention=true (an embedding model) is not supported", src);
  const auto act = json_value<std::string>(j, "hidden_activation", "gelu_pytorch_tanh", src);
  HONE_CHECK(act == "gelu_pytorch_tanh", InputError, "{}: hidden_activation '{}' is not supported (gelu_pytorch_tanh)",
             src, act);
  HONE_CHECK(!json_value<bool>(j, "attention_bias", false, src), InputError, "{}: attention_bias=true is not supported",
             src);
  c.sliding_window = json_value<std::int64_t>(j, "sliding_window", 4096, src);
  HONE_CHECK(*c.sliding_window > 0, InputError, "{}: sliding_window must be positive", src);
  c.sliding_layers = read_layer_types(j, c.num_hidden_layers, src);
  c.query_pre_attn_scalar = json_value<double>(j, "query_pre_attn_scalar", 256.0, src);
  c.rope_local_theta = json_value<double>(j, "rope_local_base_freq", kLocalTheta, src);
  // transformers >= 5: {"full_attention": {...}, "sliding_attention": {...}}.
  const auto rp = j.find("rope_parameters");
  if (rp != j.end() && rp->is_object() && rp->contains("full_attention")) {
    c.rope_scaling = {};
    c.rope_theta = 1e6;
    read_rope_parameters((*rp)["full_attention"], c, src);
    ModelConfig local;
    local.rope_theta = kLocalTheta;
    if (rp->contains("sliding_attention")) read_rope_parameters((*rp)["sliding_attention"], local, src);
    HONE_CHECK(local.rope_scaling.type.empty(), InputError, "{}: rope scaling on sliding layers is not supported", src);
    c.rope_local_theta = local.rope_theta;
  } else if (!j.contains("rope_theta")) {
    c.rope_theta = 1e6;
  }
}

void write_keys(const ModelConfig& c, nlohmann::json& j) {
  j.erase("hidden_act");
  j["hidden_activation"] = "gelu_pytorch_tanh";
  j["attention_bias"] = false;
  // An integer, as transformers' Gemma3TextConfig declares it (its strict validation refuses 24.0).
  const double q = c.query_pre_attn_scalar;
  if (q == std::floor(q)) j["query_pre_attn_scalar"] = static_cast<std::int64_t>(q);
  else j["query_pre_attn_scalar"] = q;
  j["rope_local_base_freq"] = c.rope_local_theta;
  j["sliding_window"] = c.sliding_window.value_or(4096);
  nlohmann::json types = nlohmann::json::array();
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l)
    types.push_back(c.layer_slides(l) ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  j["final_logit_softcapping"] = nullptr;
  j["attn_logit_softcapping"] = nullptr;
}

void read_gguf_keys(const GGUFFile& g, const std::string& arch, ModelConfig& c) {
  c.sliding_window = static_cast<std::int64_t>(g.get_uint(arch + ".attention.sliding_window"));
  HONE_CHECK(*c.sliding_window > 0, InputError, "{}: {}.attention.sliding_window must be positive", g.path().string(),
             arch);
  c.sliding_layers = pattern_layers(c.num_hidden_layers, kGgufSlidingPattern);
  c.rope_local_theta = kLocalTheta;
  c.query_pre_attn_scalar = static_cast<double>(c.head_dim);
}

void write_gguf_keys(const ModelConfig& c, const std::string& arch, const std::string& src, GGUFWriter& w) {
  HONE_CHECK(c.sliding_layers == pattern_layers(c.num_hidden_layers, kGgufSlidingPattern) &&
                 c.rope_local_theta == kLocalTheta && c.query_pre_attn_scalar == static_cast<double>(c.head_dim),
             InputError, Hint{"llama.cpp fixes these for gemma3; export --format hf keeps them"},
             "{}: this Gemma 3 model's layer pattern, local RoPE base or query scale differs from what llama.cpp "
             "assumes for a gemma3 GGUF (every 6th layer global, base 10000, scale 1/sqrt(head_dim))",
             src);
  w.set(arch + ".attention.sliding_window", GGUFValue::u32(static_cast<std::uint32_t>(c.sliding_window.value_or(4096))));
}

DecoderTraits decoder_traits() {
  DecoderTraits t;
  t.layer_norms = {{NormRole::kAttnIn, "input_layernorm", "attn_norm"},
                   {NormRole::kAttnOut, "post_attention_layernorm", "post_attention_norm"},
                   {NormRole::kMlpIn, "pre_feedforward_layernorm", "ffn_norm"},
                   {NormRole::kMlpOut, "post_feedforward_layernorm", "post_ffw_norm"},
                   {NormRole::kQ, "self_attn.q_norm", "attn_q_norm"},
                   {NormRole::kK, "self_attn.k_norm", "attn_k_norm"}};
  t.norm_unit_offset = true;
  t.mlp_activation = MlpActivation::kGeluTanh;
  t.embed_scaled = true;
  t.gguf_norm_shift = 1.0f;
  return t;
}

}  // namespace

extern const FamilyTraits kGemma3Family = {ModelFamily::kGemma3, "gemma3_text", "Gemma3ForCausalLM", "gemma3",
                                           /*gguf_qk_permuted=*/false, read_keys, write_keys,
                                           read_gguf_keys, write_gguf_keys, decoder_traits()};

}  // namespace hone
