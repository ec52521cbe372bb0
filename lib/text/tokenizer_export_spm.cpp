// tokenizer.json for a SentencePiece vocabulary stored in GGUF (tokenizer.ggml.model "llama"), built
// as transformers' SpmConverter / GemmaConverter / LlamaConverter build it (convert_slow_tokenizer.py)
// so that HF tokenizers gives the ids llama.cpp's SentencePiece tokenizer (spm_llama.cpp) gives:
//   - model: BPE over the pieces with byte_fallback (<0xXX>) and fuse_unk; its merges are every
//     split (a, b) of a piece with a and b pieces, ranked by the merged piece's score, best first
//     (transformers' generate_merges). BPE merges the lowest rank first, leftmost among equal
//     ranks, which is SentencePiece's best-score-first, leftmost-first merging.
//   - normalizer: spaces become U+2581, with U+2581 prepended when add_space_prefix is set. HF
//     normalises each text segment between added tokens on its own, so the prefix goes where
//     llama.cpp puts it: at the start and after every special or user-defined token.
//   - no pre-tokenizer: a text segment is one BPE word, as llama.cpp merges a fragment whole.
//   - control and unknown pieces are special added tokens, user-defined pieces plain ones, all
//     matched in the raw text as llama.cpp's tokenizer_st_partition matches them.
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "text/tokenizer_json.h"

namespace hone {

namespace {

struct SpmMerge {
  std::int32_t left;
  std::int32_t right;
  std::int32_t piece;  // left + right
  float score;         // the piece's score
  int left_chars;      // code points, as Python's len() counts them
  int right_chars;
};

bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

int utf8_chars(std::string_view s) {
  return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) { return !is_utf8_continuation(c); }));
}

// transformers' generate_merges(vocab, vocab_scores): every split of every piece at a code point
// boundary whose halves are both pieces, sorted by (score, len(left), len(right)) descending; equal
// keys keep their order (pieces by id, then (id(left), id(right))), as Python's stable sort does.
// A piece's score is the one llama.cpp merges by (llm_tokenizer_spm_session::try_add_bigram), which
// looks up any piece, control and byte pieces included.
std::vector<SpmMerge> spm_merges(const VocabSpec& spec, std::size_t n) {
  std::unordered_map<std::string_view, std::int32_t> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ids.emplace(spec.tokens[i], static_cast<std::int32_t>(i));
  auto score = [&](std::size_t id) { return spec.scores.empty() ? 0.0f : spec.scores[id]; };
  std::vector<SpmMerge> merges;
  for (std::size_t p = 0; p < n; ++p) {
    const std::string_view piece = spec.tokens[p];
    for (std::size_t k = 1; k < piece.size(); ++k) {
      if (is_utf8_continuation(piece[k])) continue;
      const auto l = ids.find(piece.substr(0, k)), r = ids.find(piece.substr(k));
      if (l == ids.end() || r == ids.end()) continue;
      merges.push_back(
          {l->second, r->second, static_cast<std::int32_t>(p), score(p), utf8_chars(l->first), utf8_chars(r->first)});
    }
  }
  std::sort(merges.begin(), merges.end(), [](const SpmMerge& a, const SpmMerge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    if (a.right_chars != b.right_chars) return a.right_chars > b.right_chars;
    if (a.piece != b.piece) return a.piece < b.piece;
    return a.left != b.left ? a.left < b.left : a.right < b.right;
  });
  return merges;
}

ordered_json replace(const char* from, const char* to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

// GemmaConverter.normalizer without the prefix; LlamaConverter.normalizer (legacy) with it.
ordered_json spm_normalizer(bool add_space_prefix) {
  if (!add_space_prefix) return replace(" ", "\u2581");
  return {{"type", "Sequence"},
          {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}}, replace(" ", "\u2581")}}};
}

// LlamaConverter.decoder: U+2581 back to spaces, byte pieces back to bytes, and the prefix space
// taken off the first piece when one was prepended.
ordered_json spm_decoder(bool add_space_prefix) {
  ordered_json steps = {replace("\u2581", " "), {{"type", "ByteFallback"}}, {{"type", "Fuse"}}};
  if (add_space_prefix) steps.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return {{"type", "Sequence"}, {"decoders", steps}};
}

}  // namespace

ordered_json spm_tokenizer_json(const VocabSpec& spec, std::size_t n) {
  ordered_json merges = ordered_json::array();
  {
    const std::vector<SpmMerge> ranked = spm_merges(spec, n);
    merges.get_ref<ordered_json::array_t&>().reserve(ranked.size());
    for (const SpmMerge& m : ranked) merges.push_back({spec.tokens[m.left], spec.tokens[m.right]});
  }
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", hf_added_tokens(spec, n, /*sentencepiece=*/true)},
      {"normalizer", spm_normalizer(spec.add_space_prefix)},
      {"pre_tokenizer", nullptr},
      {"post_processor", hf_template_processing(spec)},
      {"decoder", spm_decoder(spec.add_space_prefix)},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", json_or_null(hf_token_text(spec, spec.unk))},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", hf_vocab(spec, n)},
        {"merges", merges}}},
  };
}

}  // namespace hone
