// Pre-tokenizer: the regex rewriting and splitting on small cases, and every supported
// tokenizer.ggml.pre against llama.cpp: the SmolLM2 vocabulary is written to a tensor-less GGUF
// under another pre-tokenizer name, and llama.cpp (vocab only) and hone tokenize the same texts.
#include "text/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"
#include "text_cases.h"

namespace hone {
namespace {

std::vector<std::string> split(const std::vector<std::string>& regexes, std::string_view text) {
  PreTokenizer pre(regexes, "test");
  PreTokenizer::Scratch scratch;
  std::vector<PreTokenizer::Span> spans;
  pre.split(text, spans, scratch);
  std::vector<std::string> out;
  for (const auto& s : spans) out.emplace_back(text.substr(s.offset, s.length));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, Gpt2RegexSplits) {
  EXPECT_EQ(split({kRegexGpt2}, "Hello world's 42!!"), (Pieces{"Hello", " world", "'s", " 42", "!!"}));
  // \s+(?!\S): a whitespace run gives its last space to the next word; a run at the end stays whole.
  EXPECT_EQ(split({kRegexGpt2}, "a   b  "), (Pieces{"a", "  ", " b", "  "}));
  // A tab before a letter matches nothing: it is kept as a piece of its own (llama.cpp's gaps).
  EXPECT_EQ(split({kRegexGpt2}, "a\tb"), (Pieces{"a", "\t", "b"}));
  EXPECT_EQ(split({kRegexGpt2}, ""), Pieces{});
}

TEST(PreTokenizer, SequenceSplitsEachPieceFurther) {
  // SmolLM2: single digits first, then GPT-2's regex inside each piece.
  EXPECT_EQ(split({"\\p{N}", kRegexGpt2}, "in 2024, x"), (Pieces{"in", " ", "2", "0", "2", "4", ",", " x"}));
  // Llama 3: numbers in groups of three, letters with one leading non-letter, newlines together.
  EXPECT_EQ(split({kRegexLlama3}, "1234567 $Hello\n\n  x"), (Pieces{"123", "456", "7", " $", "Hello", "\n\n", " ", " x"}));
}

TEST(PreTokenizer, UnicodeClassesFollowLlamaCpp) {
  // CJK extension H (Unicode 15.0) is a letter for llama.cpp even where PCRE2 is older.
  EXPECT_EQ(split({kRegexGpt2}, " \xF0\xB1\x8D\x90's"), (Pieces{" \xF0\xB1\x8D\x90", "'s"}));
  // U+180E is not whitespace for llama.cpp (it is Cf since Unicode 6.3), though PCRE2's \s has it.
  EXPECT_EQ(split({kRegexGpt2}, "!\u180e? x"), (Pieces{"!\u180e?", " x"}));
  const std::string re = llama_regex_to_pcre2("[^\\s\\p{L}]\\S");
  EXPECT_NE(re.find("\\x{3000}"), std::string::npos) << re;
  EXPECT_NE(re.find("\\x{31350}-\\x{323AF}"), std::string::npos) << re;
  EXPECT_EQ(re.rfind("[^", 0), 0u) << re;
}

TEST(PreTokenizer, SanitizeReadsBytesLikeLlamaCpp) {
  std::string text, shadow;
  EXPECT_FALSE(llama_utf8_sanitize("plain ascii and \xc3\xa9", text, shadow));
  ASSERT_TRUE(llama_utf8_sanitize("a\xff" "b\xc0\x80\xed\xa0\x80", text, shadow));
  EXPECT_EQ(text, "a\xef\xbf\xbd" "b" + std::string(1, '\0') + "\xed\xa0\x80");
  EXPECT_EQ(shadow, "a\xef\xbf\xbd" "b" + std::string(1, '\0') + "\xef\xbf\xbd");
}

TEST(PreTokenizer, BadRegexNamesTheSource) {
  EXPECT_HONE_ERROR(PreTokenizer({"(a"}, "model.gguf"), InputError, "model.gguf: pre-tokenizer regex '(a' does not compile");
}

TEST(PreTokenizer, LongRunsDoNotOverflowTheMatcher) {
  const std::string text = std::string(200000, ' ') + std::string(200000, 'a') + std::string(100000, '7');
  const auto pieces = split({"\\p{N}", kRegexGpt2}, text);
  EXPECT_EQ(pieces.size(), 2u + 100000u);
}

// ---------------------------------------------------------------------------- presets vs llama.cpp

class PresetParity : public ::testing::TestWithParam<const char*> {};

TEST_P(PresetParity, IdsEqualLlamaCpp) {
  if (!test::have_model() || !test::have_python()) GTEST_SKIP() << "needs the model and llama-cpp-python";
  const std::string pre = GetParam();
  test::TempDir dir;
  const fs::path path = dir / ("smollm2-vocab-" + pre + ".gguf");
  {
    const auto src = GGUFFile::open(test::model_path());
    GGUFWriter w;
    for (const auto& [k, v] : src.metadata()) w.set(k, k == "tokenizer.ggml.pre" ? GGUFValue::str(pre) : v);
    w.write(path);
  }
  const auto tok = Tokenizer::from_gguf(GGUFFile::open(path));
  std::vector<test::PeerCase> cases;
  for (const auto& t : test::stress_texts()) cases.push_back({t, false});
  for (const auto& t : test::invalid_utf8_texts()) cases.push_back({t, false});
  for (const auto& t : test::fuzz_texts(1500, 99)) cases.push_back({t, cases.size() % 3 == 0});
  auto banking = test::banking77_texts();
  for (std::size_t i = 0; i < banking.size(); i += 4) cases.push_back({banking[i], false});
  const auto expected = test::peer_ids("llama", path.string(), cases);
  ASSERT_EQ(expected.size(), cases.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok->encode(cases[i].text, false, cases[i].parse_special);
    if (got != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << pre << ": text '" << test::printable(cases[i].text) << "' differs from llama.cpp";
    }
  }
  std::cout << "[ parity ] pre '" << pre << "': " << cases.size() << " texts compared with llama.cpp: " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Names, PresetParity,
                         ::testing::Values("default", "gpt-2", "llama-bpe", "qwen2", "falcon", "dbrx", "starcoder"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

}  // namespace
}  // namespace hone
