// Helpers the export tests share: prompts as hone feeds them to its own model, and greedy tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "generate/text_generation.h"
#include "model/decoder.h"
#include "model/generate.h"
#include "text/tokenizer.h"

namespace hone::test {

// Prompt ids as hone gives them to its own model (plain text, the model's special tokens).
inline std::vector<std::vector<std::int64_t>> plain_prompt_ids(const Tokenizer& tok,
                                                               const std::vector<std::string>& prompts) {
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& p : prompts) {
    auto ids = prompt_tokens(tok, p, /*chat=*/false);
    out.emplace_back(ids.begin(), ids.end());
  }
  return out;
}

// `steps` greedy tokens after each prompt.
inline std::vector<std::vector<std::int64_t>> greedy_tokens(const Decoder& model,
                                                            const std::vector<std::vector<std::int64_t>>& prompts,
                                                            int steps) {
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& p : prompts) out.push_back(generate_tokens(model, p, steps, {}, {}).tokens);
  return out;
}

}  // namespace hone::test
