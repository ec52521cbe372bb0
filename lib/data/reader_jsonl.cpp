// JSON Lines (https://jsonlines.org: one JSON value per line, UTF-8) and JSON arrays of objects.
#include <fmt/format.h>

#include "core/error.h"
#include "core/json_file.h"
#include "data/line_source.h"
#include "data/readers.h"

namespace hone::data {

namespace {

// Parses `record.raw` (already checked for UTF-8) into `record.fields`, or sets the problem.
void parse_object(RawRecord& record) {
  try {
    record.fields = nlohmann::json::parse(record.raw);
  } catch (const nlohmann::json::exception& e) {
    record.problem = {"bad_json", "not valid JSON: " + json_error_text(e)};
    return;
  }
  if (!record.fields.is_object())
    record.problem = {"wrong_type", fmt::format("a record must be a JSON object, got {}", record.fields.type_name())};
}

class JsonlReader : public RecordReader {
 public:
  JsonlReader(const std::filesystem::path& path, const IngestOptions& o)
      : lines_(path, o.max_record_bytes), max_(o.max_record_bytes) {}

  bool next(RawRecord& r) override {
    r.problem = {};
    r.fields = nullptr;
    while (lines_.next(r.raw)) {
      r.line = lines_.line_number();
      if (lines_.overlong()) {
        r.problem = too_long_problem(lines_.overlong(), max_);
        return true;
      }
      if (r.raw.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not records
      if (check_utf8(r.raw, "line", r.problem)) parse_object(r);
      return true;
    }
    return false;
  }

 private:
  LineSource lines_;
  std::uint64_t max_;
};

// A JSON array, split into its elements without holding the whole file: a scanner tracks
// strings and bracket depth, and each top-level element is parsed on its own.
class JsonArrayReader : public RecordReader {
 public:
  JsonArrayReader(const std::filesystem::path& path, const IngestOptions& o)
      : lines_(path, o.max_record_bytes), max_(o.max_record_bytes) {}

  bool next(RawRecord& r) override {
    r.problem = {};
    r.fields = nullptr;
    r.raw.clear();
    std::uint64_t size = 0, start_line = 0;
    for (;;) {
      if (col_ >= line_.size()) {
        if (started_line_) {  // the newline between physical lines belongs to the element
          if (size > 0) append(r, size, '\n');
        }
        if (!lines_.next(line_)) break;
        HONE_CHECK(!lines_.overlong(), InputError, "{}:{}: line of {} bytes exceeds --max-record-bytes ({})",
                   lines_.path().string(), lines_.line_number(), lines_.overlong(), max_);
        col_ = 0;
        started_line_ = true;
        continue;
      }
      const char c = line_[col_++];
      if (state_ == State::kBeforeArray) {
        if (c == ' ' || c == '\t' || c == '\r') continue;
        HONE_CHECK(c == '[', InputError, "{}:{}: a .json input must be an array of objects, found '{}'",
                   lines_.path().string(), lines_.line_number(), c);
        state_ = State::kInArray;
        continue;
      }
      if (state_ == State::kAfterArray) {
        HONE_CHECK(c == ' ' || c == '\t' || c == '\r', InputError, "{}:{}: text after the closing ']'",
                   lines_.path().string(), lines_.line_number());
        continue;
      }
      if (in_string_) {
        if (escape_) escape_ = false;
        else if (c == '\\') escape_ = true;
        else if (c == '"') in_string_ = false;
      } else if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if ((c == '}' || c == ']') && depth_ > 0) {
        --depth_;
      } else if ((c == ',' || c == ']') && depth_ == 0) {
        if (c == ']') state_ = State::kAfterArray;
        if (size > 0 && r.raw.find_first_not_of(" \t\r\n") != std::string::npos) return finish(r, size, start_line);
        r.raw.clear();
        size = 0;
        continue;
      }
      if (size == 0 && (c == ' ' || c == '\t' || c == '\r')) continue;
      if (size == 0) start_line = lines_.line_number();
      append(r, size, c);
    }
    if (state_ == State::kBeforeArray) return false;  // empty file: "no records"
    if (size > 0 && r.raw.find_first_not_of(" \t\r\n") != std::string::npos) {
      finish(r, size, start_line);
      if (r.problem.kind.empty()) r.problem = {"bad_json", "not valid JSON: the array never closes (missing ']')"};
      return true;
    }
    return false;
  }

 private:
  enum class State { kBeforeArray, kInArray, kAfterArray };

  void append(RawRecord& r, std::uint64_t& size, char c) {
    if (++size <= max_) r.raw += c;
  }

  bool finish(RawRecord& r, std::uint64_t size, std::uint64_t start_line) {
    r.line = start_line;
    if (size > max_) r.problem = too_long_problem(size, max_);
    else if (check_utf8(r.raw, "element", r.problem)) parse_object(r);
    return true;
  }

  LineSource lines_;
  std::uint64_t max_;
  std::string line_;
  std::size_t col_ = 0;
  bool started_line_ = false;
  State state_ = State::kBeforeArray;
  bool in_string_ = false, escape_ = false;
  int depth_ = 0;
};

}  // namespace

RecordProblem too_long_problem(std::uint64_t bytes, std::uint64_t max_bytes) {
  return {"too_long", fmt::format("record of {} bytes exceeds --max-record-bytes ({})", bytes, max_bytes)};
}

bool check_utf8(const std::string& text, const char* what, RecordProblem& problem) {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad == std::string::npos) return true;
  problem = {"invalid_utf8", fmt::format("invalid UTF-8 at byte {} of the {}", bad, what)};
  return false;
}

std::unique_ptr<RecordReader> open_jsonl_reader(const std::filesystem::path& path, const IngestOptions& o) {
  return std::make_unique<JsonlReader>(path, o);
}

std::unique_ptr<RecordReader> open_json_array_reader(const std::filesystem::path& path, const IngestOptions& o) {
  return std::make_unique<JsonArrayReader>(path, o);
}

}  // namespace hone::data
