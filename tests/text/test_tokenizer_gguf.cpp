// Tokenizers from hand-made GGUF files: a tiny valid vocabulary, and malformed metadata rejected
// with messages that name the file, the key and what was expected.
#include <gtest/gtest.h>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"

namespace hone {
namespace {

// GPT-2's stand-in character for each byte (bytes_to_unicode).
std::vector<std::string> byte_chars() {
  std::vector<std::string> out;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : 256 + n++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out.push_back(s);
  }
  return out;
}

struct TinyVocab {
  std::string model = "gpt2";
  std::string pre = "smollm";
  std::vector<std::string> tokens;
  std::vector<std::int64_t> types;
  std::vector<std::string> merges = {"Ġ a", "a b", "Ġa b"};
  std::vector<float> scores;  // written when not empty
  std::int64_t bos = 257;
  bool types_as_strings = false;
  TinyVocab() {
    tokens = byte_chars();
    for (const char* t : {"ab", "<|end|>", "Ġa", "Ġab"}) tokens.push_back(t);
    types.assign(tokens.size(), 1);
    types[257] = 3;
  }
};

fs::path write_vocab(const test::TempDir& dir, const TinyVocab& v) {
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::str("llama"));
  w.set("tokenizer.ggml.model", GGUFValue::str(v.model));
  w.set("tokenizer.ggml.pre", GGUFValue::str(v.pre));
  std::vector<GGUFValue> toks, types, merges;
  for (const auto& t : v.tokens) toks.push_back(GGUFValue::str(t));
  for (auto t : v.types) types.push_back(v.types_as_strings ? GGUFValue::str("x") : GGUFValue::i32(static_cast<std::int32_t>(t)));
  for (const auto& m : v.merges) merges.push_back(GGUFValue::str(m));
  w.set("tokenizer.ggml.tokens", GGUFValue::array(GGUFType::kString, toks));
  w.set("tokenizer.ggml.token_type", GGUFValue::array(v.types_as_strings ? GGUFType::kString : GGUFType::kI32, types));
  w.set("tokenizer.ggml.merges", GGUFValue::array(GGUFType::kString, merges));
  if (!v.scores.empty()) {
    std::vector<GGUFValue> scores;
    for (float x : v.scores) scores.push_back(GGUFValue::f32(x));
    w.set("tokenizer.ggml.scores", GGUFValue::array(GGUFType::kF32, scores));
  }
  w.set("tokenizer.ggml.bos_token_id", GGUFValue::u32(static_cast<std::uint32_t>(v.bos)));
  w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(257));
  w.set("tokenizer.ggml.add_bos_token", GGUFValue::boolean(true));
  const fs::path p = dir / "vocab.gguf";
  w.write(p);
  return p;
}

TEST(GGUFTokenizer, TinyVocabularyEncodes) {
  test::TempDir dir;
  const auto tok = Tokenizer::load(write_vocab(dir, TinyVocab{}));
  EXPECT_EQ(tok->vocab_size(), 260);
  // " ab" is one pre-token: Ġ+a (rank 0) merges before a+b (rank 1), then "Ġa"+"b" gives "Ġab".
  EXPECT_EQ(tok->encode(" ab", /*add_special=*/true, false), (std::vector<std::int32_t>{257, 259}));
  EXPECT_EQ(tok->encode("ab<|end|>", false, true), (std::vector<std::int32_t>{256, 257}));
  EXPECT_EQ(tok->decode({257, 259, 256}), "<|end|> abab");
  EXPECT_EQ(tok->decode({257, 259}, /*skip_special=*/true), " ab");
  EXPECT_HONE_ERROR(tok->decode({260}), InputError, "token id 260 is outside the vocabulary of 260 tokens");
}

TEST(GGUFTokenizer, MergeRankDecidesNotOrder) {
  // With "b c" ranked before "a b", "abc" must become a + bc, not ab + c.
  test::TempDir dir;
  TinyVocab v;
  v.tokens.push_back("bc");
  v.types.push_back(1);
  v.merges = {"b c", "a b"};
  const auto tok = Tokenizer::load(write_vocab(dir, v));
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<std::int32_t>{'a', 260}));  // byte tokens are in byte order
  v.merges = {"a b", "b c"};
  test::TempDir dir2;
  EXPECT_EQ(Tokenizer::load(write_vocab(dir2, v))->encode("abc", false, false), (std::vector<std::int32_t>{256, 'c'}));
}

struct BadVocab {
  const char* name;
  void (*mutate)(TinyVocab&);
  const char* expected;
};
void PrintTo(const BadVocab& b, std::ostream* os) { *os << b.name; }

class GGUFTokenizerMalformed : public ::testing::TestWithParam<BadVocab> {};

TEST_P(GGUFTokenizerMalformed, RejectedWithAClearMessage) {
  test::TempDir dir;
  TinyVocab v;
  GetParam().mutate(v);
  const fs::path p = write_vocab(dir, v);
  EXPECT_HONE_ERROR(Tokenizer::load(p), InputError, GetParam().expected);
  try {
    Tokenizer::load(p);
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find("vocab.gguf"), std::string::npos) << "message must name the file: " << e.message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GGUFTokenizerMalformed,
    ::testing::Values(
        BadVocab{"rwkv", [](TinyVocab& v) { v.model = "rwkv"; },
                 "tokenizer.ggml.model is 'rwkv', expected 'gpt2' (byte-level BPE)"},
        BadVocab{"scores_too_short", [](TinyVocab& v) { v.model = "llama"; v.scores = {0.f, -1.f, -2.f}; },
                 "tokenizer.ggml.scores has 3 entries for 260 tokens"},
        BadVocab{"unknown_pre", [](TinyVocab& v) { v.pre = "klingon"; },
                 "tokenizer.ggml.pre 'klingon' is not a pre-tokenizer hone knows"},
        BadVocab{"merge_unknown_token", [](TinyVocab& v) { v.merges.push_back("a zz"); },
                 "merge 3 'a zz' names 'zz', which is not in the vocabulary"},
        BadVocab{"merge_without_space", [](TinyVocab& v) { v.merges.push_back("ab"); },
                 "tokenizer.ggml.merges[3] = 'ab' is not two tokens 'a b'"},
        BadVocab{"types_too_short", [](TinyVocab& v) { v.types.pop_back(); },
                 "tokenizer.ggml.token_type has 259 entries for 260 tokens"},
        BadVocab{"types_not_int", [](TinyVocab& v) { v.types_as_strings = true; },
                 "metadata 'tokenizer.ggml.token_type' should be an array of int32, is an array of string"},
        BadVocab{"bos_out_of_range", [](TinyVocab& v) { v.bos = 999; },
                 "bos token id 999 is outside the vocabulary of 260 tokens"}));

}  // namespace
}  // namespace hone
