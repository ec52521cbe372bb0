// Canonical weight names. hone names every weight as Hugging Face transformers does
// ("model.layers.3.self_attn.q_proj.weight"); GGUF files use llama.cpp's names ("blk.3.attn_q.weight").
// This file is the one place that maps between the two (llama.cpp: gguf-py/gguf/tensor_mapping.py).
// The per-layer norms differ by family (family.h, DecoderTraits::layer_norms): Gemma 3's
// post_attention_layernorm normalises the attention output, llama's the MLP input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"

namespace hone {

struct WeightSpec {
  std::string name;                 // canonical (HF) name
  std::string gguf_name;            // llama.cpp's name
  std::vector<std::int64_t> shape;  // torch order
};

// One linear projection of a decoder layer.
struct LayerLinear {
  std::string hf;         // after "model.layers.N." (without ".weight"): "self_attn.q_proj", ...
  std::string gguf;       // after "blk.N.": "attn_q", ...
  std::int64_t out = 0, in = 0;
  bool attention = true;  // in the attention block (else the MLP)
  bool biased = false;    // carries a bias (q/k/v when the config has attention_bias)
};

// The projections of each layer of this configuration, in DecoderLayer::linears() order:
// q, k, v, o, gate, up, down; or, for families that fuse them, qkv, o, gate_up, down.
std::vector<LayerLinear> layer_linears(const ModelConfig& config);

// Every weight a model of this configuration holds, in a stable order (embedding, layers, norm, head).
std::vector<WeightSpec> expected_weights(const ModelConfig& config);

// HF name -> GGUF name for a model of this configuration; nullopt for a name it does not hold.
std::optional<std::string> hf_to_gguf_name(const ModelConfig& config, const std::string& hf_name);

// Whether a weight is an RMSNorm scale (GGUF stores some families' norms shifted, family.h).
bool is_norm_weight(const std::string& name);

}  // namespace hone
