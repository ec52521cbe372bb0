// Hyper-parameters of a decoder-only model of the llama / qwen2 / mistral / qwen3 / gemma3 / phi3 families, read from an
// HF `config.json` or from GGUF metadata (`<arch>.*` keys), validated before any weight is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class GGUFFile;

enum class ModelFamily { kLlama, kQwen2, kMistral, kQwen3, kGemma3, kPhi3 };
const char* family_name(ModelFamily f);  // "llama", "qwen2", ... (HF model_type)

// The per-layer RMSNorms by what they normalise. Every family has kAttnIn and kMlpIn; qwen3 and
// gemma3 add q/k norms (over head_dim, per head, before RoPE); gemma3 also normalises the
// attention and MLP outputs before they join the residual stream ("sandwich" norms).
enum class NormRole { kAttnIn, kAttnOut, kMlpIn, kMlpOut, kQ, kK };

// RoPE scaling (transformers' modeling_rope_utils):
//  - "linear": every frequency divided by factor;
//  - "llama3" (Llama 3.1+): frequencies below/above the two wavelength bounds are scaled by
//    1/factor or kept, and smoothly interpolated in between;
//  - "longrope" (Phi-3, Phi-4-mini): frequency i divided by short_factor[i], or by long_factor[i]
//    for a pass whose positions reach past original_max_position_embeddings; cos and sin are
//    multiplied by the attention factor.
struct RopeScaling {
  std::string type;                         // "" (none), "linear", "llama3", "longrope"
  double factor = 1.0;                      // longrope: 0 means max_position / original_max_position
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
  std::vector<double> short_factor, long_factor;  // longrope: [rotary_dim / 2] each
  double attention_factor = 0.0;            // longrope: 0 derives it from the factor, as transformers
};

struct ModelConfig {
  ModelFamily family = ModelFamily::kLlama;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;      // grouped-query attention; == heads for MHA
  std::int64_t head_dim = 0;                 // hidden_size / heads unless given
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // Rotary embedding on the first head_dim * partial_rotary_factor channels of each head only
  // (Phi-4-mini: 0.75); the rest pass through unrotated.
  double partial_rotary_factor = 1.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;               // q/k/v biases (qwen2: true)
  // Sliding attention window: a token attends to the last `sliding_window` positions, itself
  // included. Mistral slides on every layer; Gemma 3 only on the layers `sliding_layers` marks
  // (its config's layer_types), which also take their own RoPE base.
  std::optional<std::int64_t> sliding_window;
  std::vector<bool> sliding_layers;          // empty: every layer slides (when sliding_window is set)
  double rope_local_theta = 0.0;             // RoPE base of sliding layers (gemma3); 0: rope_theta
  double query_pre_attn_scalar = 0.0;        // attention scale 1/sqrt(this) (gemma3); 0: head_dim
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "float32";

  // The rotated channels of each head: int(head_dim * partial_rotary_factor).
  std::int64_t rotary_dim() const;
  // The factor cos and sin are multiplied by (longrope; 1 otherwise).
  double rope_attention_factor() const;
  // Whether layer `l` attends through the sliding window.
  bool layer_slides(std::int64_t l) const;
  // Counts of the weights such a model holds (embedding counted once when tied).
  std::int64_t parameter_count() const;
  // Throws InputError naming `source` and the offending key when the numbers do not fit together.
  void validate(const std::string& source) const;
  // The HF config.json this config corresponds to (for export).
  std::string to_hf_json() const;
};

ModelConfig load_hf_config(const fs::path& config_json);
ModelConfig load_gguf_config(const GGUFFile& gguf);

}  // namespace hone
