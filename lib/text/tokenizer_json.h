// The parts of an HF tokenizer.json (huggingface/tokenizers' serialisation) that the byte-level BPE
// writer (tokenizer_export.cpp) and the SentencePiece writer (tokenizer_export_spm.cpp) share.
// Internal to lib/text.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

#include "text/vocab.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

// How many ids to export: the vocabulary without llama.cpp's "[PAD<id>]" fillers past its end.
std::size_t hf_exported_size(const VocabSpec& spec);

// The vocabulary string of `id`, or nothing for an absent or out-of-range id.
std::optional<std::string> hf_token_text(const VocabSpec& spec, const std::optional<std::int32_t>& id);

// The string, or JSON null.
inline ordered_json json_or_null(const std::optional<std::string>& s) {
  return s ? ordered_json(*s) : ordered_json(nullptr);
}

// {"piece": id, ...} for ids [0, n), in id order. InputError when a string appears twice.
ordered_json hf_vocab(const VocabSpec& spec, std::size_t n);

// "added_tokens": control tokens as special, user-defined ones as not special. Byte-level BPE:
// user-defined tokens are matched after normalisation (there is none). SentencePiece, as
// transformers' SpmConverter: every added token is matched in the raw text (normalized false),
// and the unknown piece is special as well.
ordered_json hf_added_tokens(const VocabSpec& spec, std::size_t n, bool sentencepiece);

// A TemplateProcessing post-processor adding bos/eos as add_bos/add_eos say; null when neither adds
// anything.
ordered_json hf_template_processing(const VocabSpec& spec);

// tokenizer.json for a SentencePiece GGUF vocabulary (tokenizer_export_spm.cpp).
ordered_json spm_tokenizer_json(const VocabSpec& spec, std::size_t n);

}  // namespace hone
