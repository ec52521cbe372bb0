// A model's tokenizer written out for other tools: GGUF `tokenizer.*` metadata (llama.cpp) and
// the HF files (tokenizer.json, tokenizer_config.json, special_tokens_map.json) that transformers
// loads. Used by `hone export`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "core/gguf.h"

namespace hone {

// The tokenizer.* keys for the tokenizer of `model_path` (a .gguf file: its keys as stored; an HF
// directory: converted as llama.cpp's convert_hf_to_gguf.py does). InputError when the
// pre-tokenizer has no llama.cpp name.
std::vector<std::pair<std::string, GGUFValue>> tokenizer_gguf_metadata(const fs::path& model_path);

// Writes the HF tokenizer files for `model_path` into `dir` (an HF directory: its files copied; a
// .gguf file: tokenizer.json built from the byte-level BPE vocabulary, merges and pre-tokenizer
// regexes, or from the SentencePiece pieces and scores as transformers' SpmConverter builds it),
// such that HF tokenizers gives hone's ids. `model_max_length` goes into tokenizer_config.json.
// Returns the files written.
std::vector<fs::path> write_hf_tokenizer_files(const fs::path& model_path, const fs::path& dir,
                                               std::int64_t model_max_length);

// Makes `jinja` the chat template of the HF directory `dir`: tokenizer_config.json's
// "chat_template" (the file is created if absent) and chat_template.jinja, which transformers
// prefers when both exist; the two then agree.
void write_hf_chat_template(const fs::path& dir, const std::string& jinja);

}  // namespace hone
