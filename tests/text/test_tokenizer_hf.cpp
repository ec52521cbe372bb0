// The same vocabulary from an HF directory: transformers exports a tokenizer.json for the SmolLM2
// GGUF (tokenizer_peer.py export-hf); from_hf_dir must give from_gguf's ids and fingerprint, and HF
// tokenizers' own ids on Banking77.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"
#include "text_cases.h"

namespace hone {
namespace {

using nlohmann::json;

class HFExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_model() || !test::have_python()) return;
    dir_ = new test::TempDir();
    const auto r = test::run_python("tokenizer_peer.py", {"export-hf", test::model_path(), dir_->path().string()});
    export_error_ = r.exit_code == 0 ? "" : "export-hf failed (" + std::to_string(r.exit_code) + "): " + r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!test::have_model() || !test::have_python()) GTEST_SKIP() << "needs the model and the virtualenv";
    ASSERT_TRUE(export_error_.empty()) << export_error_;
  }
  static test::TempDir* dir_;
  static std::string export_error_;
};
test::TempDir* HFExport::dir_ = nullptr;
std::string HFExport::export_error_;

TEST_F(HFExport, SameIdsAndFingerprintAsTheGGUF) {
  const auto gguf = Tokenizer::from_gguf(GGUFFile::open(test::model_path()));
  const auto hf = Tokenizer::from_hf_dir(dir_->path());
  EXPECT_EQ(hf->kind(), TokenizerKind::kByteLevelBPE);
  EXPECT_EQ(hf->vocab_size(), gguf->vocab_size());
  EXPECT_EQ(hf->bos_id(), gguf->bos_id());
  EXPECT_EQ(hf->eos_id(), gguf->eos_id());
  EXPECT_EQ(hf->pad_id(), gguf->pad_id());
  EXPECT_EQ(hf->unk_id(), gguf->unk_id());
  EXPECT_EQ(hf->chat_template(), gguf->chat_template());  // from chat_template.jinja
  EXPECT_EQ(hf->fingerprint(), gguf->fingerprint());

  std::vector<std::string> texts = test::banking77_texts();
  for (auto& t : test::stress_texts()) texts.push_back(t);
  for (auto& t : test::fuzz_texts(1000, 11)) texts.push_back(t);
  std::size_t mismatches = 0;
  for (const auto& t : texts) {
    for (bool special : {false, true}) {
      const auto a = gguf->encode(t, false, special), b = hf->encode(t, false, special);
      if (a != b && ++mismatches <= 5) ADD_FAILURE() << "GGUF and tokenizer.json differ on '" << test::printable(t) << "'";
    }
  }
  std::cout << "[ hf ] " << 2 * texts.size() << " encodes compared between from_gguf and from_hf_dir: " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(HFExport, MatchesHFTokenizersOnBanking77) {
  const auto texts = test::banking77_texts();
  if (texts.empty()) GTEST_SKIP() << "Banking77 is absent";
  std::vector<test::PeerCase> cases;
  for (const auto& t : texts) cases.push_back({t, false});
  const auto expected = test::peer_ids("hf", dir_->path().string(), cases);
  ASSERT_EQ(expected.size(), cases.size());
  const auto hf = Tokenizer::from_hf_dir(dir_->path());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (hf->encode(cases[i].text, false, false) != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "HF tokenizers differs on '" << test::printable(cases[i].text) << "'";
    }
  }
  std::cout << "[ hf ] " << cases.size() << " Banking77 texts compared with HF tokenizers: " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(HFExport, FingerprintSeesThePreTokenizer) {
  // The same vocabulary with GPT-2's pre-tokenizer (no single-digit split) is another tokenizer,
  // even though SmolLM2's vocabulary, trained with single digits, happens to give the same ids.
  test::TempDir other;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy(dir_->path() / f, other / f);
  json j = json::parse(test::read_bytes(other / "tokenizer.json"));
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  test::write_bytes(other / "tokenizer.json", j.dump());
  const auto a = Tokenizer::from_hf_dir(dir_->path()), b = Tokenizer::from_hf_dir(other.path());
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

// ---------------------------------------------------------------------------- malformed directories

// A tiny valid byte-level tokenizer.json: the 256 byte characters, one merge, one special token.
json tiny_tokenizer_json() {
  json vocab = json::object();
  int id = 0, n = 0;
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
    vocab[s] = id++;
  }
  vocab["ab"] = id++;
  json j;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b"})}};
  j["added_tokens"] = json::array({{{"id", id}, {"content", "<|end|>"}, {"special", true}}});
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["normalizer"] = nullptr;
  return j;
}

struct BadDir {
  const char* name;
  void (*mutate)(json&);
  const char* expected;
};
void PrintTo(const BadDir& b, std::ostream* os) { *os << b.name; }

class HFMalformed : public ::testing::TestWithParam<BadDir> {};

TEST_P(HFMalformed, RejectedWithAClearMessage) {
  test::TempDir dir;
  json j = tiny_tokenizer_json();
  GetParam().mutate(j);
  test::write_bytes(dir / "tokenizer.json", j.dump());
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(dir.path()), InputError, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HFMalformed,
    ::testing::Values(
        BadDir{"missing_vocab", [](json& j) { j["model"].erase("vocab"); },
               "tokenizer.json: model.vocab is missing"},
        BadDir{"unigram", [](json& j) { j["model"]["type"] = "Unigram"; },
               "tokenizer.json: model.type is 'Unigram', expected 'BPE'"},
        BadDir{"merge_not_in_vocab", [](json& j) { j["model"]["merges"] = json::array({"a zz"}); },
               "merge 0 'a zz' names 'zz', which is not in the vocabulary"},
        BadDir{"merge_result_not_in_vocab", [](json& j) { j["model"]["merges"] = json::array({"b c"}); },
               "merge 0 'b c' names 'bc', which is not in the vocabulary"},
        BadDir{"bad_merge", [](json& j) { j["model"]["merges"] = json::array({"abc"}); },
               "model.merges[0] = 'abc' is not 'a b'"},
        BadDir{"metaspace", [](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; },
               "pre_tokenizer type 'Metaspace' is not supported"},
        BadDir{"no_byte_level", [](json& j) { j["pre_tokenizer"] = {{"type", "Digits"}}; },
               "pre_tokenizer has no ByteLevel step"},
        BadDir{"bad_regex", [](json& j) {
                 j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({
                     {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
                     {{"type", "ByteLevel"}, {"use_regex", false}}})}};
               },
               "pre-tokenizer regex '(unclosed' does not compile"},
        BadDir{"bad_id", [](json& j) { j["model"]["vocab"]["x"] = -3; },
               "model.vocab['x'] should be a non-negative id"}));

TEST(HFDir, TinyTokenizerLoadsWithConfig) {
  test::TempDir dir;
  test::write_bytes(dir / "tokenizer.json", tiny_tokenizer_json().dump());
  test::write_bytes(dir / "tokenizer_config.json",
                    json{{"eos_token", "<|end|>"}, {"add_eos_token", true}, {"chat_template", "{{ x }}"}}.dump());
  const auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->eos_id(), 257);
  EXPECT_EQ(tok->encode("ab", true, false), (std::vector<std::int32_t>{256, 257}));
  EXPECT_EQ(tok->chat_template(), "{{ x }}");
  test::write_bytes(dir / "tokenizer_config.json", json{{"bos_token", "<s>"}}.dump());
  EXPECT_HONE_ERROR(Tokenizer::load(dir.path()), InputError, "bos_token '<s>' is not in the vocabulary");
  EXPECT_HONE_ERROR(Tokenizer::load(dir / "nope"), InputError, "no such file or directory");
  test::TempDir empty;
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(empty.path()), InputError, "neither tokenizer.json nor tokenizer.model");
}

}  // namespace
}  // namespace hone
