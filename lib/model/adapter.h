// PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors, as HF PEFT writes them):
// reading and validating them against a base model, and merging them into its weights:
//   W' = W + s * B A,  s = alpha / r (rsLoRA: alpha / sqrt(r), Kalajdzievski 2023), A [r, in], B [out, r].
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class Decoder;
class Tokenizer;
struct ModelConfig;

struct LoraAdapterConfig {
  std::int64_t r = 0;
  double alpha = 0;
  double dropout = 0;
  bool use_rslora = false;
  std::vector<std::string> target_modules;  // "q_proj", ... as listed in adapter_config.json
  std::vector<std::int64_t> layers_to_transform;  // the adapted decoder layers; empty: all
  std::string base_model;                   // base_model_name_or_path (informational)
  double scale() const;
};

// The safetensors metadata key under which hone records the tokenizer fingerprint of the base an
// adapter was trained on (PEFT ignores metadata it does not know).
inline constexpr const char* kAdapterTokenizerKey = "hone.tokenizer_fingerprint";
// ... and the chat template its training data were rendered with, so that generate, eval and
// export format prompts as training did.
inline constexpr const char* kAdapterChatTemplateKey = "hone.chat_template";

// One adapted linear layer: the base weight's canonical name ("model.layers.3.self_attn.q_proj.weight")
// and its float32 factors A [r, in], B [out, r].
struct LoraFactors {
  std::string weight;
  at::Tensor a, b;
};

struct LoraAdapter {
  fs::path dir;
  LoraAdapterConfig config;
  std::vector<LoraFactors> factors;   // in layer order, then the order of DecoderLayer::linears()
  std::string tokenizer_fingerprint;  // "" when the adapter does not record it (e.g. written by PEFT)
  std::string chat_template;          // "" when it records none (plain prompts, or written by PEFT)
  std::int64_t parameter_count() const;
};

// Reads and validates adapter_config.json; InputError for what hone cannot apply (DoRA,
// modules_to_save, per-module rank/alpha patterns, non-LoRA PEFT types).
LoraAdapterConfig load_lora_config(const fs::path& adapter_dir);

// Reads an adapter and checks it against the base model `base` (named `base_name` in messages):
// every lora_A has its lora_B, names a linear layer of this model that target_modules lists, and
// has the shape that layer implies; otherwise InputError naming the tensor.
LoraAdapter read_lora_adapter(const fs::path& adapter_dir, const ModelConfig& base, const std::string& base_name);

// InputError naming both fingerprints when the adapter records a tokenizer other than `tokenizer`.
void check_adapter_tokenizer(const LoraAdapter& adapter, const Tokenizer& tokenizer);

// Adds the adapter's B A products to `model`'s weights (every check runs before the first weight
// is touched).
void merge_lora_adapter(Decoder& model, const fs::path& adapter_dir);
// The same with an adapter already read (and checked against this model's config).
void merge_lora_adapter(Decoder& model, const LoraAdapter& adapter);
// The same on a map of canonical weights (float32 deltas, added in the weights' dtype).
void merge_lora_adapter(std::map<std::string, at::Tensor>& weights, const LoraAdapter& adapter);

// adapter_config.json as HF PEFT (0.21) writes it for a plain LoRA adapter.
std::string peft_adapter_config_json(const LoraAdapterConfig& config);

// "model.layers.3.self_attn.q_proj.weight" <-> PEFT's "base_model.model.model.layers.3.self_attn.q_proj"
// module prefix (the factor names add ".lora_A.weight" / ".lora_B.weight").
std::string peft_module_name(const std::string& weight);

}  // namespace hone
