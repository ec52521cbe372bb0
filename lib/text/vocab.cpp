#include "text/vocab.h"

#include <cctype>
#include <cstring>

#include "core/error.h"
#include "text/sha256.h"

namespace hone {

bool is_end_of_turn_text(const std::string& t) {
  // llama_vocab::impl::load, "maintain a list of tokens that cause end-of-generation".
  static const char* const kTexts[] = {"<|eot_id|>", "<|im_end|>",     "<|end|>",         "<end_of_turn>",
                                       "<|endoftext|>", "</s>",        "<|eom_id|>",      "<EOT>",
                                       "<|end_of_text|>", "<end_of_utterance>"};
  for (const char* k : kTexts) {
    if (t == k) return true;
  }
  return false;
}

void finalize_vocab(VocabSpec& spec) {
  const std::size_t n = spec.tokens.size();
  HONE_CHECK(n > 0, InputError, "{}: the vocabulary is empty", spec.source);
  HONE_CHECK(n <= static_cast<std::size_t>(kMaxVocabSize), InputError,
             "{}: {} tokens (hone reads vocabularies of up to {} tokens)", spec.source, n, kMaxVocabSize);
  HONE_CHECK(spec.types.size() == n, InputError, "{}: {} token types for {} tokens (expected one type per token)",
             spec.source, spec.types.size(), n);
  HONE_CHECK(spec.scores.empty() || spec.scores.size() == n, InputError, "{}: {} scores for {} tokens", spec.source,
             spec.scores.size(), n);
  auto check_special = [&](std::optional<std::int32_t>& id, const char* what) {
    if (id && (*id < 0 || static_cast<std::size_t>(*id) >= n)) {
      HONE_THROW(InputError, "{}: {} token id {} is outside the vocabulary of {} tokens", spec.source, what, *id, n);
    }
  };
  check_special(spec.bos, "bos");
  check_special(spec.eos, "eos");
  check_special(spec.pad, "padding");
  check_special(spec.unk, "unknown");
  HONE_CHECK(!spec.add_bos || spec.bos, InputError, "{}: add_bos_token is set but there is no bos token",
             spec.source);
  HONE_CHECK(!spec.add_eos || spec.eos, InputError, "{}: add_eos_token is set but there is no eos token",
             spec.source);
  // A byte token stands for the byte its text names, "<0xXX>" (llama.cpp's token_to_byte, which
  // aborts on anything else); decoding and byte fallback read those two hex digits.
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& t = spec.tokens[i];
    HONE_CHECK(spec.types[i] != TokenType::kByte ||
                   (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>'),
               InputError, "{}: token {} '{}' has the byte type but is not a byte piece '<0xXX>'", spec.source, i,
               t);
  }
  // llama.cpp: "control-looking token ... was not control-type; this is probably a bug in the
  // model. its type will be overridden" (end-of-generation tokens become control).
  for (std::size_t i = 0; i < n; ++i) {
    if (spec.types[i] != TokenType::kControl && is_end_of_turn_text(spec.tokens[i])) {
      spec.types[i] = TokenType::kControl;
    }
  }
}

std::string vocab_fingerprint(const VocabSpec& spec) {
  // A length-prefixed serialisation, so that no two different vocabularies hash the same bytes.
  Sha256 h;
  auto put_u64 = [&](std::uint64_t v) { h.update(&v, sizeof v); };
  auto put_str = [&](std::string_view s) {
    put_u64(s.size());
    h.update(s);
  };
  auto put_id = [&](const std::optional<std::int32_t>& id) { put_u64(id ? static_cast<std::uint64_t>(*id) : ~0ull); };
  put_str("hone-tokenizer-v1");
  put_str(tokenizer_kind_name(spec.kind));
  put_u64(spec.tokens.size());
  for (std::size_t i = 0; i < spec.tokens.size(); ++i) {
    put_str(spec.tokens[i]);
    put_u64(static_cast<std::uint64_t>(spec.types[i]));
  }
  put_u64(spec.scores.size());
  for (float s : spec.scores) {
    std::uint32_t bits;
    std::memcpy(&bits, &s, sizeof bits);
    put_u64(bits);
  }
  put_u64(spec.merges.size());
  for (const auto& [a, b] : spec.merges) {
    put_str(a);
    put_str(b);
  }
  put_u64(spec.pre_regexes.size());
  for (const auto& r : spec.pre_regexes) put_str(r);
  put_u64(spec.ignore_merges);
  put_id(spec.bos);
  put_id(spec.eos);
  put_id(spec.pad);
  put_id(spec.unk);
  put_u64(spec.add_bos);
  put_u64(spec.add_eos);
  return h.hex_digest();
}

}  // namespace hone
