// Byte-level BPE against llama.cpp itself (llama-cpp-python, vocab only) on the SmolLM2 GGUF:
// every Banking77 query, the stress set with parse_special off and on, invalid UTF-8 and random
// texts. One peer process tokenizes the whole batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"
#include "text_cases.h"

namespace hone {
namespace {

using test::PeerCase;

std::string ids_str(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (auto i : ids) s += (s.empty() ? "" : " ") + std::to_string(i);
  return s;
}

class SmolLM2Tokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (test::have_model()) tok_ = Tokenizer::from_gguf(GGUFFile::open(test::model_path())).release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override {
    if (!test::have_model()) GTEST_SKIP() << "model " << test::model_path() << " is absent";
  }
  static Tokenizer* tok_;
};
Tokenizer* SmolLM2Tokenizer::tok_ = nullptr;

std::vector<PeerCase> all_cases(bool& have_banking) {
  std::vector<PeerCase> cases;
  const auto banking = test::banking77_texts();
  have_banking = !banking.empty();
  for (const auto& t : banking) cases.push_back({t, false});
  for (const auto& t : test::stress_texts()) {
    cases.push_back({t, false});
    cases.push_back({t, true});
  }
  for (const auto& t : test::invalid_utf8_texts()) {
    cases.push_back({t, false});
    cases.push_back({t, true});
  }
  for (const auto& t : test::fuzz_texts(2000, 77)) cases.push_back({t, cases.size() % 2 == 0});
  return cases;
}

TEST_F(SmolLM2Tokenizer, LoadsTheGGUFVocabulary) {
  EXPECT_EQ(tok_->kind(), TokenizerKind::kByteLevelBPE);
  EXPECT_EQ(tok_->vocab_size(), 49152);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->pad_id(), 2);
  EXPECT_FALSE(tok_->add_bos());
  EXPECT_EQ(tok_->token_text(1), "<|im_start|>");
  EXPECT_EQ(tok_->token_type(1), TokenType::kControl);
  EXPECT_EQ(tok_->token_id("<|im_end|>"), 2);
  // eos (<|im_end|>) and <|endoftext|>, which llama.cpp also treats as end of generation.
  EXPECT_EQ(tok_->stop_ids(), (std::vector<std::int32_t>{0, 2}));
  EXPECT_NE(tok_->chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(tok_->fingerprint().size(), 64u);
  EXPECT_HONE_ERROR(tok_->token_text(49152), InputError, "token id 49152 is outside the vocabulary of 49152 tokens");
}

TEST_F(SmolLM2Tokenizer, SpecialTokensFollowParseSpecial) {
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  const auto with = tok_->encode(text, false, true);
  ASSERT_GE(with.size(), 3u);
  EXPECT_EQ(with.front(), 1);
  EXPECT_EQ(with.back(), 2);
  const auto without = tok_->encode(text, false, false);
  EXPECT_EQ(std::count(without.begin(), without.end(), 1), 0) << "user text must not become <|im_start|>";
  EXPECT_EQ(tok_->decode(with), text);
  EXPECT_EQ(tok_->decode(with, /*skip_special=*/true), "user\nHi");
  EXPECT_EQ(tok_->decode(without), text);
  EXPECT_TRUE(tok_->encode("", true, true).empty());  // add_bos_token is false for SmolLM2
}

TEST_F(SmolLM2Tokenizer, IdsEqualLlamaCppOnEveryText) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with llama-cpp-python";
  bool have_banking = false;
  const auto cases = all_cases(have_banking);
  if (!have_banking) std::cout << "[ note ] Banking77 is absent (" << HONE_BANKING77_DIR << "); stress set only\n";
  const auto expected = test::peer_ids("llama", test::model_path(), cases);
  ASSERT_EQ(expected.size(), cases.size());
  std::size_t mismatches = 0, tokens = 0, bytes = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok_->encode(cases[i].text, false, cases[i].parse_special);
    tokens += got.size();
    bytes += cases[i].text.size();
    if (got != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "text #" << i << " (parse_special " << cases[i].parse_special << "): '"
                    << test::printable(cases[i].text) << "'\n  llama.cpp: " << ids_str(expected[i])
                    << "\n  hone:      " << ids_str(got);
    }
  }
  std::cout << "[ parity ] " << cases.size() << " texts (" << bytes << " bytes, " << tokens
            << " tokens) compared with llama.cpp: " << mismatches << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(SmolLM2Tokenizer, DecodeRoundTripsEveryValidText) {
  bool have_banking = false;
  std::size_t n = 0, failures = 0;
  for (const auto& c : all_cases(have_banking)) {
    bool invalid = false;
    for (const auto& bad : test::invalid_utf8_texts()) invalid |= bad == c.text;
    if (invalid) continue;
    ++n;
    const auto ids = tok_->encode(c.text, false, c.parse_special);
    if (tok_->decode(ids) != c.text && ++failures <= 5) {
      ADD_FAILURE() << "decode(encode(x)) != x for '" << test::printable(c.text) << "': '"
                    << test::printable(tok_->decode(ids)) << "'";
    }
  }
  std::cout << "[ round trip ] " << n << " texts, " << failures << " failures\n";
  EXPECT_EQ(failures, 0u);
}

TEST_F(SmolLM2Tokenizer, InvalidUtf8BecomesReplacementCharactersLikeLlamaCpp) {
  // llama.cpp reads each byte that starts no sequence as U+FFFD; decoding gives those back.
  EXPECT_EQ(tok_->decode(tok_->encode("a\xff" "b", false, false)), "a\xef\xbf\xbd" "b");
  // An overlong NUL is decoded as code point 0 and re-encoded as one byte.
  EXPECT_EQ(tok_->decode(tok_->encode("\xc0\x80", false, false)), std::string(1, '\0'));
}

TEST_F(SmolLM2Tokenizer, EncodeIsThreadSafe) {
  const auto texts = test::fuzz_texts(200, 5);
  std::vector<std::vector<std::int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tok_->encode(t, false, true));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (std::size_t i = 0; i < texts.size(); ++i) bad += tok_->encode(texts[i], false, true) != serial[i];
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(SmolLM2Tokenizer, Throughput) {
  // Not a benchmark with a threshold (the machine is shared); it prints MB/s.
  std::string text;
  for (const auto& t : test::banking77_texts()) text += t + "\n";
  if (text.empty()) {
    for (const auto& t : test::stress_texts()) text += t + "\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t n = 0;
  for (int rep = 0; rep < 3; ++rep) n += tok_->encode(text, false, false).size();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ speed ] " << 3 * text.size() / 1e6 / s << " MB/s, " << n / s / 1e6 << " M tokens/s\n";
  EXPECT_GT(n, 0u);
}

}  // namespace
}  // namespace hone
