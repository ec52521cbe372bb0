// Banking77 (train.csv 10,003 rows and test.csv 3,080 rows, columns text,category) end to end:
// counts against an independent parse of the CSVs, 77 labels, input hashes against sha256sum,
// byte-identical reruns, and a deterministic hash split of the merged data.
#include <gtest/gtest.h>

#include <set>

#include "data/ingest.h"
#include "ingest_fixtures.h"

namespace hone::test {
namespace {

const fs::path kDir = HONE_BANKING77_DIR;

// Rows of a CSV file, independently of hone's reader: a record ends at a line break outside
// quotes, and toggling on every '"' is enough to track quoting ("" toggles twice).
struct CsvCount {
  std::size_t rows = 0;
  std::set<std::string> labels;  // the last field of each row (Banking77's category)
};
CsvCount count_csv(const fs::path& path) {
  const std::string bytes = read_bytes(path);
  CsvCount c;
  bool quoted = false, header = true;
  std::string last_field, record;
  for (char ch : bytes) {
    if (ch == '"') quoted = !quoted;
    if (ch == '\n' && !quoted) {
      if (!record.empty() && record.back() == '\r') record.pop_back();
      if (!record.empty()) {
        if (!header) {
          ++c.rows;
          c.labels.insert(record.substr(record.rfind(',') + 1));
        }
        header = false;
      }
      record.clear();
    } else {
      record += ch;
    }
  }
  return c;
}

std::string sha256sum(const fs::path& path) {
  const auto r = run_command({"/usr/bin/sha256sum", path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 64);
}

class Banking77 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kDir / "train.csv") || !fs::exists(kDir / "test.csv"))
      GTEST_SKIP() << "Banking77 not found in " << kDir;
  }
};

TEST_F(Banking77, SplitsLabelsHashesAndReruns) {
  TempDir t;
  data::IngestOptions o;
  o.format = data::RecordFormat::kClassification;
  o.label_field = "category";
  const std::vector<fs::path> inputs = {kDir / "train.csv", kDir / "test.csv"};
  const auto r = data::ingest(inputs, t / "a", o);
  const CsvCount train = count_csv(kDir / "train.csv"), test = count_csv(kDir / "test.csv");
  EXPECT_EQ(train.rows, 10003u);
  EXPECT_EQ(test.rows, 3080u);
  // Every row is kept except exact duplicates (the same text and label); hone counts them.
  EXPECT_EQ(r.counts.train + r.counts.test + r.duplicates, train.rows + test.rows);
  EXPECT_EQ(r.inputs[0].records, train.rows);
  EXPECT_EQ(r.inputs[1].records, test.rows);
  EXPECT_EQ(r.counts.valid, 0u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_EQ(read_jsonl(t / "a" / "train.jsonl").size(), r.counts.train);
  EXPECT_EQ(read_jsonl(t / "a" / "test.jsonl").size(), r.counts.test);
  EXPECT_EQ(r.labels.size(), 77u);
  EXPECT_EQ(train.labels.size(), 77u);
  std::set<std::string> labels;
  for (const auto& [label, c] : r.labels) labels.insert(label);
  EXPECT_EQ(labels, train.labels);
  std::printf("Banking77: train %llu, test %llu, duplicates %llu, labels %zu\n",
              static_cast<unsigned long long>(r.counts.train), static_cast<unsigned long long>(r.counts.test),
              static_cast<unsigned long long>(r.duplicates), r.labels.size());

  const auto manifest = nlohmann::json::parse(read_bytes(t / "a" / "manifest.json"));
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(manifest["inputs"][i]["sha256"], sha256sum(inputs[i]));
    EXPECT_EQ(manifest["inputs"][i]["bytes"], fs::file_size(inputs[i]));
  }
  EXPECT_EQ(manifest["counts"]["train"], r.counts.train);
  EXPECT_EQ(manifest["labels"].size(), 77u);
  EXPECT_EQ(manifest["labels"]["card_arrival"]["test"], 40);

  // A second run gives the same bytes.
  data::ingest(inputs, t / "b", o);
  for (const char* f : {"train.jsonl", "valid.jsonl", "test.jsonl", "manifest.json"})
    EXPECT_EQ(read_bytes(t / "a" / f), read_bytes(t / "b" / f)) << f;

  // --valid-from-train carves a deterministic part of train into valid.
  o.valid_from_train = 0.05;
  const auto v = data::ingest(inputs, t / "v", o);
  EXPECT_EQ(v.counts.train + v.counts.valid, r.counts.train);
  EXPECT_NEAR(static_cast<double>(v.counts.valid), 0.05 * r.counts.train, 0.01 * r.counts.train);
  EXPECT_EQ(v.counts.test, r.counts.test);
}

TEST_F(Banking77, HashSplitOfMergedInputIsDeterministicAndCloseToTheFractions) {
  TempDir t;
  const std::string train = read_bytes(kDir / "train.csv"), test = read_bytes(kDir / "test.csv");
  write_bytes(t / "banking77.csv", train + test.substr(test.find('\n') + 1));  // one header
  data::IngestOptions o;
  o.label_field = "category";
  o.split = {0.8, 0.1, 0.1};
  const auto a = data::ingest({t / "banking77.csv"}, t / "a", o);
  const auto b = data::ingest({t / "banking77.csv"}, t / "b", o);
  const double total = static_cast<double>(a.counts.train + a.counts.valid + a.counts.test);
  EXPECT_EQ(total + a.duplicates, 13083.0);
  EXPECT_NEAR(a.counts.train / total, 0.8, 0.015);
  EXPECT_NEAR(a.counts.valid / total, 0.1, 0.01);
  EXPECT_NEAR(a.counts.test / total, 0.1, 0.01);
  std::printf("Banking77 merged, --split 0.8,0.1,0.1: %llu / %llu / %llu\n",
              static_cast<unsigned long long>(a.counts.train), static_cast<unsigned long long>(a.counts.valid),
              static_cast<unsigned long long>(a.counts.test));
  for (const char* f : {"train.jsonl", "valid.jsonl", "test.jsonl"})
    EXPECT_EQ(read_bytes(t / "a" / f), read_bytes(t / "b" / f)) << f;
}

}  // namespace
}  // namespace hone::test
