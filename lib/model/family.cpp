#include "model/family.h"

#include <array>

namespace hone {

extern const FamilyTraits kLlamaFamily;
extern const FamilyTraits kQwen2Family;
extern const FamilyTraits kMistralFamily;
extern const FamilyTraits kQwen3Family;
extern const FamilyTraits kGemma3Family;
extern const FamilyTraits kPhi3Family;

namespace {
// In ModelFamily order; the first entry of a GGUF architecture is the family it loads as.
const std::array<const FamilyTraits*, 6>& all_families() {
  static const std::array<const FamilyTraits*, 6> kAll = {&kLlamaFamily, &kQwen2Family, &kMistralFamily,
                                                          &kQwen3Family, &kGemma3Family, &kPhi3Family};
  return kAll;
}
}  // namespace

const FamilyTraits& family_traits(ModelFamily f) { return *all_families()[static_cast<std::size_t>(f)]; }

const FamilyTraits* find_family_by_model_type(std::string_view model_type) {
  for (const auto* f : all_families())
    if (f->model_type == model_type) return f;
  return nullptr;
}

const FamilyTraits* find_family_by_gguf_arch(std::string_view arch) {
  for (const auto* f : all_families())
    if (f->gguf_arch == arch) return f;
  return nullptr;
}

const char* family_name(ModelFamily f) { return family_traits(f).model_type.data(); }

std::vector<LayerNormName> llama_layer_norms() {
  return {{NormRole::kAttnIn, "input_layernorm", "attn_norm"}, {NormRole::kMlpIn, "post_attention_layernorm", "ffn_norm"}};
}

void no_gguf_keys(const GGUFFile&, const std::string&, ModelConfig&) {}
void write_no_gguf_keys(const ModelConfig&, const std::string&, const std::string&, GGUFWriter&) {}

}  // namespace hone
