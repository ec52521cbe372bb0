// hone tokenize DIR --pairs: each pair's chosen and rejected answers become the sequences
// tokenize_example makes of the equivalent completion records, in pairs.jsonl's order, under the
// `preference` attribute; the reader's checks of a preference store; the refusals.
#include <hdf5.h>

#include <algorithm>

#include "data/token_store.h"
#include "data/tokenize.h"
#include "helpers.h"
#include "text/chat_template.h"
#include "text/sha256.h"
#include "text/tokenizer.h"

namespace hone::data {
namespace {

using test::TempDir;

// Line 2 is blank, so a line number in a message must be the file's, not the pair's.
const char* kPairs =
    R"({"id":"85c205b2c18d0566","split":"train","system":"Classify the banking query.","prompt":"I am still waiting on my card?","chosen":"card_arrival","rejected":"order_physical_card"})" "\n"
    "\n"
    R"({"id":"0000000000000002","split":"valid","prompt":"How do I top up?","chosen":"top_up_by_card","rejected":"card_arrival"})" "\n"
    R"({"id":"0000000000000003","split":"train","prompt":"Wo ist meine Karte? ünïcödé","chosen":"card_arrival","rejected":"lost_or_stolen_card"})" "\n";

// The completion record each answer of kPairs must be rendered as, per split, in pair order:
// {chosen, rejected}.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>> kRecords = {
    {"train",
     {{R"({"format":"completion","system":"Classify the banking query.","prompt":"I am still waiting on my card?","completion":"card_arrival"})",
       R"({"format":"completion","system":"Classify the banking query.","prompt":"I am still waiting on my card?","completion":"order_physical_card"})"},
      {R"({"format":"completion","prompt":"Wo ist meine Karte? ünïcödé","completion":"card_arrival"})",
       R"({"format":"completion","prompt":"Wo ist meine Karte? ünïcödé","completion":"lost_or_stolen_card"})"}}},
    {"valid",
     {{R"({"format":"completion","prompt":"How do I top up?","completion":"top_up_by_card"})",
       R"({"format":"completion","prompt":"How do I top up?","completion":"card_arrival"})"}}},
};

// An ingested directory holding `pairs` as pairs.jsonl (and a manifest, as ingest writes one).
fs::path pairs_dir(const TempDir& dir, const std::string& pairs) {
  const fs::path data = dir / "data";
  fs::create_directories(data);
  test::write_bytes(data / "manifest.json", R"({"hone_version":"0.1.0","counts":{"train":0,"valid":0,"test":0}})");
  test::write_bytes(data / "pairs.jsonl", pairs);
  return data;
}

TokenizeOptions pair_options() {
  TokenizeOptions o;
  o.pairs = true;
  o.max_len = 256;
  return o;
}

std::vector<std::int32_t> slice(const std::vector<std::int32_t>& v, std::int64_t b, std::int64_t e) {
  return {v.begin() + b, v.begin() + e};
}
std::vector<std::uint8_t> slice(const std::vector<std::uint8_t>& v, std::int64_t b, std::int64_t e) {
  return {v.begin() + b, v.begin() + e};
}

TEST(TokenizePairs, EachAnswerIsItsCompletionExampleInPairOrder) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const fs::path data = pairs_dir(dir, kPairs);
  const auto tok = Tokenizer::load(test::model_path());
  const ChatTemplate chat = ChatTemplate::from_tokenizer(*tok);
  for (const TemplateMode mode : {TemplateMode::kAuto, TemplateMode::kNone}) {
    SCOPED_TRACE(mode == TemplateMode::kAuto ? "chat template" : "no template");
    TokenizeOptions o = pair_options();
    o.template_mode = mode;
    o.threads = 2;
    const TokenizeReport r = tokenize_dataset(data, dir / "p.h5", test::model_path(), o);
    EXPECT_EQ(r.pairs, (std::map<std::string, std::int64_t>{{"test", 0}, {"train", 2}, {"valid", 1}}));
    EXPECT_EQ(r.sequences.at("train"), 4);
    const TokenStore st = read_token_store(dir / "p.h5");
    EXPECT_TRUE(st.meta.preference);
    EXPECT_FALSE(st.meta.packed);
    EXPECT_EQ(st.meta.manifest_sha256, sha256_hex(test::read_bytes(data / "manifest.json")));
    const ExampleFormat format{tok.get(), mode == TemplateMode::kAuto ? &chat : nullptr, tok->stop_ids(), false};
    ASSERT_EQ(st.splits.count("test"), 1u);
    EXPECT_EQ(st.splits.at("test").sequences(), 0);
    for (const auto& [split, pairs] : kRecords) {
      const TokenSplit& s = st.splits.at(split);
      ASSERT_EQ(s.sequences(), static_cast<std::int64_t>(2 * pairs.size())) << split;
      ASSERT_EQ(s.examples(), s.sequences()) << split;
      for (std::size_t k = 0; k < pairs.size(); ++k)
        for (const std::int64_t j : {static_cast<std::int64_t>(2 * k), static_cast<std::int64_t>(2 * k + 1)}) {
          const TokenizedExample want = tokenize_example(format, j % 2 ? pairs[k].second : pairs[k].first, "t:1");
          const auto b = s.example_offsets[j], e = s.example_offsets[j + 1];
          EXPECT_EQ(s.sequence_offsets[j], j);
          EXPECT_EQ(slice(s.input_ids, b, e), want.ids) << split << " sequence " << j;
          EXPECT_EQ(slice(s.loss_mask, b, e), want.loss) << split << " sequence " << j;
        }
    }
    // The loss falls on the answer and its end-of-turn token: the first train pair's rejected one.
    const TokenSplit& t = st.splits.at("train");
    std::vector<std::int32_t> loss_ids;
    for (auto i = t.example_offsets[1]; i < t.example_offsets[2]; ++i)
      if (t.loss_mask[static_cast<std::size_t>(i)]) loss_ids.push_back(t.input_ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(tok->decode(loss_ids), "order_physical_card<|im_end|>");
  }
}

// A store of two one-example sequences, written with `preference`.
TokenSplit two_sequences() {
  TokenSplit s;
  s.input_ids = {1, 5, 7, 2, 1, 9, 2};
  s.loss_mask = {0, 0, 1, 1, 0, 1, 1};
  s.example_offsets = {0, 4, 7};
  s.sequence_offsets = {0, 1, 2};
  return s;
}

TokenStoreMeta small_meta(bool preference) {
  TokenStoreMeta m;
  m.tokenizer_fingerprint = "0123456789abcdef";
  m.vocab_size = 100;
  m.max_len = 16;
  m.preference = preference;
  return m;
}

TEST(TokenizePairs, PreferenceAttributeRoundTripsAndDefaultsToFalse) {
  TempDir dir;
  write_token_store(dir / "p.h5", small_meta(true), {{"train", two_sequences()}});
  EXPECT_TRUE(read_token_store(dir / "p.h5").meta.preference);
  write_token_store(dir / "e.h5", small_meta(false), {{"train", two_sequences()}});
  EXPECT_FALSE(read_token_store(dir / "e.h5").meta.preference);
  // A store written before the attribute existed has none: a store of examples.
  write_token_store(dir / "old.h5", small_meta(true), {{"train", two_sequences()}});
  const hid_t f = H5Fopen((dir / "old.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_GE(H5Adelete(f, "preference"), 0);
  H5Fclose(f);
  EXPECT_FALSE(read_token_store(dir / "old.h5").meta.preference);
}

TEST(TokenizePairs, ReaderRefusesWhatIsNotWholePairs) {
  TempDir dir;
  TokenSplit odd = two_sequences();
  odd.input_ids.insert(odd.input_ids.end(), {1, 3, 2});
  odd.loss_mask.insert(odd.loss_mask.end(), {0, 1, 1});
  odd.example_offsets.push_back(10);
  odd.sequence_offsets.push_back(3);
  write_token_store(dir / "odd.h5", small_meta(true), {{"valid", odd}});
  EXPECT_HONE_ERROR(read_token_store(dir / "odd.h5"), InputError,
                    "odd.h5: valid: preference store with 3 sequences, an odd count: pair 1 has no rejected sequence");
  write_token_store(dir / "examples.h5", small_meta(false), {{"valid", odd}});
  EXPECT_EQ(read_token_store(dir / "examples.h5").splits.at("valid").sequences(), 3) << "a store of examples may be odd";

  TokenSplit packed = two_sequences();
  packed.sequence_offsets = {0, 2};  // both examples in one sequence...
  packed.input_ids.insert(packed.input_ids.end(), {1, 3, 2});
  packed.loss_mask.insert(packed.loss_mask.end(), {0, 1, 1});
  packed.example_offsets.push_back(10);
  packed.sequence_offsets.push_back(3);  // ... and a second sequence: an even count
  write_token_store(dir / "packed.h5", small_meta(true), {{"train", packed}});
  EXPECT_HONE_ERROR(read_token_store(dir / "packed.h5"), InputError,
                    "packed.h5: train: pair 0: the chosen sequence 0 holds 2 examples");

  TokenSplit no_loss = two_sequences();
  no_loss.loss_mask = {0, 0, 1, 1, 0, 0, 0};
  write_token_store(dir / "loss.h5", small_meta(true), {{"train", no_loss}});
  EXPECT_HONE_ERROR(read_token_store(dir / "loss.h5"), InputError,
                    "loss.h5: train: pair 0: the rejected sequence 1 has no loss token");
}

TEST(TokenizePairs, PackAndAMissingPairsFileAreRefused) {
  TempDir dir;
  const fs::path data = pairs_dir(dir, kPairs);
  TokenizeOptions o = pair_options();
  o.pack = true;
  EXPECT_HONE_ERROR(tokenize_dataset(data, dir / "p.h5", test::model_path(), o), UsageError,
                    "--pairs cannot be combined with --pack");
  fs::remove(data / "pairs.jsonl");
  EXPECT_HONE_ERROR(tokenize_dataset(data, dir / "p.h5", test::model_path(), pair_options()), InputError,
                    (data / "pairs.jsonl").string() + ": no such file");
  EXPECT_FALSE(fs::exists(dir / "p.h5"));
}

TEST(TokenizePairs, BadLinesAreNamed) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const std::string good = R"({"split":"train","prompt":"q","chosen":"a","rejected":"b"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"split\":\"train\",", "pairs.jsonl:3: not a JSON object"},
      {R"({"split":"train","prompt":"q","chosen":"a"})", "pairs.jsonl:3: the pair has no \"rejected\""},
      {R"({"split":"train","prompt":"q","rejected":"b"})", "pairs.jsonl:3: the pair has no \"chosen\""},
      {R"({"split":"train","chosen":"a","rejected":"b"})", "pairs.jsonl:3: the pair has no \"prompt\""},
      {R"({"split":"dev","prompt":"q","chosen":"a","rejected":"b"})", "pairs.jsonl:3: unknown split 'dev'"},
      {R"({"split":"train","prompt":"q","chosen":7,"rejected":"b"})", "pairs.jsonl:3: \"chosen\" is not a string"},
  };
  for (const auto& [line, message] : cases) {
    const fs::path data = pairs_dir(dir, good + "\n\n" + line + "\n");
    EXPECT_HONE_ERROR(tokenize_dataset(data, dir / "p.h5", test::model_path(), pair_options()), InputError, message);
    EXPECT_FALSE(fs::exists(dir / "p.h5"));
  }
  const fs::path empty = pairs_dir(dir, "\n");
  EXPECT_HONE_ERROR(tokenize_dataset(empty, dir / "p.h5", test::model_path(), pair_options()), InputError,
                    "pairs.jsonl: no preference pairs");
}

// An answer cut away entirely leaves nothing to compare: an error naming the line and the answer.
// --truncation left keeps both answers and the pair.
TEST(TokenizePairs, AnAnswerTruncatedAwayIsAnErrorNamingTheLine) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const std::string long_prompt(400, 'w');
  const fs::path data = pairs_dir(dir, R"({"split":"train","prompt":"q","chosen":"a","rejected":"b"})" "\n"
                                       R"({"split":"train","prompt":")" + long_prompt +
                                           R"(","chosen":"card_arrival","rejected":"lost_or_stolen_card"})" "\n");
  TokenizeOptions o = pair_options();
  o.max_len = 64;
  EXPECT_HONE_ERROR(tokenize_dataset(data, dir / "p.h5", test::model_path(), o), InputError,
                    "pairs.jsonl:2 (chosen): example of");
  o.truncation = Truncation::kRight;
  EXPECT_HONE_ERROR(tokenize_dataset(data, dir / "p.h5", test::model_path(), o), InputError,
                    "pairs.jsonl:2 (chosen): no loss token is left after truncation to --max-len 64");
  EXPECT_FALSE(fs::exists(dir / "p.h5"));
  o.truncation = Truncation::kLeft;
  const TokenizeReport r = tokenize_dataset(data, dir / "p.h5", test::model_path(), o);
  EXPECT_EQ(r.pairs.at("train"), 2);
  EXPECT_EQ(r.truncated.at("train"), 1) << "one pair, both of its answers cut";
  const TokenStore store = read_token_store(dir / "p.h5");
  const TokenSplit& s = store.splits.at("train");
  ASSERT_EQ(s.sequences(), 4);
  EXPECT_EQ(s.example_offsets[4] - s.example_offsets[3], 64);
}

TEST(TokenizePairs, CliCountsPairsAndRefusesPack) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const fs::path data = pairs_dir(dir, kPairs);
  auto r = test::run_hone({"tokenize", data.string(), "--pairs", "-m", test::model_path(), "-o", (dir / "p.h5").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  train 2 pairs, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  valid 1 pairs, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", 4 sequences"), std::string::npos) << r.out;
  auto packed = test::run_hone(
      {"tokenize", data.string(), "--pairs", "--pack", "-m", test::model_path(), "-o", (dir / "q.h5").string()});
  EXPECT_EQ(packed.exit_code, 2);
  EXPECT_NE(packed.err.find("--pairs cannot be combined with --pack"), std::string::npos) << packed.err;
  EXPECT_FALSE(fs::exists(dir / "q.h5"));
}

}  // namespace
}  // namespace hone::data
