// Record readers, one per input type. Each hands out records one at a time (memory stays flat
// whatever the file size) with the physical line where each starts.
#pragma once

#include <filesystem>
#include <memory>

#include "data/ingest.h"
#include "data/records.h"

namespace hone::data {

enum class InputType { kJsonl, kJson, kCsv, kTsv, kText };

// From the extension: .jsonl, .json, .csv, .tsv, .txt, each optionally followed by .gz.
// Throws UsageError for any other name.
InputType input_type(const std::filesystem::path& path);

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // The next record, or false at the end of the input. A record that cannot be read (bad JSON,
  // bad UTF-8, too long, ...) comes back with `problem` set; a file that cannot be read at all
  // throws InputError.
  virtual bool next(RawRecord& record) = 0;
};

std::unique_ptr<RecordReader> open_jsonl_reader(const std::filesystem::path& path, const IngestOptions& options);
std::unique_ptr<RecordReader> open_json_array_reader(const std::filesystem::path& path, const IngestOptions& options);
std::unique_ptr<RecordReader> open_csv_reader(const std::filesystem::path& path, char delimiter,
                                              const IngestOptions& options);
std::unique_ptr<RecordReader> open_text_reader(const std::filesystem::path& path, const IngestOptions& options);

std::unique_ptr<RecordReader> open_reader(const std::filesystem::path& path, InputType type, const IngestOptions& options);

// Shared by the readers: "record of N bytes exceeds --max-record-bytes (M)".
RecordProblem too_long_problem(std::uint64_t bytes, std::uint64_t max_bytes);
// Checks `text` for UTF-8; sets the problem ("invalid UTF-8 at byte K of the <what>") if it is not.
bool check_utf8(const std::string& text, const char* what, RecordProblem& problem);

}  // namespace hone::data
