#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/gguf.h"
#include "core/json_file.h"
#include "model/family.h"

namespace hone {

using nlohmann::json;

namespace {
constexpr const char* kSupportedFamilies =
    "hone supports the llama (Llama 2/3.x, SmolLM2), mistral, qwen2, qwen3, gemma3 (GGUF 'gemma3', HF "
    "'gemma3_text') and phi3 (Phi-3, Phi-3.5-mini, Phi-4-mini) families";

// Upper bounds on a configuration's sizes, checked as soon as they are read: before a family
// sizes per-layer lists by them, and so that every count derived from them (parameter_count,
// weight shapes) fits in 64 bits. Far above any model of these families (Gemma 3: vocabulary
// 262,144; the largest Llama 3: hidden 16,384, MLP 53,248, 126 layers, 128 heads).
constexpr std::int64_t kMaxConfigVocab = std::int64_t{1} << 24;
constexpr std::int64_t kMaxWidth = std::int64_t{1} << 20;  // hidden_size, intermediate_size
constexpr std::int64_t kMaxLayers = std::int64_t{1} << 12;
constexpr std::int64_t kMaxHeads = std::int64_t{1} << 12;  // attention and key/value heads
constexpr std::int64_t kMaxHeadDim = std::int64_t{1} << 12;

void check_sizes(const ModelConfig& c, const std::string& source) {
  auto bounded = [&](std::int64_t v, std::int64_t max, const char* key) {
    HONE_CHECK(v > 0 && v <= max, InputError, "{}: '{}' must be a positive integer up to {}, got {}", source, key,
               max, v);
  };
  bounded(c.vocab_size, kMaxConfigVocab, "vocab_size");
  bounded(c.hidden_size, kMaxWidth, "hidden_size");
  bounded(c.intermediate_size, kMaxWidth, "intermediate_size");
  bounded(c.num_hidden_layers, kMaxLayers, "num_hidden_layers");
  bounded(c.num_attention_heads, kMaxHeads, "num_attention_heads");
  bounded(c.num_key_value_heads, kMaxHeads, "num_key_value_heads");
  bounded(c.head_dim, kMaxHeadDim, "head_dim");
}

// The integer keys of config.json (and of its RoPE objects) hold integers: json_value<std::int64_t>
// would truncate 2048.5 silently, and a float beyond the int64 range is undefined behaviour.
void check_integer_keys(const json& j, const std::string& src) {
  static const char* const kKeys[] = {
      "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
      "num_key_value_heads", "head_dim", "max_position_embeddings", "original_max_position_embeddings",
      "sliding_window", "sliding_window_pattern", "_sliding_window_pattern", "bos_token_id", "eos_token_id",
      "pad_token_id"};
  for (const char* key : kKeys) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    const bool ok = it->is_number_integer() ||
                    (it->is_array() && std::all_of(it->begin(), it->end(), [](const json& x) { return x.is_number_integer(); }));
    HONE_CHECK(ok, InputError, "{}: '{}' should be an integer, got {}", src, key, it->dump());
  }
  for (const char* nested : {"rope_scaling", "rope_parameters", "full_attention", "sliding_attention"})
    if (j.contains(nested) && j[nested].is_object()) check_integer_keys(j[nested], src);
}
}  // namespace

std::int64_t ModelConfig::rotary_dim() const {
  return static_cast<std::int64_t>(static_cast<double>(head_dim) * partial_rotary_factor);
}

double ModelConfig::rope_attention_factor() const {
  if (rope_scaling.type != "longrope") return 1.0;
  if (rope_scaling.attention_factor > 0) return rope_scaling.attention_factor;
  // _compute_longrope_parameters: sqrt(1 + ln(factor) / ln(original length)) when stretched.
  const double orig = static_cast<double>(rope_scaling.original_max_position_embeddings);
  const double factor = rope_scaling.factor > 0 ? rope_scaling.factor : static_cast<double>(max_position_embeddings) / orig;
  return factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(orig));
}

bool ModelConfig::layer_slides(std::int64_t l) const {
  if (!sliding_window) return false;
  return sliding_layers.empty() || sliding_layers.at(static_cast<std::size_t>(l));
}

std::int64_t ModelConfig::parameter_count() const {
  const std::int64_t h = hidden_size, q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  std::int64_t layer = h * q + 2 * h * kv + q * h   // q, k, v, o projections
                       + 3 * h * intermediate_size;  // gate, up, down
  for (const LayerNormName& n : family_traits(family).decoder.layer_norms)
    layer += n.role == NormRole::kQ || n.role == NormRole::kK ? head_dim : h;
  if (attention_bias) layer += q + 2 * kv;
  return vocab_size * h * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + h;
}

void ModelConfig::validate(const std::string& source) const {
  check_sizes(*this, source);
  HONE_CHECK(num_attention_heads % num_key_value_heads == 0, InputError,
             "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source, num_attention_heads,
             num_key_value_heads);
  HONE_CHECK(head_dim % 2 == 0, InputError, "{}: head_dim {} must be even for rotary embeddings", source, head_dim);
  HONE_CHECK(rms_norm_eps > 0 && rope_theta > 0, InputError, "{}: rms_norm_eps and rope_theta must be positive",
             source);
  const std::string& rt = rope_scaling.type;
  HONE_CHECK(rt.empty() || rt == "llama3" || rt == "linear" || rt == "longrope", InputError,
             Hint{"hone supports rope_scaling types llama3, linear and longrope"},
             "{}: unsupported rope_scaling type '{}'", source, rt);
  HONE_CHECK(rt.empty() || rope_scaling.factor > 0 || (rt == "longrope" && rope_scaling.factor == 0), InputError,
             "{}: rope_scaling.factor must be positive, got {}", source, rope_scaling.factor);
  HONE_CHECK(partial_rotary_factor > 0 && partial_rotary_factor <= 1, InputError,
             "{}: partial_rotary_factor must be in (0, 1], got {}", source, partial_rotary_factor);
  const std::int64_t rot = rotary_dim();
  HONE_CHECK(rot > 0 && rot <= head_dim && rot % 2 == 0, InputError,
             "{}: partial_rotary_factor {} gives {} rotary channels of head_dim {}; expected an even number in (0, {}]",
             source, partial_rotary_factor, rot, head_dim, head_dim);
  if (rt == "longrope") {
    for (const auto* f : {&rope_scaling.short_factor, &rope_scaling.long_factor})
      HONE_CHECK(static_cast<std::int64_t>(f->size()) == rot / 2, InputError,
                 "{}: rope_scaling.{} has {} values, expected rotary_dim / 2 = {}", source,
                 f == &rope_scaling.short_factor ? "short_factor" : "long_factor", f->size(), rot / 2);
    HONE_CHECK(rope_scaling.original_max_position_embeddings > 1, InputError,
               "{}: original_max_position_embeddings must be above 1 for longrope, got {}", source,
               rope_scaling.original_max_position_embeddings);
  }
  HONE_CHECK(!sliding_window || *sliding_window > 0, InputError, "{}: sliding_window must be positive, got {}", source,
             sliding_window.value_or(0));
  HONE_CHECK(sliding_layers.empty() || static_cast<std::int64_t>(sliding_layers.size()) == num_hidden_layers,
             InputError, "{}: {} layer types for {} layers", source, sliding_layers.size(), num_hidden_layers);
  HONE_CHECK(rope_local_theta >= 0 && query_pre_attn_scalar >= 0 && query_pre_attn_scalar <= 1e9, InputError,
             "{}: rope_local_base_freq and query_pre_attn_scalar must be positive (and the scalar at most 1e9)",
             source);
}

// ---------------------------------------------------------------------------- HF config.json

void read_rope_parameters(const json& rope, ModelConfig& c, const std::string& src) {
  HONE_CHECK(rope.is_object(), InputError, "{}: rope parameters should be an object, got {}", src, rope.dump());
  c.rope_theta = json_value<double>(rope, "rope_theta", c.rope_theta, src);
  std::string rtype = json_value<std::string>(rope, "rope_type", json_value<std::string>(rope, "type", "", src), src);
  if (rtype == "default") rtype.clear();
  c.rope_scaling.type = rtype;
  c.rope_scaling.factor = json_value<double>(rope, "factor", 1.0, src);
  c.rope_scaling.low_freq_factor = json_value<double>(rope, "low_freq_factor", 1.0, src);
  c.rope_scaling.high_freq_factor = json_value<double>(rope, "high_freq_factor", 4.0, src);
  c.rope_scaling.original_max_position_embeddings =
      json_value<std::int64_t>(rope, "original_max_position_embeddings", 8192, src);
  if (rtype == "su") c.rope_scaling.type = "longrope";  // transformers' older name for it
  if (c.rope_scaling.type == "longrope") {
    c.rope_scaling.factor = json_value<double>(rope, "factor", 0.0, src);
    c.rope_scaling.short_factor = json_value<std::vector<double>>(rope, "short_factor", {}, src);
    c.rope_scaling.long_factor = json_value<std::vector<double>>(rope, "long_factor", {}, src);
    c.rope_scaling.attention_factor = json_value<double>(rope, "attention_factor", 0.0, src);
  }
}

namespace {

std::int64_t req_int(const json& j, const char* key, const std::string& src) {
  HONE_CHECK(j.contains(key), InputError, "{}: missing key '{}'", src, key);
  HONE_CHECK(j[key].is_number_integer(), InputError, "{}: '{}' should be an integer, got {}", src, key, j[key].dump());
  return j[key].get<std::int64_t>();
}
std::vector<std::int64_t> id_list(const json& j, const char* key, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return {};
  if (j[key].is_number_integer()) return {j[key].get<std::int64_t>()};
  HONE_CHECK(j[key].is_array(), InputError, "{}: '{}' should be a token id or a list of ids", src, key);
  return json_value<std::vector<std::int64_t>>(j, key, {}, src);
}

}  // namespace

ModelConfig load_hf_config(const fs::path& config_json) {
  const std::string src = config_json.string();
  const json j = read_json_object(config_json);
  check_integer_keys(j, src);
  const std::string type = json_value<std::string>(j, "model_type", "", src);
  const FamilyTraits* family = find_family_by_model_type(type);
  HONE_CHECK(family != nullptr, InputError, Hint{kSupportedFamilies}, "{}: unsupported model_type '{}'", src, type);
  ModelConfig c;
  c.family = family->id;
  c.vocab_size = req_int(j, "vocab_size", src);
  c.hidden_size = req_int(j, "hidden_size", src);
  c.intermediate_size = req_int(j, "intermediate_size", src);
  c.num_hidden_layers = req_int(j, "num_hidden_layers", src);
  c.num_attention_heads = req_int(j, "num_attention_heads", src);
  c.num_key_value_heads = json_value<std::int64_t>(j, "num_key_value_heads", c.num_attention_heads, src);
  c.head_dim = json_value<std::int64_t>(j, "head_dim", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0, src);
  c.max_position_embeddings = json_value<std::int64_t>(j, "max_position_embeddings", 2048, src);
  c.rms_norm_eps = json_value<double>(j, "rms_norm_eps", 1e-6, src);
  c.tie_word_embeddings = json_value<bool>(j, "tie_word_embeddings", false, src);
  // transformers >= 5 nests rope_theta and the scaling under "rope_parameters"; older files
  // have "rope_theta" and "rope_scaling" at the top level.
  const json rope = j.contains("rope_parameters") && j["rope_parameters"].is_object() ? j["rope_parameters"]
                    : j.contains("rope_scaling") && j["rope_scaling"].is_object()   ? j["rope_scaling"]
                                                                                     : json::object();
  c.rope_theta = json_value<double>(j, "rope_theta", 10000.0, src);
  read_rope_parameters(rope, c, src);
  check_sizes(c, src);
  family->read_hf_keys(j, c, src);  // after the common keys: a family may read them its own way
  auto bos = id_list(j, "bos_token_id", src);
  if (!bos.empty()) c.bos_token_id = bos[0];
  c.eos_token_ids = id_list(j, "eos_token_id", src);
  auto pad = id_list(j, "pad_token_id", src);
  if (!pad.empty()) c.pad_token_id = pad[0];
  c.torch_dtype = json_value<std::string>(j, "torch_dtype", json_value<std::string>(j, "dtype", "float32", src), src);
  c.validate(src);
  return c;
}

std::string ModelConfig::to_hf_json() const {
  const FamilyTraits& traits = family_traits(family);
  json j = {
      {"architectures", {std::string(traits.architecture)}},
      {"model_type", std::string(traits.model_type)},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"tie_word_embeddings", tie_word_embeddings},
      {"hidden_act", "silu"},
      {"torch_dtype", torch_dtype},
  };
  traits.write_hf_keys(*this, j);
  if (rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "longrope") {
      j["rope_scaling"].erase("factor");  // derived from the lengths unless the source gave it
      if (rope_scaling.factor > 0) j["rope_scaling"]["factor"] = rope_scaling.factor;
      if (rope_scaling.attention_factor > 0) j["rope_scaling"]["attention_factor"] = rope_scaling.attention_factor;
      j["rope_scaling"]["short_factor"] = rope_scaling.short_factor;
      j["rope_scaling"]["long_factor"] = rope_scaling.long_factor;
    }
    if (rope_scaling.type == "llama3") {
      j["rope_scaling"]["low_freq_factor"] = rope_scaling.low_freq_factor;
      j["rope_scaling"]["high_freq_factor"] = rope_scaling.high_freq_factor;
      j["rope_scaling"]["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  return j.dump(2) + "\n";
}

// ---------------------------------------------------------------------------- GGUF metadata

ModelConfig load_gguf_config(const GGUFFile& g) {
  const std::string src = g.path().string();
  const std::string arch = g.get_string("general.architecture");
  const FamilyTraits* family = find_family_by_gguf_arch(arch);
  HONE_CHECK(family != nullptr, InputError, Hint{kSupportedFamilies}, "{}: unsupported general.architecture '{}'", src,
             arch);
  ModelConfig c;
  c.family = family->id;
  auto key = [&](const char* k) { return arch + "." + k; };
  auto as_i64 = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  c.hidden_size = as_i64(g.get_uint(key("embedding_length")));
  c.intermediate_size = as_i64(g.get_uint(key("feed_forward_length")));
  c.num_hidden_layers = as_i64(g.get_uint(key("block_count")));
  c.num_attention_heads = as_i64(g.get_uint(key("attention.head_count")));
  c.num_key_value_heads = as_i64(g.opt_uint(key("attention.head_count_kv")).value_or(c.num_attention_heads));
  c.head_dim = as_i64(g.opt_uint(key("attention.key_length"))
                          .value_or(c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0));
  c.max_position_embeddings = as_i64(g.opt_uint(key("context_length")).value_or(2048));
  c.rms_norm_eps = g.get_float(key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = g.opt_float(key("rope.freq_base")).value_or(10000.0);
  if (auto t = g.opt_string(key("rope.scaling.type")); t && *t != "none") {
    c.rope_scaling.type = *t;
    c.rope_scaling.factor = g.opt_float(key("rope.scaling.factor")).value_or(1.0);
  }
  // Token embedding [vocab, hidden]; the vocab size is its row count (the tokenizer may list fewer).
  const auto& emb = g.tensor("token_embd.weight");
  HONE_CHECK(emb.ne.size() == 2 && emb.ne[0] == c.hidden_size, InputError,
             "{}: tensor 'token_embd.weight' has shape [{}], expected [vocab, {}]", src, fmt::join(emb.shape(), ", "),
             c.hidden_size);
  c.vocab_size = emb.ne[1];
  if (auto v = g.opt_uint(key("vocab_size"))) {
    HONE_CHECK(as_i64(*v) == c.vocab_size, InputError, "{}: {} is {} but 'token_embd.weight' has {} rows", src,
               key("vocab_size"), *v, c.vocab_size);
  }
  c.tie_word_embeddings = !g.has_tensor("output.weight");
  c.attention_bias = g.has_tensor("blk.0.attn_q.bias");
  if (auto b = g.opt_uint("tokenizer.ggml.bos_token_id")) c.bos_token_id = as_i64(*b);
  if (auto e = g.opt_uint("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {as_i64(*e)};
  if (auto p = g.opt_uint("tokenizer.ggml.padding_token_id")) c.pad_token_id = as_i64(*p);
  check_sizes(c, src);
  family->read_gguf_keys(g, arch, c);
  c.validate(src);
  return c;
}

}  // namespace hone
