// What sets one model family apart. The decoder graph is shared by all of them (decoder.h); each
// family file (family_llama.cpp, family_qwen2.cpp, family_mistral.cpp, family_qwen3.cpp,
// family_gemma3.cpp, family_phi3.cpp) states its differences here, and the rest of hone asks these traits
// instead of testing family names.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json_file.h"
#include "model/config.h"

namespace hone {
class GGUFFile;
class GGUFWriter;
}  // namespace hone

namespace hone {

struct LayerNormName {
  NormRole role;
  std::string_view hf;    // after "model.layers.N." (without ".weight")
  std::string_view gguf;  // after "blk.N." (without ".weight")
};

enum class MlpActivation { kSilu, kGeluTanh };  // act(gate) * up

// How the shared decoder graph computes this family.
struct DecoderTraits {
  std::vector<LayerNormName> layer_norms;  // the norms each layer holds, in a fixed order
  // RMSNorm scales by (1 + w) instead of w, in float32 before the cast back (Gemma3RMSNorm).
  bool norm_unit_offset = false;
  MlpActivation mlp_activation = MlpActivation::kSilu;
  bool embed_scaled = false;  // embeddings multiplied by sqrt(hidden) (in the weights' dtype)
  // GGUF stores every "*norm.weight" with this added (llama.cpp's converter stores Gemma's
  // norms as 1 + w); loading subtracts it, exporting adds it.
  float gguf_norm_shift = 0.0f;
  // Q, K and V come from one fused projection (self_attn.qkv_proj, rows in that order) and gate
  // and up from another (mlp.gate_up_proj, gate rows first), as phi3 stores and adapts them.
  bool fused_projections = false;
};

struct FamilyTraits {
  ModelFamily id;
  std::string_view model_type;    // config.json "model_type"
  std::string_view architecture;  // config.json "architectures"[0]
  std::string_view gguf_arch;     // "general.architecture" that llama.cpp writes for it
  bool gguf_qk_permuted;          // llama.cpp permutes Q/K rows for its adjacent-pair rotary kernel
  // Reads the config.json keys only this family has (biases, sliding window) into `c`.
  void (*read_hf_keys)(const nlohmann::json& j, ModelConfig& c, const std::string& src);
  // Writes them back (export).
  void (*write_hf_keys)(const ModelConfig& c, nlohmann::json& j);
  // Reads the GGUF metadata only this family has (sliding window, its layer pattern) into `c`.
  void (*read_gguf_keys)(const GGUFFile& g, const std::string& arch, ModelConfig& c);
  // Writes it (export); `arch` is gguf_arch, `src` the model being exported (named in errors).
  void (*write_gguf_keys)(const ModelConfig& c, const std::string& arch, const std::string& src, GGUFWriter& w);
  DecoderTraits decoder;
};

// The norms every llama-style layer holds: input_layernorm and post_attention_layernorm (the
// pre-MLP norm), GGUF attn_norm and ffn_norm.
std::vector<LayerNormName> llama_layer_norms();
// Reads a RoPE parameter object (rope_theta, rope_type / type, factor, llama3's bounds) into `c`.
void read_rope_parameters(const nlohmann::json& rope, ModelConfig& c, const std::string& src);
// Family hooks that read or write nothing.
void no_gguf_keys(const GGUFFile&, const std::string&, ModelConfig&);
void write_no_gguf_keys(const ModelConfig&, const std::string&, const std::string&, GGUFWriter&);

const FamilyTraits& family_traits(ModelFamily f);
const FamilyTraits* find_family_by_model_type(std::string_view model_type);
const FamilyTraits* find_family_by_gguf_arch(std::string_view arch);  // the first family llama.cpp writes so

}  // namespace hone
