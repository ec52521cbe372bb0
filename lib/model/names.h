// Canonical weight names. hone names every weight as Hugging Face transformers does
// ("model.layers.3.self_attn.q_proj.weight"); GGUF files use llama.cpp's names ("blk.3.attn_q.weight").
// This file is the one place that maps between the two (llama.cpp: gguf-py/gguf/tensor_mapping.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"

namespace hone {

struct WeightSpec {
  std::string name;                 // canonical (HF) name
  std::vector<std::int64_t> shape;  // torch order
};

// Every weight a model of this configuration holds, in a stable order (embedding, layers, norm, head).
std::vector<WeightSpec> expected_weights(const ModelConfig& config);

// HF name -> GGUF name, and back; nullopt for a name outside the mapping.
std::optional<std::string> hf_to_gguf_name(const std::string& hf_name);
std::optional<std::string> gguf_to_hf_name(const std::string& gguf_name);

}  // namespace hone
