// The HF tokenizer files hone writes for Gemma 3's SentencePiece GGUF vocabulary
// (write_hf_tokenizer_files, tokenizer_export_spm.cpp), loaded by HF tokenizers and transformers:
// they must give hone's ids, which equal llama.cpp's (test_tokenizer_gemma.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "helpers.h"
#include "text/text_cases.h"
#include "text/tokenizer.h"
#include "text/tokenizer_export.h"

namespace hone {
namespace {

using nlohmann::json;
using test::PeerCase;

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF), as Python's
// bytes.decode("utf-8") accepts it: the HF peer receives text, not bytes.
bool is_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned c = b(i);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      if ((b(i + k) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    static const std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

std::string ids_text(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (auto id : ids) s += std::to_string(id) + " ";
  return s;
}

class GemmaHFExport : public ::testing::Test {
 protected:
  static bool have() { return fs::exists(HONE_GEMMA_GGUF) && test::have_python(); }
  static void SetUpTestSuite() {
    if (!have()) return;
    dir_ = new test::TempDir();
    const auto t0 = std::chrono::steady_clock::now();
    write_hf_tokenizer_files(HONE_GEMMA_GGUF, dir_->path(), 32768);
    std::cout << "[ export ] Gemma 3 tokenizer.json written in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    tok_ = Tokenizer::from_gguf(GGUFFile::open(HONE_GEMMA_GGUF)).release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete dir_;
    tok_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!have()) GTEST_SKIP() << HONE_GEMMA_GGUF << " or the virtualenv is absent (run scripts/setup.sh)";
  }
  static test::TempDir* dir_;
  static Tokenizer* tok_;
};
test::TempDir* GemmaHFExport::dir_ = nullptr;
Tokenizer* GemmaHFExport::tok_ = nullptr;

TEST_F(GemmaHFExport, WritesTheSentencePiecePipeline) {
  EXPECT_EQ(dir_->entries(),
            (std::vector<std::string>{"special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}));
  const json tok = json::parse(test::read_bytes(*dir_ / "tokenizer.json"));
  EXPECT_EQ(tok["model"]["type"], "BPE");
  EXPECT_EQ(tok["model"]["byte_fallback"], true);
  EXPECT_EQ(tok["model"]["vocab"].size(), 262144u);
  EXPECT_EQ(tok["normalizer"]["type"], "Replace") << "add_space_prefix is false: no Prepend";
  EXPECT_EQ(tok["post_processor"]["single"][0]["SpecialToken"]["id"], "<bos>");
  const json cfg = json::parse(test::read_bytes(*dir_ / "tokenizer_config.json"));
  EXPECT_EQ(cfg["bos_token"], "<bos>");
  EXPECT_EQ(cfg["eos_token"], "<eos>");
  EXPECT_EQ(cfg["added_tokens_decoder"]["106"]["content"], "<end_of_turn>");
  EXPECT_EQ(cfg["added_tokens_decoder"]["106"]["special"], true);
  EXPECT_EQ(cfg["added_tokens_decoder"]["107"]["special"], false) << "'\\n' is user-defined";
}

// The texts of Gemma3Tokenizer.IdsEqualLlamaCppOnEveryText that are UTF-8. HF tokenizers always
// splits its added tokens out of the text (encode's add_special_tokens only adds <bos>), control
// tokens such as <start_of_turn> included, which is hone's (and llama.cpp's) parse_special = true;
// hone is compared with parse_special on for every text.
TEST_F(GemmaHFExport, HFTokenizersIdsEqualHoneOnEveryText) {
  std::vector<std::string> texts;
  const auto banking = test::banking77_texts();
  for (std::size_t i = 0; i < banking.size(); i += 4) texts.push_back(banking[i]);
  for (const auto& t : test::stress_texts()) texts.push_back(t);
  for (const auto& t : test::fuzz_texts(1000, 31)) texts.push_back(t);
  for (const char* t : {"<start_of_turn>user\n  two  spaces\t\ttabs\n\n\nnewlines<end_of_turn>\n",
                        "<start_of_image> <pad> <unk> <mask>", "1234567890 ４５ ½", "日本語のテキスト 中文 한국어",
                        "emoji 👩🏽‍💻🎉 and \xF0\x9F\xA6\x80", "\x01\x02 control", "<0x41> <0x0A>",
                        "====------....", "aaaaaaaaaaaaaaaaaaaaaaaaa", "  leading and trailing  "})
    texts.push_back(t);
  std::vector<PeerCase> cases;
  for (const auto& t : texts)
    if (is_utf8(t)) cases.push_back({t, true});
  const auto t0 = std::chrono::steady_clock::now();
  const auto expected = test::peer_ids("hf", dir_->path().string(), cases);
  const double peer_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(expected.size(), cases.size());
  std::size_t mismatches = 0, tokens = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok_->encode(cases[i].text, false, true);
    tokens += got.size();
    if (got != expected[i] && ++mismatches <= 10)
      ADD_FAILURE() << "text #" << i << ": '" << test::printable(cases[i].text)
                    << "'\n  HF tokenizers: " << ids_text(expected[i]) << "\n  hone:          " << ids_text(got);
  }
  std::cout << "[ parity ] " << cases.size() << " texts (" << tokens
            << " tokens) compared with HF tokenizers on hone's tokenizer.json: " << mismatches << " mismatches (peer "
            << peer_s << " s)\n";
  EXPECT_EQ(mismatches, 0u);
}

// hone reads the directory back (a byte-fallback BPE tokenizer.json without tokenizer.model, as a
// distilled student or an HF export carries it): the same ids and the same decoded text as from the
// GGUF, on every text, special-token strings parsed and not.
TEST_F(GemmaHFExport, HoneReadsItsTokenizerJsonBack) {
  const auto back = Tokenizer::load(dir_->path());
  EXPECT_EQ(back->vocab_size(), tok_->vocab_size());
  EXPECT_EQ(back->bos_id(), tok_->bos_id());
  EXPECT_EQ(back->eos_id(), tok_->eos_id());
  EXPECT_EQ(back->add_bos(), tok_->add_bos());
  std::vector<std::string> texts;
  const auto banking = test::banking77_texts();
  for (std::size_t i = 0; i < banking.size(); i += 4) texts.push_back(banking[i]);
  for (const auto& t : test::stress_texts()) texts.push_back(t);
  for (const auto& t : test::invalid_utf8_texts()) texts.push_back(t);
  for (const auto& t : test::fuzz_texts(1000, 31)) texts.push_back(t);
  std::size_t mismatches = 0, compared = 0;
  for (const auto& t : texts)
    for (bool special : {false, true}) {
      ++compared;
      const auto want = tok_->encode(t, true, special), got = back->encode(t, true, special);
      if ((got != want || back->decode(got) != tok_->decode(want)) && ++mismatches <= 10)
        ADD_FAILURE() << "'" << test::printable(t) << "' (parse_special " << special << ")\n  from GGUF: "
                      << ids_text(want) << "\n  from tokenizer.json: " << ids_text(got);
    }
  std::cout << "[ parity ] " << compared << " encodings from tokenizer.json against the GGUF: " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

// transformers' AutoTokenizer on the directory: <bos> first, as hone's encode with add_special.
TEST_F(GemmaHFExport, AutoTokenizerAddsBosAsHone) {
  const std::vector<std::string> texts = {
      "Hello world", "<start_of_turn>user\nHi there<end_of_turn>\n",
      "  spaces\t\ttabs\n\nnewlines, digits 1234567 and ünïcödé 日本語 🙂"};
  test::TempDir io;
  test::write_bytes(io / "texts.json", json(texts).dump());
  const auto r = test::run_python(
      "export_peer.py", {"tokenize", dir_->path().string(), (io / "texts.json").string(), (io / "tok.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(test::read_bytes(io / "tok.json"));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto mine = tok_->encode(texts[i], true, true);
    ASSERT_FALSE(mine.empty());
    EXPECT_EQ(mine.front(), 2) << "<bos>";
    EXPECT_EQ(got["text." + std::to_string(i)].get<std::vector<std::int32_t>>(), mine) << texts[i];
  }
}

// The GGUF tokenizer keys hone converts from the directory (tokenizer_gguf_metadata: what
// `hone export --format gguf` writes for a Gemma student, whose directory holds these files) make
// llama.cpp tokenize as the original GGUF does. add_space_prefix has to be among them: llama.cpp's
// SentencePiece default is on, Gemma 3's off. The scores differ (ranks of the merges, in the same
// order) and so may the types of added tokens that look special ("</s>" becomes control, as
// convert_hf_to_gguf.py makes it), which is why special-token strings are parsed here.
TEST_F(GemmaHFExport, GgufKeysFromTheDirectoryTokenizeAsTheGgufInLlamaCpp) {
  test::TempDir tmp;
  const fs::path gguf = tmp / "gemma3-vocab-from-dir.gguf";
  {
    const auto src = GGUFFile::open(HONE_GEMMA_GGUF);
    GGUFWriter w;
    for (const auto& [k, v] : src.metadata())
      if (k.rfind("tokenizer.", 0) != 0) w.set(k, v);
    for (auto& [k, v] : tokenizer_gguf_metadata(dir_->path())) w.set(k, std::move(v));
    w.write(gguf);
  }
  EXPECT_FALSE(GGUFFile::open(gguf).get_bool("tokenizer.ggml.add_space_prefix"));
  std::vector<PeerCase> cases;
  std::vector<std::string> texts = test::stress_texts();
  for (const auto& t : test::fuzz_texts(300, 11)) texts.push_back(t);
  for (const char* t : {"The capital of France is", "<start_of_turn>user\nI lost my card<end_of_turn>\n<start_of_turn>model\n",
                        " Hello", "\n"})
    texts.push_back(t);
  for (const auto& t : texts)
    if (is_utf8(t)) cases.push_back({t, true});
  const auto want = test::peer_ids("llama", HONE_GEMMA_GGUF, cases);
  const auto got = test::peer_ids("llama", gguf.string(), cases);
  ASSERT_EQ(want.size(), cases.size());
  ASSERT_EQ(got.size(), cases.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < cases.size(); ++i)
    if (got[i] != want[i] && ++mismatches <= 10)
      ADD_FAILURE() << "text #" << i << ": '" << test::printable(cases[i].text) << "'\n  original GGUF: "
                    << ids_text(want[i]) << "\n  from the directory: " << ids_text(got[i]);
  std::cout << "[ parity ] llama.cpp on GGUF keys from tokenizer.json: " << cases.size() << " texts, " << mismatches
            << " mismatches\n";
  EXPECT_EQ(mismatches, 0u);
}

// Gemma's vocabulary with add_space_prefix on, in a GGUF without tensors: llama.cpp prepends a
// space to the first text fragment and to each one after a special or user-defined token; the
// exported normalizer's Prepend must put U+2581 in the same places.
TEST_F(GemmaHFExport, SpacePrefixAsLlamaCpp) {
  test::TempDir tmp;
  const fs::path gguf = tmp / "gemma3-vocab-space-prefix.gguf";
  {
    const auto src = GGUFFile::open(HONE_GEMMA_GGUF);
    GGUFWriter w;
    for (const auto& [k, v] : src.metadata())
      w.set(k, k == "tokenizer.ggml.add_space_prefix" ? GGUFValue::boolean(true) : v);
    w.write(gguf);
  }
  write_hf_tokenizer_files(gguf, tmp.path(), 32768);
  const auto tok = Tokenizer::from_gguf(GGUFFile::open(gguf));
  ASSERT_EQ(tok->token_text(tok->encode("Hello", false, true).front()), "\u2581Hello") << "the prefix is on";
  const auto keys = tokenizer_gguf_metadata(tmp.path());  // converted back from the directory: on
  const auto prefix = std::find_if(keys.begin(), keys.end(),
                                   [](const auto& kv) { return kv.first == "tokenizer.ggml.add_space_prefix"; });
  ASSERT_NE(prefix, keys.end());
  EXPECT_TRUE(std::get<bool>(prefix->second.v));
  std::vector<std::string> texts = test::stress_texts();
  for (const auto& t : test::fuzz_texts(500, 7)) texts.push_back(t);
  for (const char* t : {"Hello", " Hello", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "a\n\nb",
                        "<eos><eos>x", "  two", "\n"})
    texts.push_back(t);
  std::vector<PeerCase> cases;
  for (const auto& t : texts)
    if (is_utf8(t)) cases.push_back({t, true});
  const auto llama = test::peer_ids("llama", gguf.string(), cases);
  const auto hf = test::peer_ids("hf", tmp.path().string(), cases);
  ASSERT_EQ(llama.size(), cases.size());
  ASSERT_EQ(hf.size(), cases.size());
  std::size_t hone_vs_llama = 0, hf_vs_llama = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok->encode(cases[i].text, false, true);
    hone_vs_llama += got != llama[i];
    if (hf[i] != llama[i] && ++hf_vs_llama <= 10)
      ADD_FAILURE() << "text #" << i << ": '" << test::printable(cases[i].text)
                    << "'\n  llama.cpp:     " << ids_text(llama[i]) << "\n  HF tokenizers: " << ids_text(hf[i])
                    << "\n  hone:          " << ids_text(got);
  }
  std::cout << "[ parity ] add_space_prefix: " << cases.size() << " texts compared with llama.cpp: hone "
            << hone_vs_llama << ", HF tokenizers on hone's tokenizer.json " << hf_vs_llama << " mismatches\n";
  EXPECT_EQ(hone_vs_llama, 0u);
  EXPECT_EQ(hf_vs_llama, 0u);
}

}  // namespace
}  // namespace hone
