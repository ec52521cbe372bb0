// A full disk (simulated with a file-size limit, RLIMIT_FSIZE) while `hone ingest` and `hone
// tokenize` write: exit 1, a message naming the output and the cause, no crash (HDF5's clean-up
// at exit once crashed on the broken file) and nothing half-written left behind.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/ingest_fixtures.h"
#include "helpers.h"

namespace hone::test {
namespace {

const char* kFull = "write failed: File too large (the disk is full, or a file-size or quota limit was reached)";

// 2000 prompt/completion examples, about 200 KB.
fs::path write_examples(const fs::path& dir) {
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += "{\"prompt\": \"what is " + std::to_string(i) + " plus " + std::to_string(i) +
            "?\", \"completion\": \"it is " + std::to_string(2 * i) + ", said at some length\"}\n";
  write_bytes(dir / "d.jsonl", text);
  return dir / "d.jsonl";
}

TEST(FullDiskCli, IngestStopsWithExit1AndLeavesNothing) {
  TempDir tmp;
  const fs::path data = write_examples(tmp.path());
  const CommandResult r =
      run_hone_limited(32, {"ingest", data.string(), "--format", "prompt-completion", "-o", (tmp / "out").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find((tmp / "out").string() + ": " + kFull), std::string::npos) << r.err;
  expect_nothing_left(tmp, {"d.jsonl"});
}

TEST(FullDiskCli, TokenizeStopsWithExit1AndLeavesNothing) {
  if (!have_model()) GTEST_SKIP() << "no model";
  TempDir tmp;
  const fs::path data = write_examples(tmp.path());
  ASSERT_EQ(run_hone({"ingest", data.string(), "--format", "prompt-completion", "-o", (tmp / "data").string()}).exit_code,
            0);
  const fs::path store = tmp / "store.h5";
  const CommandResult r = run_hone_limited(
      32, {"tokenize", (tmp / "data").string(), "-o", store.string(), "-m", model_path(), "--max-len", "128"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(store.string() + ": " + kFull), std::string::npos) << r.err;
  expect_nothing_left(tmp, {"d.jsonl", "data", "data/manifest.json", "data/test.jsonl", "data/train.jsonl",
                           "data/valid.jsonl"});
}

}  // namespace
}  // namespace hone::test
