// mistral (transformers models/mistral/modeling_mistral.py): Mistral 7B and its fine-tunes. The
// llama graph plus an optional sliding attention window (a token sees the last sliding_window
// positions, itself included), applied by the decoder's mask. llama.cpp writes these models as
// general.architecture "llama", so a Mistral GGUF loads as the llama family.
#include "model/family.h"

namespace hone {
namespace {

void read_keys(const nlohmann::json& j, ModelConfig& c, const std::string& src) {
  if (auto w = json_value<std::int64_t>(j, "sliding_window", 0, src); w > 0) c.sliding_window = w;
}

void write_keys(const ModelConfig& c, nlohmann::json& j) {
  if (c.sliding_window) j["sliding_window"] = *c.sliding_window;
  else j["sliding_window"] = nullptr;
}

}  // namespace

extern const FamilyTraits kMistralFamily = {ModelFamily::kMistral, "mistral", "MistralForCausalLM", "llama",
                                            /*gguf_qk_permuted=*/true, read_keys, write_keys,
    no_gguf_keys, write_no_gguf_keys, DecoderTraits{llama_layer_norms()}};

}  // namespace hone
