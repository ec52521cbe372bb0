// hone ingest through the binary: the summary on stdout, exit code 3 with file:line on stderr for
// bad data, 2 for bad options.
#include <gtest/gtest.h>

#include "ingest_fixtures.h"

namespace hone::test {
namespace {

TEST(IngestCli, SummaryOnStdout) {
  TempDir t;
  write_bytes(t / "train.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\", \"completion\": \"b\"}\n"
                                 "{\"prompt\": \"c\", \"completion\": \"d\"}\n");
  write_bytes(t / "test.jsonl", "{\"prompt\": \"e\", \"completion\": \"f\"}\n{\"prompt\": \"g\"}\n");
  const auto r = run_hone({"ingest", (t / "train.jsonl").string(), (t / "test.jsonl").string(), "-o",
                           (t / "out").string(), "--on-error", "skip"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + (t / "out").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train 2  valid 0  test 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("duplicates dropped 1  skipped 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing_field: 1"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(t / "out" / "rejects.jsonl"));
}

TEST(IngestCli, BadDataExitsWith3AndNamesFileAndLine) {
  TempDir t;
  write_bytes(t / "data.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\"}\n");
  const auto r = run_hone({"ingest", (t / "data.jsonl").string(), "-o", (t / "out").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("data.jsonl:2: field 'completion' is missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t / "out"));
}

TEST(IngestCli, BadOptionsExitWith2) {
  TempDir t;
  write_bytes(t / "a.jsonl", "{\"text\": \"x\"}\n");
  auto r = run_hone({"ingest", (t / "a.jsonl").string(), "-o", (t / "out").string(), "--split-ratios", "0.5,0.6,0.1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("the fractions must be >= 0 and sum to 1"), std::string::npos) << r.err;
  r = run_hone({"ingest", (t / "a.jsonl").string(), "-o", (t / "out").string(), "--format", "parquet"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_hone({"ingest", (t / "a.jsonl").string(), "-o", (t / "out").string(), "--split-ratios", "0.5,0.5"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  fs::create_directories(t / "out");
  r = run_hone({"ingest", (t / "a.jsonl").string(), "-o", (t / "out").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hone::test
