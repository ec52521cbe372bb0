// Gemma 3's SentencePiece vocabulary as llama.cpp stores it in GGUF (tokenizer.ggml.model "llama",
// 262,144 pieces, byte fallback, no space prefix, user-defined pieces such as <start_of_turn>),
// tokenized by hone and by llama.cpp (llama-cpp-python, vocab only) on the same texts.
#include <gtest/gtest.h>

#include "core/gguf.h"
#include "helpers.h"
#include "text/text_cases.h"
#include "text/tokenizer.h"

namespace hone {
namespace {

using test::PeerCase;

class Gemma3Tokenizer : public ::testing::Test {
 protected:
  static bool have() { return fs::exists(HONE_GEMMA_GGUF); }
  static void SetUpTestSuite() {
    if (have()) tok_ = Tokenizer::from_gguf(GGUFFile::open(HONE_GEMMA_GGUF)).release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override {
    if (!have()) GTEST_SKIP() << HONE_GEMMA_GGUF << " is absent (run scripts/setup.sh)";
  }
  static Tokenizer* tok_;
};
Tokenizer* Gemma3Tokenizer::tok_ = nullptr;

TEST_F(Gemma3Tokenizer, LoadsTheGGUFVocabulary) {
  EXPECT_EQ(tok_->vocab_size(), 262144);
  EXPECT_EQ(tok_->bos_id(), 2);
  EXPECT_EQ(tok_->eos_id(), 1);
  EXPECT_TRUE(tok_->add_bos());
  EXPECT_EQ(tok_->token_text(2), "<bos>");
  const auto turn = tok_->encode("<start_of_turn>user\nHi<end_of_turn>", false, true);
  ASSERT_GE(turn.size(), 3u);
  EXPECT_EQ(tok_->token_text(turn.front()), "<start_of_turn>");
  EXPECT_EQ(tok_->token_text(turn.back()), "<end_of_turn>");
  EXPECT_TRUE(tok_->chat_template().empty()) << "this GGUF ships no chat template";
}

TEST_F(Gemma3Tokenizer, IdsEqualLlamaCppOnEveryText) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with llama-cpp-python";
  std::vector<PeerCase> cases;
  const auto banking = test::banking77_texts();
  for (std::size_t i = 0; i < banking.size(); i += 4) cases.push_back({banking[i], false});
  for (const auto& t : test::stress_texts()) {
    cases.push_back({t, false});
    cases.push_back({t, true});
  }
  for (const auto& t : test::invalid_utf8_texts()) cases.push_back({t, false});
  for (const auto& t : test::fuzz_texts(1000, 31)) cases.push_back({t, cases.size() % 2 == 0});
  for (const char* t : {"<start_of_turn>user\n  two  spaces\t\ttabs\n\n\nnewlines<end_of_turn>\n",
                        "<start_of_image> <pad> <unk> <mask>", "1234567890 ４５ ½", "日本語のテキスト 中文 한국어",
                        "emoji 👩🏽‍💻🎉 and \xF0\x9F\xA6\x80", "\x01\x02 control"}) {
    cases.push_back({t, false});
    cases.push_back({t, true});
  }
  const auto expected = test::peer_ids("llama", HONE_GEMMA_GGUF, cases);
  ASSERT_EQ(expected.size(), cases.size());
  std::size_t mismatches = 0, tokens = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok_->encode(cases[i].text, false, cases[i].parse_special);
    tokens += got.size();
    if (got != expected[i] && ++mismatches <= 10) {
      std::string a, b;
      for (auto id : expected[i]) a += std::to_string(id) + " ";
      for (auto id : got) b += std::to_string(id) + " ";
      ADD_FAILURE() << "text #" << i << " (parse_special " << cases[i].parse_special << "): '"
                    << test::printable(cases[i].text) << "'\n  llama.cpp: " << a << "\n  hone:      " << b;
    }
  }
  std::cout << "[ parity ] " << cases.size() << " texts (" << tokens << " tokens) compared with llama.cpp: "
            << mismatches << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace hone
