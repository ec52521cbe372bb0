// hone tokenize DIR -o FILE.h5: loss masks, packing, truncation, determinism across thread
// counts, the tokenizer fingerprint check, and atomic output.
#include "data/tokenize.h"

#include <set>
#include <sstream>

#include "data/token_store.h"
#include "helpers.h"
#include "ingest_fixtures.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace hone::data {
namespace {

using test::TempDir;

std::string slice_text(const Tokenizer& tok, const TokenSplit& s, std::int64_t begin, std::int64_t end, bool loss_only) {
  std::vector<std::int32_t> ids;
  for (std::int64_t t = begin; t < end; ++t)
    if (!loss_only || s.loss_mask[static_cast<std::size_t>(t)]) ids.push_back(s.input_ids[static_cast<std::size_t>(t)]);
  return tok.decode(ids);
}

// Ingests `jsonl` into the train split (one input file per record format: ingest detects the
// format per file) and tokenizes it with SmolLM2.
TokenStore make_store(const TempDir& dir, const std::string& jsonl, const TokenizeOptions& o, const char* name = "s.h5") {
  if (!fs::exists(dir / "data")) {
    fs::create_directories(dir / "in");
    std::map<std::string, std::string> by_format;  // first key of the record -> lines
    std::istringstream in(jsonl);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) by_format[line.substr(0, line.find(':'))] += line + "\n";
    const char* names[] = {"train.jsonl", "training.jsonl"};
    std::vector<fs::path> inputs;
    for (const auto& [key, lines] : by_format) {
      inputs.push_back(dir / "in" / names[inputs.size()]);
      test::write_bytes(inputs.back(), lines);
    }
    ingest(inputs, dir / "data", IngestOptions{});
  }
  tokenize_dataset(dir / "data", dir / name, test::model_path(), o);
  return read_token_store(dir / name);
}

const char* kMixed =
    R"({"prompt":"Where is my card?","completion":"card_arrival"})" "\n"
    R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Bye"},{"role":"assistant","content":"Goodbye."}]})" "\n";

TEST(Tokenize, LossFallsOnAnswersAndTheirEndOfTurnToken) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const TokenStore st = make_store(dir, kMixed, {});
  const auto tok = Tokenizer::load(test::model_path());
  const TokenSplit& s = st.splits.at("train");
  ASSERT_EQ(s.examples(), 2);
  EXPECT_EQ(st.meta.tokenizer_fingerprint, tok->fingerprint());
  EXPECT_EQ(st.meta.template_name, "chat");
  EXPECT_EQ(st.meta.chat_template, tok->chat_template());
  std::map<std::string, std::string> loss_text, full_text;
  for (std::int64_t i = 0; i < 2; ++i) {
    const std::string full = slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], false);
    loss_text[full] = slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], true);
  }
  // The whole example is the chat template's rendering (SmolLM2 adds its default system turn).
  const std::string completion =
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
      "<|im_start|>user\nWhere is my card?<|im_end|>\n<|im_start|>assistant\ncard_arrival<|im_end|>\n";
  const std::string chat = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                           "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                           "<|im_start|>assistant\nGoodbye.<|im_end|>\n";
  ASSERT_EQ(loss_text.count(completion), 1u);
  ASSERT_EQ(loss_text.count(chat), 1u);
  EXPECT_EQ(loss_text[completion], "card_arrival<|im_end|>");
  EXPECT_EQ(loss_text[chat], "Hello!<|im_end|>Goodbye.<|im_end|>");

  TokenizeOptions all;
  all.train_on_prompt = true;
  const TokenStore everything = make_store(dir, kMixed, all, "all.h5");
  const TokenSplit& e = everything.splits.at("train");
  EXPECT_EQ(std::count(e.loss_mask.begin(), e.loss_mask.end(), 0), 0) << "--train-on-prompt: loss on every token";
  EXPECT_EQ(e.tokens(), st.splits.at("train").tokens());
}

TEST(Tokenize, TextRecordsWithoutTemplateEndWithEos) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  TokenizeOptions o;
  o.template_mode = data::TemplateMode::kNone;
  const TokenStore st = make_store(dir, R"({"text":"plain words"})" "\n" R"({"prompt":"2+2=","completion":"4"})" "\n", o);
  const auto tok = Tokenizer::load(test::model_path());
  const TokenSplit& s = st.splits.at("train");
  std::set<std::string> loss;
  for (std::int64_t i = 0; i < s.examples(); ++i)
    loss.insert(slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], true));
  EXPECT_EQ(loss, (std::set<std::string>{"plain words<|im_end|>", "4<|im_end|>"}));
  EXPECT_EQ(st.meta.template_name, "none");
}

// A completion's system message (ingest --system) replaces the template's default system turn
// ("" gives an empty one); without a template it leads the prompt, a blank line before it.
TEST(Tokenize, SystemMessageOfCompletionRecords) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  const auto tok = Tokenizer::load(test::model_path());
  const ChatTemplate chat = ChatTemplate::from_tokenizer(*tok);
  const ExampleFormat with_chat{tok.get(), &chat, tok->stop_ids(), false};
  const ExampleFormat no_template{tok.get(), nullptr, tok->stop_ids(), false};
  auto render = [&](const ExampleFormat& f, const std::string& line, bool loss_only) {
    const TokenizedExample ex = tokenize_example(f, line, "t:1");
    std::vector<std::int32_t> ids;
    for (std::size_t i = 0; i < ex.ids.size(); ++i)
      if (!loss_only || ex.loss[i]) ids.push_back(ex.ids[i]);
    return tok->decode(ids);
  };
  const std::string empty = R"({"format":"completion","system":"","prompt":"Where is my card?","completion":"card_arrival"})";
  const std::string task = R"({"format":"completion","system":"Classify.","prompt":"Where is my card?","completion":"card_arrival"})";
  EXPECT_EQ(render(with_chat, empty, false),
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nWhere is my card?<|im_end|>\n"
            "<|im_start|>assistant\ncard_arrival<|im_end|>\n");
  EXPECT_EQ(render(with_chat, task, false),
            "<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\nWhere is my card?<|im_end|>\n"
            "<|im_start|>assistant\ncard_arrival<|im_end|>\n");
  EXPECT_EQ(render(with_chat, task, true), "card_arrival<|im_end|>");
  EXPECT_EQ(render(no_template, task, false), "Classify.\n\nWhere is my card?card_arrival<|im_end|>");
  EXPECT_EQ(render(no_template, task, true), "card_arrival<|im_end|>");
}

// --chat-template renders with a file's template instead of the model's (recorded in the store);
// the loss still covers every assistant turn with its end-of-turn token, and nothing else.
TEST(Tokenize, ChatTemplateFileReplacesTheModelsOwn) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const std::string jinja =
      "{% for m in messages %}{{ '<|im_start|>' + ('bot' if m.role == 'assistant' else m.role) + '\n' + "
      "m.content | trim + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>bot\n' }}"
      "{% endif %}";
  test::write_bytes(dir / "t.jinja", jinja);
  TokenizeOptions o;
  o.chat_template = dir / "t.jinja";
  const TokenStore st = make_store(dir, kMixed, o);
  EXPECT_EQ(st.meta.chat_template, jinja);
  const auto tok = Tokenizer::load(test::model_path());
  const TokenSplit& s = st.splits.at("train");
  std::set<std::string> full, loss;
  for (std::int64_t i = 0; i < s.examples(); ++i) {
    full.insert(slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], false));
    loss.insert(slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], true));
  }
  EXPECT_EQ(full.count("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>bot\n"
                       "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>bot\nGoodbye.<|im_end|>\n"),
            1u);
  EXPECT_EQ(loss, (std::set<std::string>{"card_arrival<|im_end|>", "Hello!<|im_end|>Goodbye.<|im_end|>"}));
}

// A template whose generation prompt is not the start of the assistant turn it renders later (an
// empty think block opened only by the prompt) has no place for the loss mask: it is refused.
TEST(Tokenize, TemplatesThatAreNotPrefixesAreRefused) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  test::write_bytes(dir / "t.jinja",
                    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}"
                    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n<think>\n\n</think>\n\n' }}"
                    "{% endif %}");
  TokenizeOptions o;
  o.chat_template = dir / "t.jinja";
  try {
    make_store(dir, kMixed, o);
    ADD_FAILURE() << "the template must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find("does not extend its rendering of the messages before it"), std::string::npos)
        << e.message();
    EXPECT_NE(e.hint().find("--chat-template"), std::string::npos) << e.hint();
  }
}

TEST(Tokenize, PackingKeepsWholeExamplesWithinMaxLen) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  std::string jsonl;
  for (int i = 0; i < 40; ++i)
    jsonl += R"({"prompt":"question )" + std::to_string(i) + R"(","completion":"answer )" + std::string(i % 7, 'x') + "\"}\n";
  TokenizeOptions o;
  o.pack = true;
  o.max_len = 128;
  const TokenStore packed = make_store(dir, jsonl, o, "p.h5");
  const TokenSplit& s = packed.splits.at("train");
  EXPECT_EQ(s.examples(), 40);
  EXPECT_LT(s.sequences(), 40);
  for (std::int64_t j = 0; j < s.sequences(); ++j) {
    const auto first = s.sequence_offsets[j], last = s.sequence_offsets[j + 1];
    EXPECT_GT(last, first);
    EXPECT_LE(s.example_offsets[last] - s.example_offsets[first], 128) << "sequence " << j;
  }
  o.pack = false;
  const TokenStore plain = make_store(dir, jsonl, o, "u.h5");
  EXPECT_EQ(plain.splits.at("train").input_ids, s.input_ids) << "packing reorders nothing";
  EXPECT_EQ(plain.splits.at("train").sequences(), 40);
}

TEST(Tokenize, OutputDoesNotDependOnThreadCount) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  std::string jsonl;
  for (int i = 0; i < 300; ++i) jsonl += R"({"prompt":"q)" + std::to_string(i * 7919 % 1000) + R"(","completion":"a)" + std::to_string(i) + "\"}\n";
  TokenizeOptions one, two;
  one.threads = 1;
  two.threads = 3;
  make_store(dir, jsonl, one, "1.h5");
  make_store(dir, jsonl, two, "3.h5");
  const auto a = read_token_store(dir / "1.h5"), b = read_token_store(dir / "3.h5");
  EXPECT_EQ(a.splits.at("train").input_ids, b.splits.at("train").input_ids);
  EXPECT_EQ(a.splits.at("train").loss_mask, b.splits.at("train").loss_mask);
  EXPECT_EQ(a.splits.at("train").example_offsets, b.splits.at("train").example_offsets);
}

TEST(Tokenize, TruncationPoliciesAndNothingLeftOnError) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  const std::string jsonl = R"({"prompt":"a long question with many words in it","completion":"the answer"})" "\n";
  TokenizeOptions o;
  o.max_len = 16;
  EXPECT_HONE_ERROR(make_store(dir, jsonl, o, "e.h5"), InputError, "is longer than --max-len 16");
  EXPECT_FALSE(fs::exists(dir / "e.h5"));
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  o.truncation = Truncation::kLeft;
  const auto left = make_store(dir, jsonl, o, "l.h5");
  EXPECT_EQ(left.splits.at("train").tokens(), 16);
  EXPECT_EQ(left.splits.at("train").loss_mask.back(), 0) << "the trailing newline";
  o.truncation = Truncation::kRight;
  const auto right = make_store(dir, jsonl, o, "r.h5");
  EXPECT_EQ(right.splits.at("train").tokens(), 16);
  EXPECT_EQ(std::count(right.splits.at("train").loss_mask.begin(), right.splits.at("train").loss_mask.end(), 1), 0)
      << "cut from the right, the answer is gone";
}

TEST(Tokenize, StoreFromAnotherTokenizerIsRefused) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  TokenStoreMeta meta;
  meta.tokenizer_fingerprint = std::string(64, 'f');
  meta.vocab_size = 10;
  meta.model = "other.gguf";
  TokenSplit s;
  s.input_ids = {1, 2, 3};
  s.loss_mask = {0, 1, 1};
  s.example_offsets = {0, 3};
  s.sequence_offsets = {0, 1};
  write_token_store(dir / "other.h5", meta, {{"train", s}});
  const auto st = read_token_store(dir / "other.h5");
  const auto tok = Tokenizer::load(test::model_path());
  EXPECT_HONE_ERROR(check_tokenizer(st, dir / "other.h5", *tok, test::model_path()), InputError,
                    "the token store was made with tokenizer ffffffffffffffff (other.gguf), but");
  s.input_ids = {1, 2, 30};
  write_token_store(dir / "bad.h5", meta, {{"train", s}});
  EXPECT_HONE_ERROR(read_token_store(dir / "bad.h5"), InputError, "train/input_ids[2] = 30 is outside the vocabulary (size 10)");
  test::write_bytes(dir / "junk.h5", "not hdf5");
  EXPECT_HONE_ERROR(read_token_store(dir / "junk.h5"), InputError, "junk.h5: not an HDF5 file");
}

// Banking77 through ingest and tokenize: exactly the label's tokens and the end-of-turn token
// carry loss, for every example of both splits.
TEST(TokenizeBanking77, ExactlyTheLabelTokensCarryLoss) {
  if (!test::have_model() || !fs::exists(HONE_BANKING77_DIR)) GTEST_SKIP() << "no model or Banking77";
  TempDir dir;
  IngestOptions io;
  io.format = RecordFormat::kClassification;
  io.label_field = "category";
  ingest({fs::path(HONE_BANKING77_DIR) / "train.csv", fs::path(HONE_BANKING77_DIR) / "test.csv"}, dir / "data", io);
  TokenizeOptions o;
  o.max_len = 256;
  tokenize_dataset(dir / "data", dir / "b77.h5", test::model_path(), o);
  const TokenStore st = read_token_store(dir / "b77.h5");
  const auto tok = Tokenizer::load(test::model_path());
  for (const char* split : {"train", "test"}) {
    const auto rows = test::read_jsonl(dir / "data" / (std::string(split) + ".jsonl"));
    const TokenSplit& s = st.splits.at(split);
    ASSERT_EQ(s.examples(), static_cast<std::int64_t>(rows.size()));
    for (std::int64_t i = 0; i < s.examples(); ++i) {
      const std::string label = rows[static_cast<std::size_t>(i)]["label"].get<std::string>();
      ASSERT_EQ(slice_text(*tok, s, s.example_offsets[i], s.example_offsets[i + 1], true), label + "<|im_end|>")
          << split << " example " << i;
      // The loss tokens are the end of the example, but for the template's final newline.
      const auto end = s.example_offsets[i + 1];
      ASSERT_EQ(s.loss_mask[static_cast<std::size_t>(end - 1)], 0);
      ASSERT_EQ(s.loss_mask[static_cast<std::size_t>(end - 2)], 1);
    }
  }
}

}  // namespace
}  // namespace hone::data

namespace hone::data {
namespace {

TEST(TokenizeCli, SummaryAndExitCodes) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  TempDir dir;
  test::write_bytes(dir / "train.jsonl", R"({"prompt":"Where is my card?","completion":"card_arrival"})" "\n");
  ASSERT_EQ(test::run_hone({"ingest", (dir / "train.jsonl").string(), "-o", (dir / "data").string()}).exit_code, 0);
  auto r = test::run_hone({"tokenize", (dir / "data").string(), "-o", (dir / "s.h5").string(), "-m", test::model_path(),
                           "--pack", "--max-len", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 35 prompt tokens (SmolLM2's template adds its default system turn), 5 for "card_arrival<|im_end|>"
  // (the loss), 1 for the template's final newline.
  EXPECT_NE(r.out.find("train 1 examples, 41 tokens, 5 with loss, 1 sequences"), std::string::npos) << r.out;
  auto info = test::run_hone({"info", (dir / "s.h5").string()});
  EXPECT_NE(info.out.find("template chat (sha256 "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("), max_len 64, packed"), std::string::npos) << info.out;
  auto missing = test::run_hone({"tokenize", (dir / "nowhere").string(), "-o", (dir / "x.h5").string(), "-m", test::model_path()});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("nowhere: not a directory"), std::string::npos) << missing.err;
  auto no_out = test::run_hone({"tokenize", (dir / "data").string(), "-m", test::model_path()});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_NE(no_out.err.find("needs -o FILE.h5"), std::string::npos) << no_out.err;
  EXPECT_FALSE(fs::exists(dir / "x.h5"));
}

}  // namespace
}  // namespace hone::data

#include "data/train_spm.h"

namespace hone::data {
namespace {

TEST(TrainSpm, ModelTrainedOnTheIngestedTextLoadsAndRoundTrips) {
  TempDir dir;
  std::string jsonl;
  const char* words[] = {"card", "payment", "declined", "transfer", "pending", "refund", "exchange", "rate", "top up"};
  for (int i = 0; i < 400; ++i)
    jsonl += R"({"prompt":"my )" + std::string(words[i % 9]) + " is " + std::string(words[(i * 7) % 9]) + " " +
             std::to_string(i) + R"(","completion":")" + words[(i * 5) % 9] + "\"}\n";
  test::write_bytes(dir / "train.jsonl", jsonl);
  ingest({dir / "train.jsonl"}, dir / "data", IngestOptions{});
  SpmTrainOptions o;
  o.vocab_size = 320;
  EXPECT_GT(train_sentencepiece(dir / "data", dir / "spm" / "tokenizer.model", o), 400);
  const auto tok = Tokenizer::load(dir / "spm");
  EXPECT_EQ(tok->kind(), TokenizerKind::kSentencePiece);
  EXPECT_EQ(tok->vocab_size(), 320);
  for (const std::string text : {"my card is declined 42", "a refund ünïcödé 😀 never seen"}) {
    const auto ids = tok->encode(text, false, false);
    EXPECT_EQ(tok->decode(ids), text) << "byte fallback keeps every byte";
  }
  o.vocab_size = 100;
  EXPECT_HONE_ERROR(train_sentencepiece(dir / "data", dir / "x.model", o), UsageError, "--vocab-size must be at least 260");
  EXPECT_FALSE(fs::exists(dir / "x.model"));
}

}  // namespace
}  // namespace hone::data
