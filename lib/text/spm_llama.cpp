// SentencePiece vocabularies stored in GGUF (tokenizer.ggml.model "llama": Llama 2, Mistral,
// TinyLlama), tokenized as llama.cpp does (src/llama-vocab.cpp, llm_tokenizer_spm_session): a GGUF
// file carries pieces, scores and types but no ModelProto, and llama.cpp is the reference runtime
// for it. The algorithm is SentencePiece's BPE (Kudo & Richardson 2018):
//   1. a space is prepended to the first text fragment and to each one after a special token
//      (add_space_prefix), and spaces become U+2581;
//   2. the text is split into UTF-8 characters; every adjacent pair whose concatenation is a
//      vocabulary piece is a bigram scored by that piece's score; the best score is merged first,
//      ties going to the leftmost (llm_bigram_spm::comparator);
//   3. a character that is no piece is written as its byte pieces <0xXX> (byte fallback).
#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace hone {

namespace {

class LlamaSpmTokenizer final : public Tokenizer {
 public:
  explicit LlamaSpmTokenizer(const VocabSpec& spec)
      : Tokenizer(spec), scores_(spec.scores), add_space_prefix_(spec.add_space_prefix) {
    if (scores_.empty()) scores_.assign(tokens_.size(), 0.0f);
    pieces_.reserve(tokens_.size());
    for (std::size_t i = 0; i < tokens_.size(); ++i) pieces_[tokens_[i]] = static_cast<std::int32_t>(i);
    static const char* kHex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      // llama_vocab::byte_to_token: "<0xXX>", else the byte itself as a piece. llama.cpp throws
      // when neither exists; hone falls back to the unknown token (or drops the byte).
      const std::string hex = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
      auto id = find(hex);
      if (id < 0) id = find(std::string(1, static_cast<char>(b)));
      byte_token_[b] = id >= 0 ? id : unk_.value_or(-1);
    }
  }

  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<std::int32_t> out;
    std::vector<Fragment> fragments;
    split_special(text, parse_special, fragments);
    if (add_special && add_bos_) out.push_back(*bos_);
    bool prev_special = true;  // "prefix with space if first token"
    std::string buf;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        out.push_back(f.id);
        prev_special = true;
        continue;
      }
      buf.clear();
      if (add_space_prefix_ && prev_special) buf += ' ';
      buf.append(text.substr(f.offset, f.length));
      escape_whitespace(buf);
      tokenize(buf, out);
      prev_special = false;
    }
    if (add_special && add_eos_) out.push_back(*eos_);
    return out;
  }

  // llama_vocab::impl::detokenize(remove_special = skip_special, unparse_special = !skip_special):
  // pieces with U+2581 as spaces, byte pieces as bytes, and the space prefix taken off the
  // first piece.
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special) const override {
    std::string text;
    std::size_t begin = 0, end = ids.size();
    bool remove_space = add_space_prefix_;
    if (skip_special && add_bos_ && end > 0 && ids[0] == bos_) remove_space = false, begin = 1;
    if (skip_special && add_eos_ && end > begin && ids[end - 1] == eos_) --end;
    for (std::size_t i = begin; i < end; ++i) {
      check_id(ids[i]);
      std::string piece = token_to_piece(ids[i], skip_special);
      if (remove_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      remove_space = false;
      text += piece;
    }
    return text;
  }

 private:
  struct Symbol {
    std::size_t offset;
    std::size_t n;  // 0 once merged into its left neighbour
    int prev;
    int next;
  };
  struct Bigram {
    int left;
    int right;
    float score;
    std::size_t size;
  };

  std::int32_t find(std::string_view s) const {
    auto it = pieces_.find(s);
    return it == pieces_.end() ? -1 : it->second;
  }

  static void escape_whitespace(std::string& s) {
    std::string out;
    out.reserve(s.size() + s.size() / 2);
    for (char c : s) {
      if (c == ' ') {
        out += "\xE2\x96\x81";
      } else {
        out += c;
      }
    }
    s.swap(out);
  }

  std::string token_to_piece(std::int32_t id, bool skip_special) const {
    switch (types_[id]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
        return skip_special ? std::string() : tokens_[id];
      case TokenType::kUserDefined:
        return tokens_[id];
      case TokenType::kNormal: {
        std::string s;
        const std::string& t = tokens_[id];
        for (std::size_t i = 0; i < t.size(); ++i) {
          if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
            s += ' ';
            i += 2;
          } else {
            s += t[i];
          }
        }
        return s;
      }
      case TokenType::kByte:
        return std::string(1, static_cast<char>(std::strtol(tokens_[id].substr(3, 2).c_str(), nullptr, 16)));
      default:
        return std::string();
    }
  }

  void tokenize(const std::string& text, std::vector<std::int32_t>& out) const {
    std::vector<Symbol> sym;
    for (std::size_t off = 0; off < text.size();) {
      // unicode_len_utf8: the length from the lead byte's high bits, capped at the text's end.
      static const std::size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
      const std::size_t n = std::min(kLen[static_cast<unsigned char>(text[off]) >> 4], text.size() - off);
      const int i = static_cast<int>(sym.size());
      sym.push_back({off, n, i - 1, off + n == text.size() ? -1 : i + 1});
      off += n;
    }
    std::vector<Bigram> heap;
    // Best score first, then leftmost.
    const auto cmp = [](const Bigram& l, const Bigram& r) {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    };
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const std::string_view s(text.data() + sym[left].offset, sym[left].n + sym[right].n);
      const std::int32_t id = find(s);
      if (id < 0) return;
      heap.push_back({left, right, scores_[id], s.size()});
      std::push_heap(heap.begin(), heap.end(), cmp);
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      const Bigram b = heap.back();
      heap.pop_back();
      Symbol& l = sym[b.left];
      Symbol& r = sym[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // a side changed since
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
      const std::string_view s(text.data() + sym[i].offset, sym[i].n);
      const std::int32_t id = find(s);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      // Only single characters can be missing (merges produce pieces): byte fallback.
      for (unsigned char c : s) {
        if (byte_token_[c] >= 0) out.push_back(byte_token_[c]);
      }
    }
  }

  std::vector<float> scores_;
  bool add_space_prefix_;
  std::unordered_map<std::string_view, std::int32_t> pieces_;  // views into tokens_ (last wins)
  std::int32_t byte_token_[256];
};

}  // namespace

std::unique_ptr<Tokenizer> make_llama_spm_tokenizer(const VocabSpec& spec) {
  return std::make_unique<LlamaSpmTokenizer>(spec);
}

}  // namespace hone
