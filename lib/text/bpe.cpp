// Byte-level BPE (GPT-2, Radford et al. 2019) as llama.cpp runs it (src/llama-vocab.cpp,
// llm_tokenizer_bpe_session::tokenize):
//   1. each pre-token's bytes are mapped to GPT-2's printable byte alphabet (bytes_to_unicode);
//   2. every adjacent pair listed in the merges gets a bigram; the bigram with the lowest merge
//      rank is applied first, ties going to the leftmost (llm_bigram_bpe::comparator);
//   3. the merged symbols are looked up in the vocabulary; a symbol that is not a token (only a
//      byte whose single-byte token is missing) is dropped, as llama.cpp drops it.
// Symbols are kept as token ids rather than strings: every merge's parts and result must be
// tokens (HF tokenizers rejects other merges too), so "text unchanged" is "id unchanged".
#include <algorithm>
#include <array>
#include <unordered_map>

#include "core/error.h"
#include "text/pre_tokenizer.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace hone {

namespace {

// ---------------------------------------------------------------------------- GPT-2 byte alphabet

// bytes_to_unicode() of openai/gpt-2 encoder.py: printable Latin-1 bytes stand for themselves,
// the other 68 bytes for U+0100 upwards in byte order (so ' ' is 'Ġ' U+0120).
struct ByteAlphabet {
  std::array<std::string, 256> utf8;    // byte -> UTF-8 of its stand-in character
  std::array<std::int16_t, 324> byte{};  // stand-in code point -> byte, -1 if none
  ByteAlphabet() {
    byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const int cp = printable ? b : 256 + n++;
      byte[cp] = static_cast<std::int16_t>(b);
      std::string& s = utf8[b];
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet a;  // immutable after construction (thread-safe static init)
  return a;
}

// A vocabulary string in the byte alphabet -> the raw bytes, or false if some character is not
// a stand-in. Other characters are copied as UTF-8 into `bytes`.
bool alphabet_to_bytes(const std::string& s, std::string& bytes) {
  const auto& a = byte_alphabet();
  bool all = true;
  bytes.clear();
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    len = std::min(len, s.size() - i);
    std::uint32_t cp = c;
    if (len == 2) cp = (c & 0x1Fu) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    if (len <= 2 && cp < a.byte.size() && a.byte[cp] >= 0) {
      bytes += static_cast<char>(a.byte[cp]);
    } else {
      bytes.append(s, i, len);
      all = false;
    }
    i += len;
  }
  return all;
}

// ---------------------------------------------------------------------------- merge table

// (left id, right id) -> (rank, merged id), open addressing. The hot lookup of encode().
class MergeTable {
 public:
  struct Value {
    std::int32_t rank;
    std::int32_t merged;
  };
  void build(std::size_t n) {
    std::size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    keys_.assign(cap, kEmpty);
    values_.assign(cap, {-1, -1});
    mask_ = cap - 1;
    shift_ = 64;
    for (std::size_t c = cap; c > 1; c >>= 1) --shift_;
  }
  // Keeps the first value for a key (llama.cpp's bpe_ranks.emplace).
  void insert(std::uint64_t key, Value v) {
    for (std::size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return;
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        values_[i] = v;
        return;
      }
    }
  }
  const Value* find(std::uint64_t key) const {
    for (std::size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  static std::uint64_t key(std::int32_t a, std::int32_t b) {
    return static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32 | static_cast<std::uint32_t>(b);
  }

 private:
  static constexpr std::uint64_t kEmpty = ~0ull;
  // Fibonacci hashing: the top bits of the product.
  std::size_t slot(std::uint64_t k) const { return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_); }
  std::vector<std::uint64_t> keys_;
  std::vector<Value> values_;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

// ---------------------------------------------------------------------------- tokenizer

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  explicit ByteLevelBpeTokenizer(const VocabSpec& spec);
  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special) const override;

 private:
  struct Symbol {
    std::int32_t id;  // kDead once merged into its left neighbour
    std::int32_t prev;
    std::int32_t next;
  };
  struct Bigram {
    std::int32_t rank;
    std::int32_t left;  // symbol index
    std::int32_t right;
    std::int32_t left_id;
    std::int32_t right_id;
    std::int32_t merged;
  };
  // Everything encode() allocates, reused across the pieces of one call.
  struct Scratch {
    std::vector<Fragment> fragments;
    std::string clean, shadow;
    std::vector<PreTokenizer::Span> pieces;
    PreTokenizer::Scratch pre;
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
  };
  static constexpr std::int32_t kDead = -2;

  void encode_text(std::string_view text, std::vector<std::int32_t>& out, Scratch& s) const;
  void merge_piece(const char* p, std::size_t n, std::vector<std::int32_t>& out, Scratch& s) const;
  void add_bigram(std::int32_t left, std::int32_t right, Scratch& s) const;

  PreTokenizer pre_;
  bool ignore_merges_;
  std::array<std::int32_t, 256> byte_token_;        // byte -> token of its stand-in character, -1 if none
  std::unordered_map<std::string, std::int32_t> bytes_to_id_;  // raw bytes -> id (ignore_merges)
  MergeTable merges_;
  std::vector<std::string> pieces_;  // id -> bytes decode() emits (without skip_special)
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(const VocabSpec& spec)
    : Tokenizer(spec), pre_(spec.pre_regexes, spec.source), ignore_merges_(spec.ignore_merges) {
  const auto& alpha = byte_alphabet();
  for (int b = 0; b < 256; ++b) byte_token_[b] = token_id(alpha.utf8[b]).value_or(-1);

  pieces_.resize(tokens_.size());
  std::string bytes;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const bool exact = alphabet_to_bytes(tokens_[i], bytes);
    if (exact) bytes_to_id_[bytes] = static_cast<std::int32_t>(i);
    // llama_vocab::impl::token_to_piece: control, unknown and user-defined tokens are written as
    // they are; normal (and byte) tokens through the byte alphabet; undefined and unused as "".
    switch (types_[i]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUserDefined:
        pieces_[i] = tokens_[i];
        break;
      case TokenType::kNormal:
      case TokenType::kByte:
        pieces_[i] = bytes;
        break;
      default:
        break;
    }
  }

  merges_.build(spec.merges.size());
  for (std::size_t r = 0; r < spec.merges.size(); ++r) {
    // Plain references, not structured bindings: a lambda may capture those only from C++20.
    const std::string& a = spec.merges[r].first;
    const std::string& b = spec.merges[r].second;
    auto id_of = [&](const std::string& t) {
      auto id = token_id(t);
      HONE_CHECK(id.has_value(), InputError, "{}: merge {} '{} {}' names '{}', which is not in the vocabulary",
                 spec.source, r, a, b, t);
      return *id;
    };
    const std::int32_t ia = id_of(a), ib = id_of(b), iab = id_of(a + b);
    merges_.insert(MergeTable::key(ia, ib), {static_cast<std::int32_t>(r), iab});
  }
}

std::vector<std::int32_t> ByteLevelBpeTokenizer::encode(std::string_view text, bool add_special,
                                                        bool parse_special) const {
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  Scratch s;
  if (add_special && add_bos_) out.push_back(*bos_);
  split_special(text, parse_special, s.fragments);
  for (const Fragment& f : s.fragments) {
    if (f.id >= 0) {
      out.push_back(f.id);
    } else {
      encode_text(text.substr(f.offset, f.length), out, s);
    }
  }
  if (add_special && add_eos_) out.push_back(*eos_);
  return out;
}

void ByteLevelBpeTokenizer::encode_text(std::string_view text, std::vector<std::int32_t>& out, Scratch& s) const {
  std::string_view bytes = text, match = text;
  if (llama_utf8_sanitize(text, s.clean, s.shadow)) {
    bytes = s.clean;
    match = s.shadow;
  }
  pre_.split(match, s.pieces, s.pre);
  for (const auto& piece : s.pieces) merge_piece(bytes.data() + piece.offset, piece.length, out, s);
}

void ByteLevelBpeTokenizer::add_bigram(std::int32_t left, std::int32_t right, Scratch& s) const {
  if (left < 0 || right < 0) return;
  const std::int32_t a = s.symbols[left].id, b = s.symbols[right].id;
  if (a < 0 || b < 0) return;
  const MergeTable::Value* m = merges_.find(MergeTable::key(a, b));
  if (m == nullptr) return;
  s.heap.push_back({m->rank, left, right, a, b, m->merged});
  // Lowest rank first, then leftmost: llm_bigram_bpe::comparator.
  std::push_heap(s.heap.begin(), s.heap.end(), [](const Bigram& x, const Bigram& y) {
    return x.rank > y.rank || (x.rank == y.rank && x.left > y.left);
  });
}

void ByteLevelBpeTokenizer::merge_piece(const char* p, std::size_t n, std::vector<std::int32_t>& out,
                                        Scratch& s) const {
  if (n == 1) {
    const std::int32_t id = byte_token_[static_cast<unsigned char>(p[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_) {
    // llama.cpp: "if (vocab.get_ignore_merges() && vocab.text_to_token(word) != LLAMA_TOKEN_NULL)".
    auto it = bytes_to_id_.find(std::string(p, n));
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  auto& sym = s.symbols;
  sym.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    sym[i] = {byte_token_[static_cast<unsigned char>(p[i])], static_cast<std::int32_t>(i) - 1,
              i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1};
  }
  s.heap.clear();
  for (std::size_t i = 1; i < n; ++i) add_bigram(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i), s);
  const auto cmp = [](const Bigram& x, const Bigram& y) {
    return x.rank > y.rank || (x.rank == y.rank && x.left > y.left);
  };
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), cmp);
    const Bigram b = s.heap.back();
    s.heap.pop_back();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.id != b.left_id || r.id != b.right_id) continue;  // outdated: a side was merged since
    l.id = b.merged;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    r.id = kDead;
    add_bigram(l.prev, b.left, s);
    add_bigram(b.left, l.next, s);
  }
  for (std::int32_t i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) out.push_back(sym[i].id);
  }
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special) const {
  std::string text;
  for (std::int32_t id : ids) {
    check_id(id);
    const TokenType t = types_[id];
    if (skip_special && (t == TokenType::kControl || t == TokenType::kUnknown)) continue;
    text += pieces_[id];
  }
  return text;
}

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const VocabSpec& spec) {
  return std::make_unique<ByteLevelBpeTokenizer>(spec);
}

}  // namespace hone
