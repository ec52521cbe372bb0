// PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors, as HF PEFT writes them),
// merged into a loaded decoder for inference:  W' = W + s * B A,  s = alpha / r (rsLoRA:
// alpha / sqrt(r), Kalajdzievski 2023), A [r, in], B [out, r]. Training adapters is issue #5.
#pragma once

#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class Decoder;

struct LoraAdapterConfig {
  std::int64_t r = 0;
  double alpha = 0;
  bool use_rslora = false;
  std::vector<std::string> target_modules;  // "q_proj", ... as listed in adapter_config.json
  std::string base_model;                   // base_model_name_or_path (informational)
  double scale() const;
};

// Reads and validates adapter_config.json; InputError for what hone cannot apply (DoRA,
// modules_to_save, per-module rank/alpha patterns, non-LoRA PEFT types).
LoraAdapterConfig load_lora_config(const fs::path& adapter_dir);

// Adds the adapter's B A products to `model`'s weights. Every lora_A has its lora_B, names a
// linear layer of this model, and has the shape that layer implies; otherwise InputError naming
// the tensor (nothing is changed then: every check runs before the first weight is touched).
void merge_lora_adapter(Decoder& model, const fs::path& adapter_dir);

}  // namespace hone
