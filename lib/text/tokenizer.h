// Tokenizers: byte-level BPE (GPT-2 style, reproducing llama.cpp's tokenizer exactly) and
// SentencePiece, loaded from a GGUF file (tokenizer.ggml.*) or a Hugging Face model directory.
//
// Encoding follows llama.cpp (src/llama-vocab.cpp, llama_vocab::impl::tokenize): special tokens
// are split out of the text first (tokenizer_st_partition), then each remaining text fragment is
// pre-tokenized by the model's regex list (unicode_regex_split) and BPE-merged by rank. The
// same tokenizer loaded from a GGUF file or from tokenizer.json has the same fingerprint().
//
// A Tokenizer is immutable after loading: encode() and decode() are const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/fs.h"

namespace hone {

class GGUFFile;
struct VocabSpec;

enum class TokenizerKind { kByteLevelBPE, kSentencePiece };
std::string_view tokenizer_kind_name(TokenizerKind k);

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : std::int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <|im_start|>, </s>: never produced from plain text
  kUserDefined = 4,  // added tokens that are always matched in the text
  kUnused = 5,
  kByte = 6,         // SentencePiece byte-fallback pieces <0x0A>
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // A .gguf file (tokenizer.ggml.*) or an HF directory (tokenizer.json, or tokenizer.model for
  // SentencePiece; tokenizer_config.json for special tokens, add_bos_token, chat_template).
  static std::unique_ptr<Tokenizer> load(const fs::path& model_path);
  static std::unique_ptr<Tokenizer> from_gguf(const GGUFFile& gguf);
  static std::unique_ptr<Tokenizer> from_hf_dir(const fs::path& dir);

  // add_special: prepend bos (and append eos) when the model's metadata says so
  //   (tokenizer.ggml.add_bos_token / add_eos_token, tokenizer_config.json add_bos_token, or the
  //   HF post-processor).
  // parse_special: text equal to a control token (e.g. "<|im_start|>") becomes that token;
  //   otherwise it is tokenized as plain text (safe for user data). User-defined tokens are
  //   always matched, as in llama.cpp and HF tokenizers.
  virtual std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
  // The bytes the ids stand for. skip_special drops control and unknown tokens. Throws
  // InputError for an id outside the vocabulary.
  virtual std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const = 0;
  // The vocabulary string of `id` (byte-level BPE strings are in GPT-2's byte alphabet: "Ġthe").
  std::string token_text(std::int32_t id) const;
  TokenType token_type(std::int32_t id) const;
  std::optional<std::int32_t> token_id(std::string_view vocab_text) const;  // exact vocabulary string

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(tokens_.size()); }
  TokenizerKind kind() const { return kind_; }
  std::optional<std::int32_t> bos_id() const { return bos_; }
  std::optional<std::int32_t> eos_id() const { return eos_; }
  std::optional<std::int32_t> pad_id() const { return pad_; }
  std::optional<std::int32_t> unk_id() const { return unk_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // eos plus the end-of-turn tokens present in the vocabulary (<|im_end|>, <|eot_id|>,
  // <|end_of_text|>, <|endoftext|>, <end_of_turn>, <|eom_id|>, </s>), sorted.
  std::vector<std::int32_t> stop_ids() const;
  const std::string& chat_template() const { return chat_template_; }  // jinja text ("" if none)
  // Replaces the model's chat template (--chat-template, or the one an adapter was trained with);
  // `origin` names where it came from in errors.
  void set_chat_template(std::string jinja, std::string origin) {
    chat_template_ = std::move(jinja);
    chat_template_origin_ = std::move(origin);
  }
  // Where the chat template came from: the model (source()) unless set_chat_template replaced it.
  const std::string& chat_template_origin() const {
    return chat_template_origin_.empty() ? source_ : chat_template_origin_;
  }
  // Hex SHA-256 over the kind, vocabulary strings in id order, token types, merges (or piece
  // scores), pre-tokenizer regexes, special ids and add_bos/add_eos. Equal for the same tokenizer
  // loaded from GGUF or from an HF directory; the chat template is not part of it.
  const std::string& fingerprint() const { return fingerprint_; }
  // Where it was loaded from, for messages.
  const std::string& source() const { return source_; }

 protected:
  explicit Tokenizer(const VocabSpec& spec);
  // Splits `text` at special tokens the way llama.cpp's tokenizer_st_partition does: each special
  // token, longest first, is cut out of the remaining text fragments. Appends fragments to `out`:
  // id >= 0 for a special token, else the text span [offset, offset + length).
  struct Fragment {
    std::int32_t id;
    std::size_t offset;
    std::size_t length;
  };
  void split_special(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
  void check_id(std::int32_t id) const;

  TokenizerKind kind_;
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::optional<std::int32_t> bos_, eos_, pad_, unk_;
  bool add_bos_ = false;
  bool add_eos_ = false;
  std::string chat_template_;
  std::string chat_template_origin_;
  std::string fingerprint_;
  std::string source_;

 private:
  struct SpecialToken {
    std::int32_t id;
    bool always;  // user-defined: split out even without parse_special
  };
  std::unordered_map<std::string, std::int32_t> token_index_;  // vocabulary string -> id (last wins)
  std::vector<SpecialToken> specials_;  // longest text first
  bool special_first_byte_[256] = {};   // quick rejection: no special token starts with this byte
};

}  // namespace hone
