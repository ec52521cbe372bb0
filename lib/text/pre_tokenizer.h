// Pre-tokenization: splitting text into the pieces that byte-level BPE merges within, exactly as
// llama.cpp's unicode_regex_split (src/unicode.cpp) does, with PCRE2 as the regex engine.
//
// llama.cpp applies a list of regexes in sequence: each one splits every current piece further,
// its matches and the spans between them both becoming pieces. Its Unicode classes come from its
// own tables (src/unicode-data.cpp, Unicode 15.1) and its \s is a fixed set of 25 code points;
// PCRE2 10.42 knows Unicode 14 and adds U+180E to \s. llama_regex_to_pcre2() therefore rewrites
// \s, \S and \p{L,N,M,P,S} into explicit classes that give llama.cpp's answer on either version.
// Internal to lib/text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

namespace hone {

// llama.cpp's regexes (llm_tokenizer_bpe's constructor), in its adapted spelling: (?i:'s|...)
// is written '[sS]|... so that no engine's case folding can differ.
extern const char* const kRegexGpt2;    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
extern const char* const kRegexLlama3;  // Llama 3: letters with one leading non-letter, \p{N}{1,3}, newlines
extern const char* const kRegexQwen2;   // Qwen2: as Llama 3 with single digits

struct PreTokenizerPreset {
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // llama.cpp's vocab.ignore_merges for this pre type
  bool add_bos = false;        // llama.cpp's default when tokenizer.ggml.add_bos_token is absent
};

// The preset for a GGUF tokenizer.ggml.pre name (llama_vocab::impl::load), or nullopt if hone does
// not support it. "" is llama.cpp's "default".
std::optional<PreTokenizerPreset> pre_tokenizer_preset(std::string_view gguf_pre);
// The names pre_tokenizer_preset accepts, for error hints.
std::string supported_pre_tokenizer_names();
// The first tokenizer.ggml.pre name whose preset has exactly these regexes and ignore_merges (for
// writing a GGUF from a tokenizer.json), or nullopt.
std::optional<std::string> pre_tokenizer_name_for(const std::vector<std::string>& regexes, bool ignore_merges);

// A llama.cpp regex rewritten for PCRE2 (UTF + UCP) so that \s, \S and the Unicode categories
// match llama.cpp's tables (see the file comment).
std::string llama_regex_to_pcre2(std::string_view regex);

// Text as llama.cpp sees it: unicode_cpts_from_utf8 turns each byte that does not start a
// sequence it accepts into U+FFFD, and the pieces are re-encoded from code points. Returns false
// (nothing written) when `in` is strict UTF-8, for which this is the identity. Otherwise `text`
// receives llama.cpp's bytes and `shadow` the same bytes with surrogates (which llama.cpp keeps)
// replaced by U+FFFD of equal length, for PCRE2 to match on.
bool llama_utf8_sanitize(std::string_view in, std::string& text, std::string& shadow);

class PreTokenizer {
 public:
  struct Span {
    std::size_t offset;
    std::size_t length;
  };
  // Per-call working memory, so that split() stays const and thread-safe.
  class Scratch {
   public:
    Scratch();
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

   private:
    friend class PreTokenizer;
    pcre2_real_match_data_8* match_ = nullptr;
    std::vector<Span> tmp_;
  };

  // Compiles the regexes (llama.cpp spelling); InputError naming `source` and the regex if one
  // does not compile.
  PreTokenizer(std::vector<std::string> regexes, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits valid UTF-8 `text` (see llama_utf8_sanitize) into pieces, replacing `pieces`.
  void split(std::string_view text, std::vector<Span>& pieces, Scratch& scratch) const;
  const std::vector<std::string>& regexes() const { return regexes_; }

 private:
  std::vector<std::string> regexes_;
  std::vector<pcre2_real_code_8*> code_;
};

}  // namespace hone
