// Plain text: one document per file, or (--text-blocks) one per block of lines separated by
// blank lines. Each document becomes a {text_field: document} record.
#include <fmt/format.h>

#include "core/error.h"
#include "data/line_source.h"
#include "data/readers.h"

namespace hone::data {

namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\f\v") == std::string::npos; }

class TextReader : public RecordReader {
 public:
  TextReader(const std::filesystem::path& path, const IngestOptions& o)
      : lines_(path, o.max_record_bytes), max_(o.max_record_bytes), blocks_(o.text_blocks), field_(o.text_field) {}

  bool next(RawRecord& r) override {
    r.raw.clear();
    r.problem = {};
    r.fields = nullptr;
    std::uint64_t size = 0;
    bool any = false;
    while (lines_.next(line_)) {
      if (blocks_ && blank(line_)) {
        if (any) break;
        continue;
      }
      if (!any) r.line = lines_.line_number();
      const std::uint64_t n = lines_.overlong() ? lines_.overlong() : line_.size();
      size += (any ? 1 : 0) + n;
      if (size <= max_) {
        if (any) r.raw += '\n';
        r.raw += line_;
      }
      any = true;
    }
    if (!any) return false;
    if (!blocks_) {
      // A whole file is one document, so a later call finds nothing.
      while (!r.raw.empty() && (r.raw.back() == '\n' || r.raw.back() == '\r')) r.raw.pop_back();
    }
    if (size > max_) {
      r.problem = too_long_problem(size, max_);
      return true;
    }
    if (check_utf8(r.raw, blocks_ ? "block" : "file", r.problem)) r.fields = nlohmann::json{{field_, r.raw}};
    return true;
  }

 private:
  LineSource lines_;
  std::uint64_t max_;
  bool blocks_;
  std::string field_;
  std::string line_;
};

}  // namespace

std::unique_ptr<RecordReader> open_text_reader(const std::filesystem::path& path, const IngestOptions& o) {
  return std::make_unique<TextReader>(path, o);
}

InputType input_type(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  const auto ext = std::filesystem::path(name).extension().string();
  if (ext == ".jsonl") return InputType::kJsonl;
  if (ext == ".json") return InputType::kJson;
  if (ext == ".csv") return InputType::kCsv;
  if (ext == ".tsv") return InputType::kTsv;
  if (ext == ".txt") return InputType::kText;
  HONE_THROW(UsageError, Hint{"name inputs .jsonl, .json, .csv, .tsv or .txt, each optionally followed by .gz"},
             "{}: cannot tell the input type from the file name", path.string());
}

std::unique_ptr<RecordReader> open_reader(const std::filesystem::path& path, InputType type, const IngestOptions& o) {
  switch (type) {
    case InputType::kJsonl: return open_jsonl_reader(path, o);
    case InputType::kJson: return open_json_array_reader(path, o);
    case InputType::kCsv: return open_csv_reader(path, ',', o);
    case InputType::kTsv: return open_csv_reader(path, '\t', o);
    case InputType::kText: return open_text_reader(path, o);
  }
  return nullptr;
}

}  // namespace hone::data
