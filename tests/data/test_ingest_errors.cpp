// Bad inputs: each test asserts the message (file:line and what is wrong) and that no output
// directory or temporary directory is left behind; --on-error skip writes rejects.jsonl instead.
#include <gtest/gtest.h>

#include <chrono>

#include "data/ingest.h"
#include "ingest_fixtures.h"

namespace hone::test {
namespace {

using data::IngestOptions;
using data::OnError;
using data::RecordFormat;

// Runs ingest on one input file holding `bytes`; expects an InputError containing `message`.
void expect_input_error(const std::string& name, const std::string& bytes, const std::string& message,
                        IngestOptions o = all_train()) {
  TempDir t;
  write_bytes(t / name, bytes);
  EXPECT_HONE_ERROR(data::ingest({t / name}, t / "out", o), InputError, (t / name).string() + message);
  expect_nothing_left(t, {name});
}

TEST(IngestErrors, TruncatedJsonLine) {
  expect_input_error("x.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"cut he", ":2: not valid JSON: parse error");
}

TEST(IngestErrors, InvalidUtf8NamesTheByte) {
  expect_input_error("x.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"caf\xC3\x28\"}\n",
                     ":2: invalid UTF-8 at byte 13 of the line");
  expect_input_error("x.csv", "text\nfine\n\"bad \xED\xA0\x80 surrogate\"\n", ":3: invalid UTF-8 at byte 5 of the record");
}

TEST(IngestErrors, MissingFieldAndWrongType) {
  IngestOptions o = all_train();
  o.format = RecordFormat::kPromptCompletion;
  expect_input_error("data.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\"}\n",
                     ":2: field 'completion' is missing", o);
  expect_input_error("data.jsonl", "{\"prompt\": \"a\", \"completion\": 4}\n",
                     ":1: field 'completion' must be a string, got number", o);
  expect_input_error("data.jsonl", "{\"prompt\": \"a\", \"completion\": \" \\n \"}\n",
                     ":1: field 'completion' is empty", o);
  expect_input_error("data.jsonl", "[1, 2]\n", ":1: a record must be a JSON object, got array", o);
  expect_input_error("data.jsonl", "{\"foo\": 1}\n", ":1: cannot tell the record format from its fields (foo)");
}

TEST(IngestErrors, EmptyFile) {
  TempDir t;
  write_bytes(t / "empty.jsonl", "");
  write_bytes(t / "blank.csv", "text,label\n\n");
  EXPECT_HONE_ERROR(data::ingest({t / "empty.jsonl"}, t / "out", all_train()), InputError, "empty.jsonl: no records");
  EXPECT_HONE_ERROR(data::ingest({t / "blank.csv"}, t / "out", all_train()), InputError, "blank.csv: no records");
  expect_nothing_left(t, {"blank.csv", "empty.jsonl"});
}

TEST(IngestErrors, CsvUnbalancedQuoteAndExtraFields) {
  expect_input_error("train.csv", "text,label\nok,a\n\"never closes,b\nmore,c\n",
                     ":3: unbalanced quote (the field that starts here never closes)");
  expect_input_error("train.csv", "text,label\nok,a,extra\n", ":2: row has 3 fields, the header has 2");
}

TEST(IngestErrors, ChatRoleOrder) {
  const std::string bad_order =
      "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}\n";
  expect_input_error("c.jsonl", bad_order, ":1: message 2: role 'user' where 'assistant' was expected");
  expect_input_error("c.jsonl",
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": "
                     "\"b\"}, {\"role\": \"system\", \"content\": \"c\"}]}\n",
                     ":1: message 3: role 'system' where 'user' was expected");
  expect_input_error("c.jsonl", "{\"messages\": [{\"role\": \"system\", \"content\": \"a\"}, {\"role\": \"user\", "
                                "\"content\": \"b\"}]}\n",
                     ":1: the conversation ends with 'user'");
  expect_input_error("c.jsonl", "{\"conversations\": [{\"from\": \"bot\", \"value\": \"a\"}]}\n",
                     ":1: message 1: role 'bot' is not system, user or assistant (ShareGPT");
}

TEST(IngestErrors, LabelMissingFailNamesTheLineSkipWritesRejects) {
  const std::string rows =
      "{\"text\": \"a\", \"label\": \"x\"}\n"
      "{\"text\": \"b\", \"label\": \"y\"}\n"
      "{\"text\": \"c\"}\n"
      "{\"text\": \"d\", \"label\": \"x\"}\n"
      "{\"text\": \"e\", \"label\": 7}\n"
      "{\"text\": \"caf\xE9\", \"label\": \"x\"}\n";
  IngestOptions o = all_train();
  o.format = RecordFormat::kClassification;
  expect_input_error("rows.jsonl", rows, ":3: field 'label' is missing", o);

  TempDir t;
  write_bytes(t / "rows.jsonl", rows);
  o.on_error = OnError::kSkip;
  const auto r = data::ingest({t / "rows.jsonl"}, t / "out", o);
  EXPECT_EQ(r.counts.train, 3u);
  EXPECT_EQ(r.skipped, 3u);
  const auto rejects = read_jsonl(t / "out" / "rejects.jsonl");
  ASSERT_EQ(rejects.size(), 3u);
  EXPECT_EQ(rejects[0]["file"], (t / "rows.jsonl").string());
  EXPECT_EQ(rejects[0]["line"], 3);
  EXPECT_EQ(rejects[0]["reason"], "field 'label' is missing");
  EXPECT_EQ(rejects[0]["raw"], "{\"text\": \"c\"}");
  EXPECT_EQ(rejects[1]["line"], 5);
  EXPECT_EQ(rejects[1]["reason"], "field 'label' must be a string, got number");
  EXPECT_EQ(rejects[2]["reason"], "invalid UTF-8 at byte 13 of the line");
  EXPECT_EQ(rejects[2]["raw"], "{\"text\": \"caf\xEF\xBF\xBD\", \"label\": \"x\"}");  // U+FFFD for the bad byte
  const auto manifest = nlohmann::json::parse(read_bytes(t / "out" / "manifest.json"));
  EXPECT_EQ(manifest["skipped"]["total"], 3);
  EXPECT_EQ(manifest["skipped"]["reasons"]["missing_field"], 1);
  EXPECT_EQ(manifest["skipped"]["reasons"]["wrong_type"], 1);
  EXPECT_EQ(manifest["skipped"]["reasons"]["invalid_utf8"], 1);
  EXPECT_EQ(manifest["labels"]["x"]["train"], 2);
  EXPECT_EQ(manifest["inputs"][0]["records"], 6);
}

TEST(IngestErrors, RejectsKeepAtMost1000BytesOfRaw) {
  TempDir t;
  write_bytes(t / "r.jsonl", "{\"text\": \"ok\"}\n{\"nope\": \"" + std::string(5000, 'z') + "\"}\n");
  IngestOptions o = all_train();
  o.format = RecordFormat::kText;
  o.on_error = OnError::kSkip;
  data::ingest({t / "r.jsonl"}, t / "out", o);
  const auto rejects = read_jsonl(t / "out" / "rejects.jsonl");
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0]["raw"].get<std::string>().size(), 1000u);
}

// A single 200 MB line: rejected cleanly under a small --max-record-bytes, ingested under the
// default (256 MiB).
TEST(IngestErrors, TwoHundredMegabyteLine) {
  TempDir t;
  const std::size_t n = 200u << 20;
  std::string line = "{\"text\": \"";
  line.append(n, 'a');
  line += "\"}\n";
  const std::size_t line_bytes = line.size() - 1;
  write_bytes(t / "x.jsonl", line);
  line = std::string();
  IngestOptions small = all_train();
  small.max_record_bytes = 1 << 20;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_HONE_ERROR(data::ingest({t / "x.jsonl"}, t / "out", small), InputError,
                    fmt::format("x.jsonl:1: record of {} bytes exceeds --max-record-bytes (1048576)", line_bytes));
  expect_nothing_left(t, {"x.jsonl"});
  const auto r = data::ingest({t / "x.jsonl"}, t / "out", all_train());
  EXPECT_EQ(r.counts.train, 1u);
  EXPECT_GT(fs::file_size(t / "out" / "train.jsonl"), n);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 120.0);
  std::printf("200 MB line: rejected and ingested in %.1f s\n", seconds);
}

TEST(IngestErrors, CorruptGzip) {
  TempDir t;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "{\"text\": \"line " + std::to_string(i) + "\"}\n";
  write_gz(t / "c.jsonl.gz", text);
  std::string gz = read_bytes(t / "c.jsonl.gz");
  write_bytes(t / "c.jsonl.gz", gz.substr(0, gz.size() / 2));  // truncated
  EXPECT_HONE_ERROR(data::ingest({t / "c.jsonl.gz"}, t / "out", all_train()), InputError, "c.jsonl.gz: cannot read");
  expect_nothing_left(t, {"c.jsonl.gz"});
}

}  // namespace
}  // namespace hone::test
