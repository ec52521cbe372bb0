// SentencePiece tokenizers (Kudo & Richardson 2018) through the sentencepiece library: the
// model's own normalizer, dummy-prefix and byte-fallback rules apply. hone adds only the special
// token handling shared with BPE (Tokenizer::split_special) and bos/eos.
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace hone {

namespace {

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_processor(const VocabSpec& spec) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(spec.spm_model);
  HONE_CHECK(status.ok(), InputError, "{}: not a SentencePiece model: {}", spec.source, status.ToString());
  return sp;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const VocabSpec& spec) : Tokenizer(spec), sp_(load_processor(spec)) {}

  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<std::int32_t> out;
    if (add_special && add_bos_) out.push_back(*bos_);
    std::vector<Fragment> fragments;
    split_special(text, parse_special, fragments);
    std::vector<int> ids;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        out.push_back(f.id);
        continue;
      }
      const auto status = sp_->Encode(text.substr(f.offset, f.length), &ids);
      HONE_CHECK(status.ok(), RuntimeError, "{}: SentencePiece encode failed: {}", source_, status.ToString());
      out.insert(out.end(), ids.begin(), ids.end());
    }
    if (add_special && add_eos_) out.push_back(*eos_);
    return out;
  }

  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special) const override {
    // Runs of ordinary pieces go through the library (which turns U+2581 back into spaces, joins
    // byte pieces and drops the dummy prefix); control and unknown tokens are written as text.
    std::string text, part;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      const auto status = sp_->Decode(run, &part);
      HONE_CHECK(status.ok(), RuntimeError, "{}: SentencePiece decode failed: {}", source_, status.ToString());
      text += part;
      run.clear();
    };
    for (std::int32_t id : ids) {
      check_id(id);
      const TokenType t = types_[id];
      if (t == TokenType::kControl || t == TokenType::kUnknown) {
        flush();
        if (!skip_special) text += tokens_[id];
      } else {
        run.push_back(id);
      }
    }
    flush();
    return text;
  }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace

void fill_spm_vocab(VocabSpec& spec) {
  const auto sp = load_processor(spec);
  const int n = sp->GetPieceSize();
  spec.tokens.resize(n);
  spec.types.resize(n);
  spec.scores.resize(n);
  for (int i = 0; i < n; ++i) {
    spec.tokens[i] = sp->IdToPiece(i);
    spec.scores[i] = sp->GetScore(i);
    spec.types[i] = sp->IsControl(i)   ? TokenType::kControl
                    : sp->IsUnknown(i) ? TokenType::kUnknown
                    : sp->IsUnused(i)  ? TokenType::kUnused
                    : sp->IsByte(i)    ? TokenType::kByte
                                       : TokenType::kNormal;
  }
  auto opt = [](int id) { return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt; };
  spec.bos = opt(sp->bos_id());
  spec.eos = opt(sp->eos_id());
  spec.pad = opt(sp->pad_id());
  spec.unk = opt(sp->unk_id());
}

std::unique_ptr<Tokenizer> make_spm_tokenizer(const VocabSpec& spec) {
  return std::make_unique<SentencePieceTokenizer>(spec);
}

}  // namespace hone
