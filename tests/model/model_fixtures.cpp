#include "model_fixtures.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/randn.h>

#include "core/safetensors.h"
#include "model/names.h"

namespace hone::test {

ModelConfig tiny_config(const std::string& family) {
  ModelConfig c;
  c.family = family == "qwen2"     ? ModelFamily::kQwen2
             : family == "mistral" ? ModelFamily::kMistral
             : family == "qwen3"   ? ModelFamily::kQwen3
             : family == "gemma3"  ? ModelFamily::kGemma3
             : family == "phi3"    ? ModelFamily::kPhi3
                                   : ModelFamily::kLlama;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.attention_bias = family == "qwen2";
  c.tie_word_embeddings = family == "qwen2";
  if (family == "mistral") c.sliding_window = 6;
  if (family == "qwen3") {  // head_dim apart from hidden / heads
    c.head_dim = 12;
    c.tie_word_embeddings = true;
  }
  if (family == "gemma3") {  // a local layer (window 6, its own RoPE base) and a global one
    c.num_hidden_layers = 3;
    c.sliding_window = 6;
    c.sliding_layers = {true, false, true};
    c.rope_theta = 1e6;
    c.rope_local_theta = 10000.0;
    c.query_pre_attn_scalar = 10.0;
    c.tie_word_embeddings = true;
  }
  if (family == "phi3") {  // fused projections, 6 of 8 channels rotated, LongRoPE past position 16
    c.partial_rotary_factor = 0.75;
    c.max_position_embeddings = 64;
    c.rope_scaling.type = "longrope";
    c.rope_scaling.factor = 0.0;
    c.rope_scaling.original_max_position_embeddings = 16;
    c.rope_scaling.short_factor = {1.0, 1.5, 2.0};
    c.rope_scaling.long_factor = {2.0, 4.0, 9.0};
    c.sliding_window = 10;
  }
  return c;
}

ModelWeights random_weights(const ModelConfig& config, std::uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  ModelWeights w;
  w.config = config;
  for (const auto& spec : expected_weights(config)) {
    const bool norm = spec.name.find("norm") != std::string::npos;
    at::Tensor t = at::randn(spec.shape, gen) * (norm ? 0.1 : 0.3);
    w.tensors[spec.name] = norm ? t + 1.0 : t;
  }
  w.source = "<random>";
  return w;
}

void save_hf_dir(const fs::path& dir, const ModelWeights& w, const std::string& skip, const std::string& reshape) {
  fs::create_directories(dir);
  write_file_atomic(dir / "config.json", w.config.to_hf_json());
  std::vector<at::Tensor> keep;
  std::vector<TensorWrite> tensors;
  for (const auto& [name, t] : w.tensors) {
    if (name == skip) continue;
    at::Tensor c = t.contiguous();
    if (name == reshape) c = c.reshape({-1});
    keep.push_back(c);
    std::vector<std::int64_t> shape(c.sizes().begin(), c.sizes().end());
    tensors.push_back({name, DType::kF32, shape, c.data_ptr(), static_cast<std::size_t>(c.nbytes())});
  }
  write_safetensors(dir / "model.safetensors", tensors);
}

}  // namespace hone::test
