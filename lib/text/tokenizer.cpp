#include "text/tokenizer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/gguf.h"
#include "text/vocab.h"

namespace hone {

// Factories of the implementations (bpe.cpp, spm.cpp, spm_llama.cpp).
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const VocabSpec& spec);
std::unique_ptr<Tokenizer> make_spm_tokenizer(const VocabSpec& spec);
std::unique_ptr<Tokenizer> make_llama_spm_tokenizer(const VocabSpec& spec);

std::string_view tokenizer_kind_name(TokenizerKind k) {
  switch (k) {
    case TokenizerKind::kByteLevelBPE:
      return "byte-level BPE";
    case TokenizerKind::kSentencePiece:
      return "SentencePiece";
  }
  return "?";
}

// ---------------------------------------------------------------------------- loading

namespace {

std::unique_ptr<Tokenizer> make_tokenizer(VocabSpec spec) {
  finalize_vocab(spec);
  if (spec.kind == TokenizerKind::kByteLevelBPE) return make_bpe_tokenizer(spec);
  // tokenizer.model goes through the sentencepiece library; a GGUF vocabulary has no ModelProto
  // and is tokenized as llama.cpp does.
  return spec.spm_model.empty() ? make_llama_spm_tokenizer(spec) : make_spm_tokenizer(spec);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GGUFFile& gguf) { return make_tokenizer(vocab_from_gguf(gguf)); }

std::unique_ptr<Tokenizer> Tokenizer::from_hf_dir(const fs::path& dir) { return make_tokenizer(vocab_from_hf_dir(dir)); }

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return from_hf_dir(model_path);
  HONE_CHECK(fs::exists(model_path, ec), InputError, "{}: no such file or directory", model_path.string());
  return from_gguf(GGUFFile::open(model_path));
}

// ---------------------------------------------------------------------------- common state

Tokenizer::Tokenizer(const VocabSpec& spec)
    : kind_(spec.kind),
      tokens_(spec.tokens),
      types_(spec.types),
      bos_(spec.bos),
      eos_(spec.eos),
      pad_(spec.pad),
      unk_(spec.unk),
      add_bos_(spec.add_bos),
      add_eos_(spec.add_eos),
      chat_template_(spec.chat_template),
      fingerprint_(vocab_fingerprint(spec)),
      source_(spec.source) {
  token_index_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    token_index_[tokens_[i]] = static_cast<std::int32_t>(i);  // last wins, as llama.cpp's token_to_id
    const TokenType t = types_[i];
    if ((t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) &&
        !tokens_[i].empty()) {
      specials_.push_back({static_cast<std::int32_t>(i), t == TokenType::kUserDefined});
      special_first_byte_[static_cast<unsigned char>(tokens_[i][0])] = true;
    }
  }
  // llama.cpp's cache_special_tokens: longest text first (ties by id, where llama.cpp's
  // std::sort leaves the order unspecified).
  std::stable_sort(specials_.begin(), specials_.end(), [&](const SpecialToken& a, const SpecialToken& b) {
    return tokens_[a.id].size() > tokens_[b.id].size();
  });
}

void Tokenizer::check_id(std::int32_t id) const {
  HONE_CHECK(id >= 0 && id < static_cast<std::int64_t>(tokens_.size()), InputError,
             "{}: token id {} is outside the vocabulary of {} tokens", source_, id, tokens_.size());
}

std::string Tokenizer::token_text(std::int32_t id) const {
  check_id(id);
  return tokens_[id];
}

TokenType Tokenizer::token_type(std::int32_t id) const {
  check_id(id);
  return types_[id];
}

std::optional<std::int32_t> Tokenizer::token_id(std::string_view vocab_text) const {
  auto it = token_index_.find(std::string(vocab_text));
  if (it == token_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::int32_t> Tokenizer::stop_ids() const {
  std::vector<std::int32_t> ids;
  if (eos_) ids.push_back(*eos_);
  for (const char* t : {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>",
                        "<|eom_id|>", "</s>"}) {
    if (auto id = token_id(t)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// ---------------------------------------------------------------------------- special tokens

void Tokenizer::split_special(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({-1, 0, text.size()});
  bool candidate = false;
  for (unsigned char c : text) {
    if (special_first_byte_[c]) {
      candidate = true;
      break;
    }
  }
  if (!candidate) return;
  std::vector<Fragment> next;
  for (const SpecialToken& sp : specials_) {
    // With parse_special off, control and unknown tokens stay text; user-defined ones are still
    // split out (llama.cpp, following HF tokenizers' added-token handling).
    if (!parse_special && !sp.always) continue;
    const std::string& st = tokens_[sp.id];
    if (text.find(st) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : out) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view raw = text.substr(f.offset, f.length);
      std::size_t from = 0;
      for (std::size_t at; (at = raw.find(st, from)) != std::string_view::npos; from = at + st.size()) {
        if (at > from) next.push_back({-1, f.offset + from, at - from});
        next.push_back({sp.id, 0, 0});
      }
      if (from < raw.size()) next.push_back({-1, f.offset + from, raw.size() - from});
    }
    out.swap(next);
  }
}

}  // namespace hone
