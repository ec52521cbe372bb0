// An HF tokenizer directory that declares more than it holds: a tokenizer.json id or a config.json
// vocab_size beyond kMaxVocabSize (the vocabulary's holes are filled with "[PAD<id>]" tokens, so
// one large id would allocate millions of them) is an InputError before anything is allocated; a
// pre-tokenizer regex that does not compile is an InputError too (and frees those that did).
#include <gtest/gtest.h>

#include "helpers.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace hone {
namespace {

// A byte-level BPE tokenizer.json of two tokens, the second with id `last_id`.
std::string tokenizer_json(std::int64_t last_id, const std::string& pre_tokenizer) {
  return R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": )" + std::to_string(last_id) +
         R"(}, "merges": []}, "pre_tokenizer": )" + pre_tokenizer + "}";
}

const std::string kByteLevel = R"({"type": "ByteLevel", "add_prefix_space": false})";

TEST(TokenizerHFBounds, IdsAndVocabSizesBeyondTheLimitAreRefused) {
  test::TempDir dir;
  test::write_bytes(dir / "tokenizer.json", tokenizer_json(kMaxVocabSize - 1, kByteLevel));
  EXPECT_EQ(Tokenizer::from_hf_dir(dir.path())->vocab_size(), kMaxVocabSize);  // the largest there may be

  test::write_bytes(dir / "tokenizer.json", tokenizer_json(kMaxVocabSize, kByteLevel));
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(dir.path()), InputError,
                    "tokenizer.json: token id 1048576 is too large (hone reads vocabularies of up to 1048576 tokens)");
  test::write_bytes(dir / "tokenizer.json", tokenizer_json(2147483646, kByteLevel));
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(dir.path()), InputError, "token id 2147483646 is too large");

  test::write_bytes(dir / "tokenizer.json", tokenizer_json(1, kByteLevel));
  test::write_bytes(dir / "config.json", R"({"vocab_size": 4611686018427387904})");
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(dir.path()), InputError,
                    "config.json: vocab_size 4611686018427387904 is too large");
}

TEST(TokenizerHFBounds, ARegexThatDoesNotCompileIsAnInputError) {
  test::TempDir dir;
  const std::string pre = R"json({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated"},
      {"type": "Split", "pattern": {"Regex": ")"}, "behavior": "Isolated"},
      {"type": "ByteLevel", "use_regex": false}]})json";
  test::write_bytes(dir / "tokenizer.json", tokenizer_json(1, pre));
  EXPECT_HONE_ERROR(Tokenizer::from_hf_dir(dir.path()), InputError, "pre-tokenizer regex ')' does not compile");
}

}  // namespace
}  // namespace hone
