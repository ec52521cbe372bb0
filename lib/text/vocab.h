// VocabSpec: everything a tokenizer is built from, filled by the GGUF and HF loaders
// (vocab_gguf.cpp, vocab_hf.cpp) so that both sources go through one constructor and one
// fingerprint. Internal to lib/text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "text/tokenizer.h"

namespace hone {

class GGUFFile;

// The largest vocabulary hone reads: 4 times the largest of a supported family (Gemma 3's 262,144).
// A tokenizer.json id or a config.json vocab_size beyond it is refused before the vocabulary (its
// holes filled with "[PAD<id>]" tokens) is allocated.
inline constexpr std::int64_t kMaxVocabSize = std::int64_t{1} << 20;

struct VocabSpec {
  TokenizerKind kind = TokenizerKind::kByteLevelBPE;
  std::string source;                    // file named in error messages
  std::vector<std::string> tokens;       // id -> vocabulary string
  std::vector<TokenType> types;          // id -> type, same length as tokens
  std::vector<float> scores;             // SentencePiece piece scores (empty for BPE)
  std::vector<std::pair<std::string, std::string>> merges;  // BPE merges in rank order
  std::string pre_name;                  // GGUF tokenizer.ggml.pre, or "tokenizer.json"
  std::vector<std::string> pre_regexes;  // llama.cpp-style regex list (pre_tokenizer.h)
  bool ignore_merges = false;            // a whole pre-token found in the vocab skips BPE (Llama 3)
  std::optional<std::int32_t> bos, eos, pad, unk;
  bool add_bos = false;
  bool add_eos = false;
  std::string chat_template;
  bool add_space_prefix = true;          // GGUF SentencePiece: prepend a space (llama.cpp)
  std::string spm_model;                 // serialized ModelProto (tokenizer.model); empty for a GGUF
                                         // vocabulary, which llama.cpp's algorithm tokenizes
};

// GGUF metadata (tokenizer.ggml.*) -> spec. InputError naming the file and key on bad metadata.
VocabSpec vocab_from_gguf(const GGUFFile& gguf);
// An HF model directory (tokenizer.json or tokenizer.model, tokenizer_config.json) -> spec.
VocabSpec vocab_from_hf_dir(const fs::path& dir);

// Checks lengths and ids and applies llama.cpp's load-time fix-ups (llama_vocab::impl::load):
// end-of-generation-looking tokens that are not typed control become control.
void finalize_vocab(VocabSpec& spec);
std::string vocab_fingerprint(const VocabSpec& spec);

// llama.cpp's list of end-of-generation token texts (special_eog_ids, by text).
bool is_end_of_turn_text(const std::string& text);

}  // namespace hone
