// hone ingest --format corrections: eval predictions (or any rows with a prompt, the model's output
// and a correction) into SFT splits and pairs.jsonl, byte for byte; the manifest's counts; the
// label set from a data directory or a text file; bad rows (exit 3 naming file:line, or
// rejects.jsonl) and no output left behind on error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "data/corrections.h"
#include "data/ingest.h"
#include "ingest_fixtures.h"
#include "text/sha256.h"

namespace hone::test {
namespace {

using data::IngestOptions;
using data::OnError;
using data::RecordFormat;

// The id ingest gives a canonical record: the first 8 bytes of its SHA-256, as 16 hex digits.
std::string id_of(const std::string& canonical) {
  Sha256 sha;
  sha.update(canonical);
  const auto d = sha.digest();
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += fmt::format("{:02x}", d[i]);
  return hex;
}

IngestOptions corrections(IngestOptions o = all_train()) {
  o.format = RecordFormat::kCorrections;
  return o;
}

// Rows as hone eval writes them to predictions.jsonl, with a reviewer's "correction" on some.
const std::string kPredictions =
    // 1: corrected; the output is "scored" (the first of output, scored, generated present)
    R"({"model":"tuned","id":"9764ec6f68a6b0d4","prompt":"I am still waiting on my card?","system":"Classify the banking query.","gold":"card_arrival","scored":"order_physical_card","scored_top":["order_physical_card","card_arrival"],"scored_correct":false,"generated":"order_physical_card","confidence":0.53,"correction":"card_arrival"})"
    "\n"
    // 2: the correction equals the output: unchanged
    R"({"model":"tuned","id":"a1","prompt":"How do I top up?","system":"Classify the banking query.","gold":"top_up","scored":"top_up","correction":"top_up"})"
    "\n"
    // 3: no correction (a reviewer saw only some rows): uncorrected
    R"({"model":"tuned","id":"a2","prompt":"Where is my refund?","system":"Classify the banking query.","gold":"refund","scored":"refund"})"
    "\n"
    // 4: a null correction: uncorrected
    R"({"model":"tuned","id":"a3","prompt":"Card declined","scored":"declined_card_payment","correction":null})"
    "\n"
    // 5: no system, only "generated" (kept with its newline as the rejected answer)
    R"({"model":"tuned","id":"a4","prompt":"Say hi","generated":"Sure!\n","correction":"Hi."})"
    "\n"
    // 6: row 1 again from another model: the same example, dropped as a duplicate
    R"({"model":"base","id":"9764ec6f68a6b0d4","prompt":"I am still waiting on my card?","system":"Classify the banking query.","gold":"card_arrival","scored":"lost_or_stolen_card","correction":"card_arrival"})"
    "\n"
    // 7: a generation that differs from the correction only by whitespace: unchanged
    R"({"model":"tuned","id":"a5","prompt":"Exchange rate?","generated":"exchange_rate\n","correction":"exchange_rate"})"
    "\n";

TEST(IngestCorrections, PredictionsGiveSplitsAndPairsExactly) {
  TempDir t;
  write_bytes(t / "predictions.jsonl", kPredictions);
  const auto r = data::ingest({t / "predictions.jsonl"}, t / "out", corrections());
  const std::string id1 =
      id_of(R"({"format":"completion","prompt":"I am still waiting on my card?","completion":"card_arrival"})");
  const std::string id5 = id_of(R"({"format":"completion","prompt":"Say hi","completion":"Hi."})");
  EXPECT_EQ(
      read_bytes(t / "out" / "train.jsonl"),
      R"({"id":")" + id1 +
          R"(","format":"completion","system":"Classify the banking query.","prompt":"I am still waiting on my card?","completion":"card_arrival"})"
          "\n"
          R"({"id":")" +
          id5 +
          R"(","format":"completion","prompt":"Say hi","completion":"Hi."})"
          "\n");
  EXPECT_EQ(read_bytes(t / "out" / "valid.jsonl"), "");
  EXPECT_EQ(read_bytes(t / "out" / "test.jsonl"), "");
  EXPECT_EQ(
      read_bytes(t / "out" / "pairs.jsonl"),
      R"({"id":")" + id1 +
          R"(","split":"train","system":"Classify the banking query.","prompt":"I am still waiting on my card?","chosen":"card_arrival","rejected":"order_physical_card"})"
          "\n"
          R"({"id":")" +
          id5 +
          R"(","split":"train","prompt":"Say hi","chosen":"Hi.","rejected":"Sure!\n"})"
          "\n");
  EXPECT_EQ(r.counts.train, 2u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.corrections.pairs, 2u);
  EXPECT_FALSE(fs::exists(t / "out" / "rejects.jsonl"));
}

TEST(IngestCorrections, ManifestCountsUnchangedAndUncorrected) {
  TempDir t;
  write_bytes(t / "predictions.jsonl", kPredictions);
  data::ingest({t / "predictions.jsonl"}, t / "out", corrections());
  const auto m = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(m["corrections"], nlohmann::json::parse(R"({"pairs":2,"confirmed":0,"unchanged":2,"uncorrected":2,
                                                       "output_fields":{"scored":1,"generated":1}})"));
  EXPECT_EQ(m["duplicates"], 1);
  EXPECT_EQ(m["inputs"][0]["records"], 7);
  EXPECT_EQ(m["inputs"][0]["format"], "corrections");
  EXPECT_EQ(m["options"]["format"], "corrections");
  EXPECT_EQ(m["options"]["correction_field"], "correction");
  EXPECT_EQ(m["options"]["output_field"], "");
  EXPECT_EQ(m["options"]["labels"], "");
  EXPECT_FALSE(m.contains("labels"));
  // Other formats write no "corrections" object and no pairs.jsonl.
  write_bytes(t / "plain.jsonl", "{\"text\": \"a\"}\n");
  data::ingest({t / "plain.jsonl"}, t / "plain", all_train());
  EXPECT_FALSE(nlohmann::json::parse(read_bytes(t / "plain" / "manifest.json")).contains("corrections"));
  EXPECT_FALSE(fs::exists(t / "plain" / "pairs.jsonl"));
}

// The row's own system message wins; --system fills in for rows without one, after the id.
// --confirmed-pairs: a confirmed answer becomes a pair against the runner-up (a runner_up field,
// else scored_top's second label); a confirmed row without one stays unchanged.
TEST(IngestCorrections, ConfirmedPairsAgainstTheRunnerUp) {
  TempDir t;
  write_bytes(t / "in.jsonl",
              R"({"id":"b1","prompt":"Where is my card?","scored":"card_arrival","scored_top":[["card_arrival",-0.1],["card_delivery_estimate",-2.5]],"correction":"card_arrival"})"
              "\n"
              R"({"id":"b2","prompt":"Top up failed","output":"top_up_failed","runner_up":"top_up_reverted","correction":"top_up_failed"})"
              "\n"
              R"({"id":"b3","prompt":"Refund?","scored":"refund","correction":"refund"})"
              "\n"
              R"({"id":"b4","prompt":"Rate?","scored":"exchange_rate","correction":"exchange_charge"})"
              "\n");
  IngestOptions o = corrections();
  o.confirmed_pairs = true;
  data::ingest({t / "in.jsonl"}, t / "out", o);
  const auto pairs = read_jsonl(t / "out" / "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0]["chosen"], "card_arrival");
  EXPECT_EQ(pairs[0]["rejected"], "card_delivery_estimate");
  EXPECT_EQ(pairs[1]["chosen"], "top_up_failed");
  EXPECT_EQ(pairs[1]["rejected"], "top_up_reverted");
  EXPECT_EQ(pairs[2]["chosen"], "exchange_charge");
  EXPECT_EQ(pairs[2]["rejected"], "exchange_rate");
  const auto m = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(m["corrections"]["pairs"], 3);
  EXPECT_EQ(m["corrections"]["confirmed"], 2);
  EXPECT_EQ(m["corrections"]["unchanged"], 1);
  EXPECT_EQ(m["options"]["confirmed_pairs"], true);
  // Without the option the confirmed rows are unchanged, and a malformed scored_top is a bad row.
  data::ingest({t / "in.jsonl"}, t / "plain", corrections());
  EXPECT_EQ(read_jsonl(t / "plain" / "pairs.jsonl").size(), 1u);
  write_bytes(t / "bad.jsonl", R"({"prompt":"x","scored":"a","scored_top":["a","b"],"correction":"a"})" "\n");
  EXPECT_THROW(data::ingest({t / "bad.jsonl"}, t / "bad", o), InputError);
}

TEST(IngestCorrections, SystemFromTheRowElseTheOption) {
  TempDir t;
  write_bytes(t / "predictions.jsonl", kPredictions);
  IngestOptions o = corrections();
  o.system = "Be brief.";
  data::ingest({t / "predictions.jsonl"}, t / "out", o);
  const auto pairs = read_jsonl(t / "out" / "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0]["system"], "Classify the banking query.");
  EXPECT_EQ(pairs[1]["system"], "Be brief.");
  const auto train = read_jsonl(t / "out" / "train.jsonl");
  EXPECT_EQ(train[1]["system"], "Be brief.");
  EXPECT_EQ(train[1]["id"], id_of(R"({"format":"completion","prompt":"Say hi","completion":"Hi."})"));
}

// Across three splits: every pair names the split its example was written to, and pairs.jsonl
// follows the order the examples were read in (as each split file does).
TEST(IngestCorrections, PairsFollowTheSplitsOfTheirExamples) {
  TempDir t;
  std::string rows;
  for (int i = 0; i < 60; ++i)
    rows += fmt::format(R"({{"prompt":"question {}","output":"wrong {}","correction":"right {}"}})"
                        "\n",
                        i, i, i);
  write_bytes(t / "reviewed.jsonl", rows);
  IngestOptions o = corrections(IngestOptions{});
  o.split = {0.4, 0.3, 0.3};
  const auto r = data::ingest({t / "reviewed.jsonl"}, t / "out", o);
  EXPECT_GT(r.counts.train, 0u);
  EXPECT_GT(r.counts.valid, 0u);
  EXPECT_GT(r.counts.test, 0u);
  std::map<std::string, std::string> split_of;
  std::map<std::string, std::string> prompt_of;
  for (const char* split : {"train", "valid", "test"})
    for (const auto& ex : read_jsonl(t / "out" / (std::string(split) + ".jsonl"))) {
      split_of[ex["id"]] = split;
      prompt_of[ex["id"]] = ex["prompt"];
    }
  const auto pairs = read_jsonl(t / "out" / "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 60u);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::string id = pairs[i]["id"];
    EXPECT_EQ(pairs[i]["split"], split_of[id]) << id;
    EXPECT_EQ(pairs[i]["prompt"], prompt_of[id]) << id;
    EXPECT_EQ(pairs[i]["prompt"], fmt::format("question {}", i));
    EXPECT_EQ(pairs[i]["chosen"], fmt::format("right {}", i));
    EXPECT_EQ(pairs[i]["rejected"], fmt::format("wrong {}", i));
  }
}

// --correction-field gold: an eval of labelled traffic becomes corrections where the model was
// wrong. Through the binary, from a gzipped predictions file.
TEST(IngestCorrections, CorrectionFieldGoldThroughTheCli) {
  TempDir t;
  write_gz(
      t / "predictions.jsonl.gz",
      R"({"model":"tuned","prompt":"I am still waiting on my card?","gold":"card_arrival","scored":"order_physical_card"})"
      "\n"
      R"({"model":"tuned","prompt":"How do I top up?","gold":"top_up","scored":"top_up"})"
      "\n");
  const auto r = run_hone({"ingest", (t / "predictions.jsonl.gz").string(), "-o", (t / "out").string(), "--format",
                           "corrections", "--correction-field", "gold", "--split-ratios", "1,0,0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pairs 1  unchanged 1  uncorrected 0"), std::string::npos) << r.out;
  const auto pairs = read_jsonl(t / "out" / "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0]["chosen"], "card_arrival");
  EXPECT_EQ(pairs[0]["rejected"], "order_physical_card");
  EXPECT_EQ(pairs[0].size(), 5u);  // id, split, prompt, chosen, rejected: no system
  const auto train = read_jsonl(t / "out" / "train.jsonl");
  ASSERT_EQ(train.size(), 1u);
  EXPECT_EQ(train[0]["completion"], "card_arrival");
  EXPECT_FALSE(train[0].contains("label"));  // no label set given
}

// --output-field names the output; without it a row with none of the usual fields is bad.
TEST(IngestCorrections, OutputFieldOption) {
  TempDir t;
  write_bytes(t / "rows.jsonl", R"({"prompt":"p","answer":"a","scored":"s","correction":"c"})"
                                "\n");
  IngestOptions o = corrections();
  o.output_field = "answer";
  data::ingest({t / "rows.jsonl"}, t / "out", o);
  EXPECT_EQ(read_jsonl(t / "out" / "pairs.jsonl")[0]["rejected"], "a");
  EXPECT_EQ(nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"))["corrections"]["output_fields"],
            nlohmann::json::parse(R"({"answer":1})"));
  write_bytes(t / "none.jsonl", R"({"prompt":"p","correction":"c"})"
                                "\n");
  EXPECT_HONE_ERROR(data::ingest({t / "none.jsonl"}, t / "out2", corrections()), InputError,
                    "none.jsonl:1: no model output: none of the fields 'output', 'scored', 'generated'");
  o.output_field = "reply";
  EXPECT_HONE_ERROR(data::ingest({t / "rows.jsonl"}, t / "out2", o), InputError,
                    "rows.jsonl:1: field 'reply' (the model's output) is missing");
  EXPECT_FALSE(fs::exists(t / "out2"));
}

// The label set from an ingested classification directory: each example gets its label, the
// manifest lists every label of the set, and a corrected example has the id of the same labelled
// example in the source data.
TEST(IngestCorrections, LabelsFromADataDirectory) {
  TempDir t;
  write_bytes(t / "banking.jsonl", R"({"text":"I am still waiting on my card?","label":"card_arrival"})"
                                   "\n"
                                   R"({"text":"How do I top up?","label":"top_up"})"
                                   "\n"
                                   R"({"text":"Card declined","label":"declined_card_payment"})"
                                   "\n");
  IngestOptions source = all_train();
  source.format = RecordFormat::kClassification;
  data::ingest({t / "banking.jsonl"}, t / "data", source);
  write_bytes(t / "predictions.jsonl",
              R"({"prompt":"I am still waiting on my card?","scored":"top_up","gold":"card_arrival"})"
              "\n");
  IngestOptions o = corrections();
  o.correction_field = "gold";
  o.labels = (t / "data").string();
  data::ingest({t / "predictions.jsonl"}, t / "out", o);
  const auto train = read_jsonl(t / "out" / "train.jsonl");
  ASSERT_EQ(train.size(), 1u);
  EXPECT_EQ(train[0]["label"], "card_arrival");
  EXPECT_EQ(train[0]["id"], read_jsonl(t / "data" / "train.jsonl")[0]["id"]);
  const auto m = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(m["labels"], nlohmann::json::parse(R"({"card_arrival":{"train":1,"valid":0,"test":0},
      "declined_card_payment":{"train":0,"valid":0,"test":0},"top_up":{"train":0,"valid":0,"test":0}})"));
  EXPECT_EQ(m["options"]["labels"], (t / "data").string());
  // A directory without labels is not a label set.
  write_bytes(t / "text.jsonl", "{\"text\": \"a\"}\n");
  data::ingest({t / "text.jsonl"}, t / "textdata", all_train());
  o.labels = (t / "textdata").string();
  EXPECT_HONE_ERROR(data::ingest({t / "predictions.jsonl"}, t / "out2", o), InputError,
                    "manifest.json: no 'labels' (not a classification data set)");
  EXPECT_FALSE(fs::exists(t / "out2"));
}

const std::string kLabelled = R"({"prompt":"a","scored":"order_physical_card","correction":"card_arrival"})"
                              "\n"
                              R"({"prompt":"b","scored":"card_arrival","correction":"card_arival"})"
                              "\n"
                              R"({"prompt":"c","scored":"card_arrival","correction":"order_physical_card"})"
                              "\n";

TEST(IngestCorrections, LabelsFromATextFile) {
  TempDir t;
  write_bytes(t / "labels.txt", "card_arrival\n  order_physical_card \r\n\n");
  write_bytes(t / "ok.jsonl", R"({"prompt":"a","scored":"order_physical_card","correction":"card_arrival"})"
                              "\n");
  IngestOptions o = corrections();
  o.labels = (t / "labels.txt").string();
  data::ingest({t / "ok.jsonl"}, t / "out", o);
  EXPECT_EQ(read_jsonl(t / "out" / "train.jsonl")[0]["label"], "card_arrival");
  const auto m = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(m["labels"].size(), 2u);
  EXPECT_EQ(m["labels"]["order_physical_card"]["train"], 0);
  write_bytes(t / "rows.jsonl", kLabelled);
  EXPECT_HONE_ERROR(data::ingest({t / "rows.jsonl"}, t / "out2", o), InputError,
                    (t / "rows.jsonl").string() + ":2: correction 'card_arival' is not one of the 2 labels of " +
                        (t / "labels.txt").string());
  o.labels = (t / "missing.txt").string();
  EXPECT_HONE_ERROR(data::ingest({t / "ok.jsonl"}, t / "out2", o), InputError, "missing.txt: no such file");
  write_bytes(t / "empty.txt", "\n \n");
  o.labels = (t / "empty.txt").string();
  EXPECT_HONE_ERROR(data::ingest({t / "ok.jsonl"}, t / "out2", o), InputError, "empty.txt: no labels");
  EXPECT_FALSE(fs::exists(t / "out2"));
}

TEST(IngestCorrections, UnknownLabelExits3NamingTheLineOrSkipsToRejects) {
  TempDir t;
  write_bytes(t / "labels.txt", "card_arrival\norder_physical_card\n");
  write_bytes(t / "rows.jsonl", kLabelled);
  const std::vector<std::string> args = {"ingest",
                                         (t / "rows.jsonl").string(),
                                         "-o",
                                         (t / "out").string(),
                                         "--format",
                                         "corrections",
                                         "--labels",
                                         (t / "labels.txt").string(),
                                         "--split-ratios",
                                         "1,0,0"};
  auto r = run_hone(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("rows.jsonl:2: correction 'card_arival' is not one of the 2 labels"), std::string::npos)
      << r.err;
  expect_nothing_left(t, {"labels.txt", "rows.jsonl"});

  std::vector<std::string> skip = args;
  skip.insert(skip.end(), {"--on-error", "skip"});
  r = run_hone(skip);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rejects = read_jsonl(t / "out" / "rejects.jsonl");
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0]["line"], 2);
  EXPECT_EQ(rejects[0]["reason"],
            "correction 'card_arival' is not one of the 2 labels of " + (t / "labels.txt").string());
  const auto pairs = read_jsonl(t / "out" / "pairs.jsonl");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0]["prompt"], "a");
  EXPECT_EQ(pairs[1]["prompt"], "c");
  EXPECT_EQ(read_jsonl(t / "out" / "train.jsonl").size(), 2u);
  const auto m = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(m["skipped"]["reasons"]["unknown_label"], 1);
  EXPECT_EQ(m["corrections"]["pairs"], 2);
}

TEST(IngestCorrections, MissingPromptExits3NamingTheLine) {
  TempDir t;
  write_bytes(t / "p.jsonl", R"({"prompt":"a","scored":"x","correction":"y"})"
                             "\n"
                             R"({"scored":"x","correction":"y"})"
                             "\n");
  const auto r = run_hone({"ingest", (t / "p.jsonl").string(), "-o", (t / "out").string(), "--format", "corrections"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("p.jsonl:2: field 'prompt' is missing"), std::string::npos) << r.err;
  expect_nothing_left(t, {"p.jsonl"});
}

// Non-string values are bad rows whatever their correction (even an uncorrected one).
TEST(IngestCorrections, WrongTypesAreBadRows) {
  const auto expect_bad = [](const std::string& row, const std::string& message) {
    TempDir t;
    write_bytes(t / "w.jsonl", R"({"prompt":"a","scored":"x","correction":"y"})"
                               "\n" +
                                   row + "\n");
    EXPECT_HONE_ERROR(data::ingest({t / "w.jsonl"}, t / "out", corrections()), InputError, "w.jsonl:2: " + message);
    expect_nothing_left(t, {"w.jsonl"});
  };
  expect_bad(R"({"prompt":["a"],"scored":"x","correction":"y"})", "field 'prompt' must be a string, got array");
  expect_bad(R"({"prompt":"a","scored":3,"correction":"y"})", "field 'scored' must be a string, got number");
  expect_bad(R"({"prompt":"a","scored":"x","correction":{"label":"y"}})",
             "field 'correction' must be a string, got object");
  expect_bad(R"({"prompt":"a","scored":"x","correction":" "})", "field 'correction' (the correction) is empty");
  expect_bad(R"({"prompt":"a","scored":"x","system":1})", "field 'system' must be a string, got number");
  expect_bad(R"({"prompt":" ","scored":"x"})", "field 'prompt' is empty");
}

TEST(IngestCorrections, BadOptionsExitWith2) {
  TempDir t;
  write_bytes(t / "a.jsonl", "{\"text\": \"x\", \"label\": \"y\"}\n");
  write_bytes(t / "labels.txt", "y\n");
  const auto r = run_hone({"ingest", (t / "a.jsonl").string(), "-o", (t / "out").string(), "--format", "classification",
                           "--labels", (t / "labels.txt").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--labels applies to --format corrections"), std::string::npos) << r.err;
  expect_nothing_left(t, {"a.jsonl", "labels.txt"});
}

}  // namespace
}  // namespace hone::test
