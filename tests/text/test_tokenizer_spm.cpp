// SentencePiece: a model trained here with the library's own trainer, saved as tokenizer.model in
// an HF-style directory and loaded through Tokenizer::from_hf_dir.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"
#include "text_cases.h"

namespace hone {
namespace {

class TrainedSentencePiece : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    std::vector<std::string> corpus = test::banking77_texts();
    if (corpus.size() > 4000) corpus.resize(4000);
    for (int rep = 0; rep < 3; ++rep) {
      for (const auto& t : test::stress_texts()) corpus.push_back(t);
    }
    {
      std::ofstream f(*dir_ / "corpus.txt", std::ios::binary);
      for (const auto& t : corpus) {
        for (char c : t) f << (c == '\n' || c == '\r' ? ' ' : c);  // one sentence per line
        f << "\n";
      }
    }
    // Identity normalisation and no whitespace folding, so that decode(encode(x)) == x; byte
    // fallback for characters outside the pieces.
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (*dir_ / "corpus.txt").string() + " --model_prefix=" + (*dir_ / "m").string() +
        " --vocab_size=600 --model_type=bpe --byte_fallback=true --character_coverage=0.9995"
        " --normalization_rule_name=identity --remove_extra_whitespaces=false --split_digits=true"
        " --control_symbols=<|im_end|> --user_defined_symbols=<tool> --minloglevel=2");
    train_error_ = status.ok() ? "" : status.ToString();
    fs::create_directories(*dir_ / "hf");
    if (status.ok()) fs::copy_file(*dir_ / "m.model", *dir_ / "hf" / "tokenizer.model");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(train_error_.empty()) << "training failed: " << train_error_; }
  static test::TempDir* dir_;
  static std::string train_error_;
};
test::TempDir* TrainedSentencePiece::dir_ = nullptr;
std::string TrainedSentencePiece::train_error_;

TEST_F(TrainedSentencePiece, LoadsFromAnHFDirectory) {
  const auto tok = Tokenizer::from_hf_dir(dir_->path() / "hf");
  EXPECT_EQ(tok->kind(), TokenizerKind::kSentencePiece);
  EXPECT_EQ(tok->vocab_size(), 600);
  EXPECT_EQ(tok->unk_id(), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->add_bos());  // the SentencePiece default, as in llama.cpp and LlamaTokenizer
  EXPECT_EQ(tok->token_type(1), TokenType::kControl);
  EXPECT_EQ(tok->token_type(0), TokenType::kUnknown);
  EXPECT_EQ(tok->fingerprint().size(), 64u);
  const auto ids = tok->encode("hello world", /*add_special=*/true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);
}

TEST_F(TrainedSentencePiece, IdsEqualTheLibraryAndRoundTrip) {
  const auto tok = Tokenizer::from_hf_dir(dir_->path() / "hf");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load((dir_->path() / "m.model").string()).ok());
  std::vector<std::string> texts = test::banking77_texts();
  for (const auto& t : test::stress_texts()) texts.push_back(t);
  for (const auto& t : test::fuzz_texts(300, 3)) texts.push_back(t);
  std::size_t mismatches = 0, round_trip_failures = 0;
  for (const auto& t : texts) {
    const auto ids = tok->encode(t, false, false);
    std::vector<int> lib;
    ASSERT_TRUE(sp.Encode(t, &lib).ok());
    if (std::vector<std::int32_t>(lib.begin(), lib.end()) != ids && ++mismatches <= 5) {
      ADD_FAILURE() << "ids differ from sentencepiece on '" << test::printable(t) << "'";
    }
    if (tok->decode(ids) != t && ++round_trip_failures <= 5) {
      ADD_FAILURE() << "decode(encode(x)) != x for '" << test::printable(t) << "': '"
                    << test::printable(tok->decode(ids)) << "'";
    }
  }
  std::cout << "[ spm ] " << texts.size() << " texts: " << mismatches << " id mismatches with sentencepiece, "
            << round_trip_failures << " round-trip failures\n";
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(round_trip_failures, 0u);
}

TEST_F(TrainedSentencePiece, ControlTokensNeedParseSpecial) {
  const auto tok = Tokenizer::from_hf_dir(dir_->path() / "hf");
  const auto end = tok->token_id("<|im_end|>");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(tok->token_type(*end), TokenType::kControl);
  const auto with = tok->encode("hi<|im_end|>", false, true);
  EXPECT_EQ(with.back(), *end);
  const auto without = tok->encode("hi<|im_end|>", false, false);
  EXPECT_EQ(std::count(without.begin(), without.end(), *end), 0);
  EXPECT_EQ(tok->decode(with), "hi<|im_end|>");
  EXPECT_EQ(tok->decode(with, /*skip_special=*/true), "hi");
  // A user-defined symbol is one piece even without parse_special.
  const auto tool = tok->token_id("<tool>");
  ASSERT_TRUE(tool.has_value());
  const auto ids = tok->encode("use <tool> now", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *tool), 1);
}

TEST_F(TrainedSentencePiece, ConfigOverridesSpecialTokens) {
  test::TempDir d;
  fs::copy_file(dir_->path() / "m.model", d / "tokenizer.model");
  test::write_bytes(d / "tokenizer_config.json",
                    R"({"add_bos_token": false, "add_eos_token": true, "eos_token": "<|im_end|>",
                        "chat_template": "{{ '[INST] ' }}<<SYS>>"})");
  const auto tok = Tokenizer::from_hf_dir(d.path());
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->eos_id(), tok->token_id("<|im_end|>"));
  EXPECT_EQ(tok->encode("x", true, false).back(), *tok->eos_id());
  EXPECT_EQ(tok->chat_template(), "{{ '[INST] ' }}<<SYS>>");
  test::write_bytes(d / "tokenizer.model", "not a model");
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(d.path()), InputError, "not a SentencePiece model");
}

// The trained vocabulary as a GGUF SentencePiece vocabulary (tokenizer.ggml.model "llama", pieces,
// scores and types as convert_hf_to_gguf.py writes them), the architecture keys copied from the
// SmolLM2 GGUF so that llama.cpp loads it (vocab only).
fs::path write_spm_gguf(const fs::path& model, const fs::path& out) {
  sentencepiece::SentencePieceProcessor sp;
  EXPECT_TRUE(sp.Load(model.string()).ok());
  std::vector<GGUFValue> tokens, scores, types;
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    tokens.push_back(GGUFValue::str(sp.IdToPiece(i)));
    scores.push_back(GGUFValue::f32(sp.GetScore(i)));
    const int t = sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsUnused(i) ? 5 : sp.IsByte(i) ? 6 : 1;
    types.push_back(GGUFValue::i32(t));
  }
  GGUFWriter w;
  const auto smollm = GGUFFile::open(test::model_path());
  for (const auto& [k, v] : smollm.metadata()) {
    if (k.rfind("tokenizer.", 0) != 0) w.set(k, v);
  }
  w.set("tokenizer.ggml.model", GGUFValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GGUFValue::array(GGUFType::kString, tokens));
  w.set("tokenizer.ggml.scores", GGUFValue::array(GGUFType::kF32, scores));
  w.set("tokenizer.ggml.token_type", GGUFValue::array(GGUFType::kI32, types));
  w.set("tokenizer.ggml.bos_token_id", GGUFValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", GGUFValue::u32(0));
  w.set("tokenizer.ggml.add_bos_token", GGUFValue::boolean(true));
  w.write(out);
  return out;
}

TEST_F(TrainedSentencePiece, GGUFVocabularyEqualsLlamaCpp) {
  if (!test::have_model() || !test::have_python()) GTEST_SKIP() << "needs the model (for its keys) and llama-cpp-python";
  const fs::path gguf = write_spm_gguf(dir_->path() / "m.model", dir_->path() / "spm.gguf");
  const auto tok = Tokenizer::from_gguf(GGUFFile::open(gguf));
  EXPECT_EQ(tok->kind(), TokenizerKind::kSentencePiece);
  // The same vocabulary as tokenizer.model: same fingerprint.
  EXPECT_EQ(tok->fingerprint(), Tokenizer::from_hf_dir(dir_->path() / "hf")->fingerprint());

  std::vector<test::PeerCase> cases;
  auto banking = test::banking77_texts();
  for (std::size_t i = 0; i < banking.size(); i += 3) cases.push_back({banking[i], false});
  for (const auto& t : test::stress_texts()) {
    cases.push_back({t, false});
    cases.push_back({t, true});
  }
  for (const auto& t : test::fuzz_texts(1500, 21)) cases.push_back({t, cases.size() % 2 == 0});
  const auto expected = test::peer_ids("llama", gguf.string(), cases);
  ASSERT_EQ(expected.size(), cases.size());
  const auto lib = Tokenizer::from_hf_dir(dir_->path() / "hf");
  std::size_t mismatches = 0, lib_differs = 0, round_trip_failures = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto got = tok->encode(c.text, false, c.parse_special);
    if (got != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "text '" << test::printable(c.text) << "' (parse_special " << c.parse_special
                    << ") differs from llama.cpp";
    }
    lib_differs += got != lib->encode(c.text, false, c.parse_special);
    if (!c.parse_special && tok->decode(got) != c.text && ++round_trip_failures <= 5) {
      ADD_FAILURE() << "decode(encode(x)) != x for '" << test::printable(c.text) << "': '"
                    << test::printable(tok->decode(got)) << "'";
    }
  }
  std::cout << "[ spm gguf ] " << cases.size() << " texts compared with llama.cpp: " << mismatches
            << " mismatches; " << lib_differs << " differ from the sentencepiece library; " << round_trip_failures
            << " round-trip failures\n";
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(round_trip_failures, 0u);
}

}  // namespace
}  // namespace hone
