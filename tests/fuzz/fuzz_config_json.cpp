// Fuzz target: an HF config.json (load_hf_config, lib/model/config.cpp and the family files'
// read_hf_keys). These files of hone_model need no LibTorch, so the target compiles them in
// (tests/fuzz/CMakeLists.txt) instead of linking the library. A config the reader accepts must be
// usable: its derived sizes computed without overflow, and written back as config.json that reads
// again to the same sizes.
#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "fuzz_target.h"
#include "model/config.h"

HONE_FUZZ_TARGET(config_json) {
  const auto path = hone::fuzz::input_file(data, size, "config.json");
  const hone::ModelConfig c = hone::load_hf_config(path);
  (void)c.parameter_count();
  (void)c.rope_attention_factor();
  for (std::int64_t l = 0; l < c.num_hidden_layers && l < 256; ++l) (void)c.layer_slides(l);
  const std::string again = c.to_hf_json();
  const auto copy = hone::fuzz::input_file(reinterpret_cast<const std::uint8_t*>(again.data()), again.size(),
                                           "config.copy.json");
  const hone::ModelConfig d = hone::load_hf_config(copy);
  HONE_FUZZ_INVARIANT(d.family == c.family && d.vocab_size == c.vocab_size && d.hidden_size == c.hidden_size &&
                      d.num_hidden_layers == c.num_hidden_layers && d.head_dim == c.head_dim &&
                      d.num_key_value_heads == c.num_key_value_heads);
  return 0;
}

HONE_FUZZ_SEEDS(config_json) {
  // The configurations of the two test models, as hone exports them.
  for (const std::string& model : {std::string(HONE_MODEL_GGUF), std::string(HONE_GEMMA_GGUF)}) {
    if (!hone::fs::exists(model)) continue;
    const hone::GGUFFile g = hone::GGUFFile::open(model);
    seeds.add(hone::fs::path(model).stem().string() + ".json", hone::load_gguf_config(g).to_hf_json());
  }
  // One of each other family, with the keys that family reads (transformers' spellings).
  const nlohmann::json base = {{"vocab_size", 1000},       {"hidden_size", 64},         {"intermediate_size", 160},
                               {"num_hidden_layers", 2},   {"num_attention_heads", 4},  {"num_key_value_heads", 2},
                               {"rms_norm_eps", 1e-5},     {"rope_theta", 10000.0},     {"eos_token_id", {2, 3}},
                               {"bos_token_id", 1},        {"tie_word_embeddings", true}, {"torch_dtype", "bfloat16"}};
  auto add = [&](const std::string& name, nlohmann::json extra) {
    nlohmann::json j = base;
    j.update(extra);
    seeds.add(name + ".json", j.dump(1));
  };
  add("llama3", {{"model_type", "llama"},
                 {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                   {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}});
  add("qwen2", {{"model_type", "qwen2"}, {"use_sliding_window", false}, {"sliding_window", 4096}});
  add("mistral", {{"model_type", "mistral"}, {"sliding_window", 4096}, {"head_dim", 16}});
  add("qwen3", {{"model_type", "qwen3"}, {"head_dim", 32}, {"attention_bias", false},
                {"rope_parameters", {{"rope_theta", 1000000.0}, {"rope_type", "default"}}}});
  add("gemma3", {{"model_type", "gemma3_text"}, {"head_dim", 16}, {"sliding_window", 512},
                 {"layer_types", {"sliding_attention", "full_attention"}}, {"query_pre_attn_scalar", 16},
                 {"rope_local_base_freq", 10000.0}, {"hidden_activation", "gelu_pytorch_tanh"}});
  add("phi3", {{"model_type", "phi3"}, {"partial_rotary_factor", 0.75}, {"max_position_embeddings", 131072},
               {"original_max_position_embeddings", 4096},
               {"rope_scaling", {{"type", "longrope"}, {"short_factor", {1.0, 1.0, 1.0, 1.0, 1.0, 1.0}},
                                 {"long_factor", {2.0, 2.0, 2.0, 2.0, 2.0, 2.0}}}}});
  seeds.add("not-object.json", "[1, 2]");
}
