// GGUF tokenizer metadata -> VocabSpec. Keys (ggml/docs/gguf.md, "Tokenizer"): tokenizer.ggml.model
// ("gpt2": byte-level BPE, "llama": SentencePiece), .pre, .tokens, .token_type, .merges (BPE),
// .scores (SentencePiece), .bos_token_id, .eos_token_id, .padding_token_id, .unknown_token_id,
// .add_bos_token, .add_eos_token, .add_space_prefix; tokenizer.chat_template. Defaults are
// llama.cpp's (llama_vocab::impl::load).
#include "core/error.h"
#include "core/gguf.h"
#include "text/pre_tokenizer.h"
#include "text/vocab.h"

namespace hone {

namespace {

const GGUFValue::Array& typed_array(const GGUFFile& g, const std::string& key, GGUFType elem, const char* what) {
  const auto& arr = g.get_array(key);
  HONE_CHECK(arr.elem == elem, InputError, "{}: metadata '{}' should be an array of {}, is an array of {}",
             g.path().string(), key, what, gguf_type_name(arr.elem));
  return arr;
}

std::optional<std::int32_t> opt_id(const GGUFFile& g, const std::string& key) {
  auto v = g.opt_uint(key);
  if (!v) return std::nullopt;
  HONE_CHECK(*v <= 0x7fffffff, InputError, "{}: metadata '{}' = {} is not a token id", g.path().string(), key, *v);
  return static_cast<std::int32_t>(*v);
}

std::optional<bool> opt_bool(const GGUFFile& g, const std::string& key) {
  if (g.find(key) == nullptr) return std::nullopt;
  return g.get_bool(key);
}

void read_tokens(const GGUFFile& g, VocabSpec& spec) {
  const auto& tokens = typed_array(g, "tokenizer.ggml.tokens", GGUFType::kString, "strings");
  spec.tokens.reserve(tokens.items.size());
  for (const auto& t : tokens.items) {
    spec.tokens.push_back(std::get<std::string>(t.v));
    // llama.cpp: "empty token at index" is renamed so that every id has a distinct string.
    if (spec.tokens.back().empty()) spec.tokens.back() = "[EMPTY_" + std::to_string(spec.tokens.size() - 1) + "]";
  }

  if (g.find("tokenizer.ggml.token_type") != nullptr) {
    const auto& types = typed_array(g, "tokenizer.ggml.token_type", GGUFType::kI32, "int32");
    HONE_CHECK(types.items.size() == spec.tokens.size(), InputError,
               "{}: tokenizer.ggml.token_type has {} entries for {} tokens (expected one per token)", spec.source,
               types.items.size(), spec.tokens.size());
    for (const auto& t : types.items) {
      const std::int64_t v = std::get<std::int64_t>(t.v);
      // llama.cpp maps unknown values to "undefined" (llama_vocab::impl::load).
      spec.types.push_back(v >= 1 && v <= 6 ? static_cast<TokenType>(v) : TokenType::kUndefined);
    }
  } else {
    spec.types.assign(spec.tokens.size(), TokenType::kNormal);
  }
}

void read_specials(const GGUFFile& g, VocabSpec& spec, bool add_bos_default) {
  spec.bos = opt_id(g, "tokenizer.ggml.bos_token_id");
  spec.eos = opt_id(g, "tokenizer.ggml.eos_token_id");
  spec.pad = opt_id(g, "tokenizer.ggml.padding_token_id");
  spec.unk = opt_id(g, "tokenizer.ggml.unknown_token_id");
  spec.add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token").value_or(add_bos_default);
  spec.add_eos = opt_bool(g, "tokenizer.ggml.add_eos_token").value_or(false);
  spec.chat_template = g.opt_string("tokenizer.chat_template").value_or("");
}

}  // namespace

VocabSpec vocab_from_gguf(const GGUFFile& g) {
  VocabSpec spec;
  spec.source = g.path().string();
  const std::string model = g.get_string("tokenizer.ggml.model");
  HONE_CHECK(model == "gpt2" || model == "llama", InputError,
             Hint{"hone reads byte-level BPE ('gpt2') and SentencePiece ('llama') vocabularies"},
             "{}: tokenizer.ggml.model is '{}', expected 'gpt2' (byte-level BPE) or 'llama' (SentencePiece)",
             spec.source, model);
  read_tokens(g, spec);
  if (model == "llama") {
    // llama_vocab::impl::load, LLAMA_VOCAB_TYPE_SPM: bos 1, eos 2, unk 0 unless the keys say
    // otherwise; add_bos on, add_eos off; a space prefix unless add_space_prefix is false.
    spec.kind = TokenizerKind::kSentencePiece;
    if (g.find("tokenizer.ggml.scores") != nullptr) {
      const auto& scores = typed_array(g, "tokenizer.ggml.scores", GGUFType::kF32, "float32");
      HONE_CHECK(scores.items.size() == spec.tokens.size(), InputError,
                 "{}: tokenizer.ggml.scores has {} entries for {} tokens (expected one per token)", spec.source,
                 scores.items.size(), spec.tokens.size());
      for (const auto& s : scores.items) spec.scores.push_back(static_cast<float>(std::get<double>(s.v)));
    }
    read_specials(g, spec, /*add_bos_default=*/true);
    const auto n = static_cast<std::int32_t>(spec.tokens.size());
    if (!g.find("tokenizer.ggml.bos_token_id") && n > 1) spec.bos = 1;
    if (!g.find("tokenizer.ggml.eos_token_id") && n > 2) spec.eos = 2;
    if (!g.find("tokenizer.ggml.unknown_token_id") && n > 0) spec.unk = 0;
    spec.add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix").value_or(true);
    return spec;
  }
  spec.kind = TokenizerKind::kByteLevelBPE;

  spec.pre_name = g.opt_string("tokenizer.ggml.pre").value_or("");
  auto preset = pre_tokenizer_preset(spec.pre_name);
  HONE_CHECK(preset.has_value(), InputError, Hint{"supported: " + supported_pre_tokenizer_names()},
             "{}: tokenizer.ggml.pre '{}' is not a pre-tokenizer hone knows", spec.source, spec.pre_name);
  spec.pre_regexes = preset->regexes;
  spec.ignore_merges = preset->ignore_merges;

  const auto& merges = typed_array(g, "tokenizer.ggml.merges", GGUFType::kString, "strings");
  spec.merges.reserve(merges.items.size());
  for (std::size_t i = 0; i < merges.items.size(); ++i) {
    const auto& m = std::get<std::string>(merges.items[i].v);
    // llama.cpp splits at the first space after the first byte.
    const std::size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    HONE_CHECK(sp != std::string::npos, InputError, "{}: tokenizer.ggml.merges[{}] = '{}' is not two tokens 'a b'",
               spec.source, i, m);
    spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }

  read_specials(g, spec, preset->add_bos);
  return spec;
}

}  // namespace hone
