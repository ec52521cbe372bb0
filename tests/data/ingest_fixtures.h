// Helpers for the ingest tests: run ingest into a temp dir, read its JSONL output, gzip a file.
#pragma once

#include <zlib.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "data/ingest.h"
#include "helpers.h"

namespace hone::test {

// All examples written, train then valid then test.
inline std::vector<nlohmann::json> read_all(const fs::path& dir) {
  std::vector<nlohmann::json> rows;
  for (const char* split : {"train.jsonl", "valid.jsonl", "test.jsonl"})
    for (auto& r : read_jsonl(dir / split)) rows.push_back(std::move(r));
  return rows;
}

inline void write_gz(const fs::path& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(gz);
}

// Options that put every example of an unnamed input in train, so tests can read one file.
inline data::IngestOptions all_train() {
  data::IngestOptions o;
  o.split = {1.0, 0.0, 0.0};
  return o;
}

// Nothing is left in `dir` after a failed run: no output directory, no DIR.tmp.<pid>.
inline void expect_nothing_left(const TempDir& dir, const std::vector<std::string>& inputs) {
  std::vector<std::string> expected = inputs;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(dir.entries(), expected);
}

}  // namespace hone::test
