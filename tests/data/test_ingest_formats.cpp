// Every input type (JSONL, JSON array, CSV, TSV, TXT, and .gz of each) and record format, format
// auto-detection, canonical output, ids, duplicates, splits and the output directory's life cycle.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "data/ingest.h"
#include "ingest_fixtures.h"
#include "text/sha256.h"

namespace hone::test {
namespace {

using data::IngestOptions;
using data::RecordFormat;

TEST(IngestFormats, CanonicalLinesAndIdsForEachFormat) {
  TempDir t;
  write_bytes(t / "a.jsonl",
              "{\"text\": \"hello\\nworld\"}\n"
              "\n"  // a blank line is not a record
              "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n"
              "{\"instruction\": \"Add\", \"input\": \"2 and 2\", \"output\": \"4\"}\n"
              "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}\n"
              "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": "
              "\"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n"
              "{\"conversations\": [{\"from\": \"human\", \"value\": \"Q\"}, {\"from\": \"gpt\", \"value\": \"A\"}]}\n"
              "{\"text\": \"great\", \"label\": \"pos\"}\n");
  // Each record is read by the format of its own fields: give each its own file (auto-detection is
  // per input, from its first record).
  std::istringstream in(read_bytes(t / "a.jsonl"));
  std::string line;
  std::vector<data::fs::path> inputs;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    inputs.push_back(t / ("r" + std::to_string(n++) + ".jsonl"));
    write_bytes(inputs.back(), line + "\n");
  }
  const auto report = data::ingest(inputs, t / "out", all_train());
  EXPECT_EQ(report.counts.train, 7u);
  std::vector<std::string> formats;
  for (const auto& i : report.inputs) formats.push_back(i.format);
  EXPECT_EQ(formats, (std::vector<std::string>{"text", "prompt-completion", "alpaca", "alpaca", "chat", "chat",
                                                "classification"}));
  std::istringstream out(read_bytes(t / "out" / "train.jsonl"));
  std::vector<std::string> lines;
  while (std::getline(out, line)) lines.push_back(line);
  const std::vector<std::string> contents = {
      R"({"format":"text","text":"hello\nworld"})",
      R"({"format":"completion","prompt":"2+2=","completion":"4"})",
      R"({"format":"completion","prompt":"Add\n\n2 and 2","completion":"4"})",
      R"({"format":"completion","prompt":"Say hi","completion":"hi"})",
      R"({"format":"chat","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]})",
      R"({"format":"chat","messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]})",
      R"({"format":"completion","prompt":"great","completion":"pos","label":"pos"})"};
  ASSERT_EQ(lines.size(), contents.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    // id: the first 8 bytes (16 hex digits) of the SHA-256 of the line without its id member.
    const std::string id = sha256_hex(contents[i]).substr(0, 16);
    EXPECT_EQ(lines[i], "{\"id\":\"" + id + "\"," + contents[i].substr(1)) << i;
  }
  EXPECT_EQ(report.labels.at("pos").train, 1u);
}

TEST(IngestFormats, CsvQuotingAndTsv) {
  TempDir t;
  // RFC 4180: quoted fields hold commas, doubled quotes and line breaks (CRLF line ends too).
  write_bytes(t / "d.csv",
              "text,label\r\n"
              "plain,a\r\n"
              "\"with, comma\",b\r\n"
              "\"say \"\"hi\"\"\",c\r\n"
              "\"two\nlines\",d\r\n"
              "last,\"e\"\r\n");
  write_bytes(t / "d.tsv", "text\tlabel\nplain\ta\n\"tab\there\"\tb\n");
  IngestOptions o = all_train();
  const auto r = data::ingest({t / "d.csv", t / "d.tsv"}, t / "out", o);
  const auto rows = read_all(t / "out");
  ASSERT_EQ(rows.size(), 6u);  // "plain,a" appears in both: one duplicate
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(rows[1]["prompt"], "with, comma");
  EXPECT_EQ(rows[2]["prompt"], "say \"hi\"");
  EXPECT_EQ(rows[3]["prompt"], "two\nlines");
  EXPECT_EQ(rows[4]["label"], "e");
  EXPECT_EQ(rows[5]["prompt"], "tab\there");
  EXPECT_EQ(r.inputs[0].records, 5u);
  EXPECT_EQ(r.inputs[0].format, "classification");
}

TEST(IngestFormats, ClassificationTemplateAndFieldNames) {
  TempDir t;
  write_bytes(t / "b.csv", "text,category\nWhere is my card?,card_arrival\n");
  IngestOptions o = all_train();
  o.format = RecordFormat::kClassification;
  o.label_field = "category";
  o.prompt_template = "Classify: {text}\nIntent:";
  data::ingest({t / "b.csv"}, t / "out", o);
  const auto rows = read_all(t / "out");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["prompt"], "Classify: Where is my card?\nIntent:");
  EXPECT_EQ(rows[0]["completion"], "card_arrival");
  EXPECT_EQ(rows[0]["label"], "card_arrival");
}

// --system: a "system" field on completion records, a leading system turn on chats without one
// (a chat's own system turn is kept), and the same ids and splits as without it.
TEST(IngestFormats, SystemMessageKeepsIdsAndSplits) {
  TempDir t;
  write_bytes(t / "a.jsonl",
              "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n"
              "{\"prompt\": \"3+3=\", \"completion\": \"6\"}\n"
              "{\"prompt\": \"4+4=\", \"completion\": \"8\"}\n");
  write_bytes(t / "b.jsonl",
              "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n"
              "{\"messages\": [{\"role\": \"system\", \"content\": \"Own.\"}, {\"role\": \"user\", \"content\": \"Yo\"}, "
              "{\"role\": \"assistant\", \"content\": \"Hey\"}]}\n");
  IngestOptions o;
  o.split = {0.5, 0.25, 0.25};
  data::ingest({t / "a.jsonl", t / "b.jsonl"}, t / "plain", o);
  o.system = "Answer in digits.";
  data::ingest({t / "a.jsonl", t / "b.jsonl"}, t / "sys", o);
  o.system = "";
  data::ingest({t / "a.jsonl", t / "b.jsonl"}, t / "empty", o);
  for (const char* split : {"train", "valid", "test"}) {
    std::vector<std::string> a, b;
    for (const auto& r : read_jsonl(t / "plain" / (std::string(split) + ".jsonl"))) a.push_back(r["id"]);
    for (const auto& r : read_jsonl(t / "sys" / (std::string(split) + ".jsonl"))) b.push_back(r["id"]);
    EXPECT_EQ(a, b) << split << ": the system message moved an example";
  }
  std::map<std::string, nlohmann::json> by_first;  // first user text -> record
  for (const auto& r : read_all(t / "sys"))
    by_first[r.contains("prompt") ? r["prompt"].get<std::string>() : r["messages"].back()["content"].get<std::string>()] = r;
  ASSERT_EQ(by_first.size(), 5u);
  EXPECT_EQ(by_first["2+2="]["system"], "Answer in digits.");
  EXPECT_EQ(by_first["Hello"]["messages"].size(), 3u);
  EXPECT_EQ(by_first["Hello"]["messages"][0]["content"], "Answer in digits.");
  EXPECT_EQ(by_first["Hey"]["messages"][0]["content"], "Own.") << "a chat's own system turn is kept";
  EXPECT_EQ(by_first["Hey"]["messages"].size(), 3u);
  for (const auto& r : read_all(t / "empty")) {
    if (r.contains("prompt")) {
      EXPECT_EQ(r["system"], "");
    }
  }
  for (const auto& r : read_all(t / "plain")) EXPECT_FALSE(r.contains("system"));
}

TEST(IngestFormats, JsonArrayTextFilesAndGzipGiveTheSameExamples) {
  const std::string jsonl = "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c [x]\", \"completion\": \"d,}\"}\n";
  const std::string json = "[\n  {\"prompt\": \"a\",\n   \"completion\": \"b\"},\n  {\"prompt\": \"c [x]\", \"completion\": \"d,}\"}\n]\n";
  const std::string csv = "prompt,completion\na,b\nc [x],\"d,}\"\n";
  const std::string tsv = "prompt\tcompletion\na\tb\nc [x]\td,}\n";
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"x.jsonl", jsonl}, {"x.json", json}, {"x.csv", csv}, {"x.tsv", tsv}}) {
    TempDir t;
    write_bytes(t / name, bytes);
    write_gz(t / (name + ".gz"), bytes);
    data::ingest({t / name}, t / "plain", all_train());
    data::ingest({t / (name + ".gz")}, t / "gz", all_train());
    const std::string expected =
        read_bytes(t / "plain" / "train.jsonl");
    EXPECT_EQ(read_all(t / "plain").size(), 2u) << name;
    EXPECT_EQ(read_all(t / "plain")[1]["completion"], "d,}") << name;
    EXPECT_EQ(read_bytes(t / "gz" / "train.jsonl"), expected) << name;
    const auto manifest = nlohmann::json::parse(read_bytes(t / "gz" / "manifest.json"));
    EXPECT_EQ(manifest["inputs"][0]["sha256"], sha256_hex(read_bytes(t / (name + ".gz"))));
  }
  // Text: one document per file, or per blank-line-separated block; and gzipped.
  TempDir t;
  const std::string txt = "First block\nline two\n\n\n  \nSecond block\n";
  write_bytes(t / "doc.txt", txt);
  write_gz(t / "doc.txt.gz", txt);
  data::ingest({t / "doc.txt"}, t / "file", all_train());
  auto rows = read_all(t / "file");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["text"], "First block\nline two\n\n\n  \nSecond block");
  IngestOptions blocks = all_train();
  blocks.text_blocks = true;
  const auto r = data::ingest({t / "doc.txt.gz"}, t / "blocks", blocks);
  rows = read_all(t / "blocks");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["text"], "First block\nline two");
  EXPECT_EQ(rows[1]["text"], "Second block");
  EXPECT_EQ(r.inputs[0].format, "text");
}

TEST(IngestFormats, SplitsByNameByHashAndValidFromTrain) {
  TempDir t;
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += "{\"text\": \"doc " + std::to_string(i) + "\"}\n";
  lines += "{\"text\": \"doc 7\"}\n{\"text\": \"doc 7\"}\n";  // exact duplicates are dropped
  write_bytes(t / "all.jsonl", lines);
  IngestOptions o;
  o.split = {0.8, 0.1, 0.1};
  const auto r = data::ingest({t / "all.jsonl"}, t / "out", o);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.counts.train + r.counts.valid + r.counts.test, 2000u);
  EXPECT_NEAR(r.counts.train, 1600, 80);
  EXPECT_NEAR(r.counts.valid, 200, 45);
  EXPECT_NEAR(r.counts.test, 200, 45);
  // Named inputs keep their split; --valid-from-train carves valid from train only.
  write_bytes(t / "train.jsonl", lines);
  write_bytes(t / "dev.jsonl", "{\"text\": \"dev doc\"}\n");
  o.valid_from_train = 0.25;
  const auto named = data::ingest({t / "train.jsonl", t / "dev.jsonl"}, t / "named", o);
  EXPECT_EQ(named.counts.test, 0u);
  EXPECT_EQ(named.counts.train + named.counts.valid, 2001u);
  EXPECT_NEAR(named.counts.valid, 501, 70);
  EXPECT_EQ(named.inputs[0].split, "train");
  EXPECT_EQ(named.inputs[1].split, "valid");
  // --train-fraction keeps a sample of train (the same on every run), leaving valid and the
  // carve untouched.
  IngestOptions half = o;
  half.train_fraction = 0.5;
  const auto a = data::ingest({t / "train.jsonl", t / "dev.jsonl"}, t / "half", half);
  EXPECT_EQ(a.counts.valid, named.counts.valid);
  EXPECT_NEAR(a.counts.train, named.counts.train / 2.0, 70);
  EXPECT_EQ(a.counts.train + a.sampled_out, named.counts.train);
  data::ingest({t / "train.jsonl", t / "dev.jsonl"}, t / "half2", half);
  EXPECT_EQ(read_bytes(t / "half/train.jsonl"), read_bytes(t / "half2/train.jsonl"));
  // --train-offset 0.5 keeps the other half: disjoint from the first, together all of train.
  IngestOptions other = half;
  other.train_offset = 0.5;
  const auto b = data::ingest({t / "train.jsonl", t / "dev.jsonl"}, t / "other", other);
  EXPECT_EQ(b.counts.valid, named.counts.valid);
  EXPECT_EQ(a.counts.train + b.counts.train, named.counts.train);
  std::set<std::string> ids;
  for (const char* dir : {"half", "other"}) {
    std::istringstream in(read_bytes(t / dir / "train.jsonl"));
    for (std::string line; std::getline(in, line);) EXPECT_TRUE(ids.insert(line.substr(0, 24)).second) << line;
  }
  EXPECT_EQ(ids.size(), named.counts.train);
  other.train_offset = 0.6;
  EXPECT_HONE_ERROR(data::ingest({t / "train.jsonl"}, t / "past", other), UsageError, "ends past 1");
  other.train_offset = -0.1;
  EXPECT_HONE_ERROR(data::ingest({t / "train.jsonl"}, t / "negative", other), UsageError, "must be >= 0");
  half.train_fraction = 0;
  EXPECT_HONE_ERROR(data::ingest({t / "train.jsonl"}, t / "zero", half), UsageError, "--train-fraction");
}

TEST(IngestFormats, OutputDirectoryIsReplacedOnlyWithOverwrite) {
  TempDir t;
  write_bytes(t / "a.jsonl", "{\"text\": \"one\"}\n");
  data::ingest({t / "a.jsonl"}, t / "out", all_train());
  write_bytes(t / "a.jsonl", "{\"text\": \"two\"}\n");
  EXPECT_HONE_ERROR(data::ingest({t / "a.jsonl"}, t / "out", all_train()), UsageError, "exists");
  EXPECT_EQ(read_all(t / "out")[0]["text"], "one");
  IngestOptions o = all_train();
  o.overwrite = true;
  data::ingest({t / "a.jsonl"}, t / "out", o);
  EXPECT_EQ(read_all(t / "out")[0]["text"], "two");
  EXPECT_EQ(t.entries(), (std::vector<std::string>{"a.jsonl", "out", "out/manifest.json", "out/test.jsonl",
                                                   "out/train.jsonl", "out/valid.jsonl"}));
}

TEST(IngestFormats, BadOptionsAreUsageErrors) {
  TempDir t;
  write_bytes(t / "a.jsonl", "{\"text\": \"one\"}\n");
  IngestOptions o;
  o.split = {0.5, 0.6, 0.1};
  EXPECT_HONE_ERROR(data::ingest({t / "a.jsonl"}, t / "out", o), UsageError, "must be >= 0 and sum to 1");
  o.split = {1.2, -0.1, -0.1};
  EXPECT_HONE_ERROR(data::ingest({t / "a.jsonl"}, t / "out", o), UsageError, "must be >= 0 and sum to 1");
  write_bytes(t / "a.parquet", "");
  EXPECT_HONE_ERROR(data::ingest({t / "a.parquet"}, t / "out", all_train()), UsageError,
                    "cannot tell the input type from the file name");
  EXPECT_HONE_ERROR(data::ingest({t / "missing.jsonl"}, t / "out", all_train()), InputError, "no such file");
  expect_nothing_left(t, {"a.jsonl", "a.parquet"});
}

}  // namespace
}  // namespace hone::test
