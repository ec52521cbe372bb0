// A SentencePiece vocabulary that reaches hone as an HF tokenizer.json without its tokenizer.model:
// model BPE with byte_fallback, spaces normalised to U+2581 ("▁"), no pre-tokenizer. transformers
// writes this for Gemma and Llama 2 (convert_slow_tokenizer.py: SpmConverter, GemmaConverter) and
// hone writes it when it exports a GGUF SentencePiece vocabulary (tokenizer_export_spm.cpp).
//
// hone tokenizes it with llama.cpp's SentencePiece algorithm (spm_llama.cpp), which merges the
// adjacent pair whose joined piece scores best. tokenizer.json carries merge ranks, not scores: a
// piece's score is minus the rank of the first merge that yields it. Those converters rank merges
// by the joined piece's score first, so the order of the pieces is the SentencePiece model's.
#include <nlohmann/json.hpp>

#include <unordered_map>

#include "core/error.h"
#include "text/vocab.h"

namespace hone {

using nlohmann::json;

namespace {

bool is_space_to_metaspace(const json& n) {
  return n.is_object() && n.value("type", "") == "Replace" && n.contains("pattern") &&
         n["pattern"].value("String", "") == " " && n.value("content", "") == "\xE2\x96\x81";
}

bool is_prepend_metaspace(const json& n) {
  return n.is_object() && n.value("type", "") == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81";
}

// Replace(" " -> "▁"), optionally after Prepend("▁") (add_space_prefix); anything else is refused.
bool read_space_prefix(const json& j, const std::string& src) {
  const json norm = j.contains("normalizer") ? j["normalizer"] : json();
  if (is_space_to_metaspace(norm)) return false;
  if (norm.is_object() && norm.value("type", "") == "Sequence") {
    const json steps = norm.value("normalizers", json::array());
    if (steps.size() == 2 && is_prepend_metaspace(steps[0]) && is_space_to_metaspace(steps[1])) return true;
    if (steps.size() == 1 && is_space_to_metaspace(steps[0])) return false;
  }
  HONE_THROW(InputError, Hint{"put the model's tokenizer.model beside it; hone reads the SentencePiece model then"},
             "{}: tokenizer.json: a BPE model with byte_fallback needs the normalizer Replace(' ' -> '\xE2\x96\x81'), "
             "optionally after Prepend('\xE2\x96\x81'); got {}",
             src, norm.dump());
}

bool is_byte_piece(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

}  // namespace

void spm_from_bpe_json(const json& j, VocabSpec& spec) {
  const std::string& src = spec.source;
  spec.add_space_prefix = read_space_prefix(j, src);
  const json pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json();
  HONE_CHECK(pre.is_null(), InputError, Hint{"put the model's tokenizer.model beside it"},
             "{}: tokenizer.json: a pre_tokenizer ({}) with a byte-fallback BPE model is not supported", src,
             pre.value("type", pre.dump()));

  std::unordered_map<std::string, std::int32_t> ids;
  ids.reserve(spec.tokens.size());
  for (std::size_t i = 0; i < spec.tokens.size(); ++i) ids.emplace(spec.tokens[i], static_cast<std::int32_t>(i));
  // Pieces no merge yields (single characters, specials) are never a merge's result: their score
  // is never compared, and sits below every merged piece's.
  const float kNeverMerged = -static_cast<float>(spec.merges.size()) - 1.0f;
  spec.scores.assign(spec.tokens.size(), kNeverMerged);
  std::vector<bool> scored(spec.tokens.size(), false);
  for (std::size_t r = 0; r < spec.merges.size(); ++r) {
    const auto it = ids.find(spec.merges[r].first + spec.merges[r].second);
    HONE_CHECK(it != ids.end(), InputError, "{}: tokenizer.json: model.merges[{}] joins to '{}', which is no piece",
               src, r, spec.merges[r].first + spec.merges[r].second);
    if (!scored[it->second]) {
      spec.scores[it->second] = -static_cast<float>(r);
      scored[it->second] = true;
    }
  }
  for (std::size_t i = 0; i < spec.tokens.size(); ++i)
    if (spec.types[i] == TokenType::kNormal && is_byte_piece(spec.tokens[i])) spec.types[i] = TokenType::kByte;
  if (spec.unk && spec.types[*spec.unk] == TokenType::kNormal) spec.types[*spec.unk] = TokenType::kUnknown;
  spec.merges.clear();  // llama.cpp's algorithm reads the scores
  spec.pre_name.clear();
}

}  // namespace hone
