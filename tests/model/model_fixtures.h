// Small random models for decoder tests, built in C++ (no peer needed).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "model/decoder.h"

namespace hone::test {

// A 2-layer model of `family` ("llama", "qwen2" with biases, "mistral" with a sliding window of 6,
// "qwen3" with head_dim 12 and q/k norms, "gemma3" with 3 layers: local, global, local, window 6),
// GQA with 4 query and 2 key/value heads, vocab 97.
ModelConfig tiny_config(const std::string& family);
ModelWeights random_weights(const ModelConfig& config, std::uint64_t seed);
// Writes config.json + model.safetensors, leaving out `skip` and giving `reshape` a wrong shape.
void save_hf_dir(const fs::path& dir, const ModelWeights& weights, const std::string& skip = "",
                 const std::string& reshape = "");

}  // namespace hone::test
