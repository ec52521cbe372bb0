// What sets one model family apart. The decoder graph is shared by all of them (decoder.h); each
// family file (family_llama.cpp, family_qwen2.cpp, family_mistral.cpp) states its differences
// here, and the rest of hone asks these traits instead of testing family names.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "core/error.h"
#include "core/json_file.h"
#include "model/config.h"

namespace hone {

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
};

const FamilyTraits& family_traits(ModelFamily f);
const FamilyTraits* find_family_by_model_type(std::string_view model_type);
const FamilyTraits* find_family_by_gguf_arch(std::string_view arch);  // the first family llama.cpp writes so

}  // namespace hone
