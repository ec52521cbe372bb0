// llama (transformers models/llama/modeling_llama.py): Llama 2, Llama 3.x, SmolLM2, TinyLlama.
// Optional q/k/v/o biases (attention_bias); rope scaling "llama3" or "linear" (config.h).
// llama.cpp's converter permutes Q/K rows of this architecture (LlamaModel.permute).
#include "model/family.h"

namespace hone {
namespace {

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  c.attention_bias = json_value<bool>(j, "attention_bias", false, src);
  HONE_CHECK(!json_value<bool>(j, "mlp_bias", false, src), InputError, "{}: mlp_bias=true is not supported", src);
}

void write_keys(const ModelConfig& c, nlohmann::json& j) {
  j["attention_bias"] = c.attention_bias;
  j["mlp_bias"] = false;
}

}  // namespace

extern const FamilyTraits kLlamaFamily = {ModelFamily::kLlama, "llama", "LlamaForCausalLM", "llama",
                                          /*gguf_qk_permuted=*/true, read_keys, write_keys,
    no_gguf_keys, write_no_gguf_keys, DecoderTraits{llama_layer_norms()}};

}  // namespace hone
