// CSV (RFC 4180) and TSV with a header row. Quoting follows RFC 4180 for both: a field that
// starts with '"' runs to the next lone '"' (a doubled "" is a quote), and may hold delimiters and
// line breaks. Outside quotes a '"' is kept as it is (as Python's csv module does).
#include <fmt/format.h>

#include "core/error.h"
#include "data/line_source.h"
#include "data/readers.h"

namespace hone::data {

namespace {

class CsvReader : public RecordReader {
 public:
  CsvReader(const std::filesystem::path& path, char delimiter, const IngestOptions& o)
      : lines_(path, o.max_record_bytes), delim_(delimiter), max_(o.max_record_bytes) {}

  bool next(RawRecord& r) override {
    if (!header_read_) read_header();
    r.fields = nullptr;
    for (;;) {
      r.problem = {};
      if (!read_record(r)) return false;
      if (!r.problem.kind.empty()) return true;
      if (values_.size() == 1 && values_[0].empty()) continue;  // a blank line is not a record
      if (values_.size() > header_.size()) {
        r.problem = {"field_count", fmt::format("row has {} fields, the header has {}", values_.size(), header_.size())};
        return true;
      }
      // A short row lacks its last fields: they are "missing", as a missing JSON key is.
      r.fields = nlohmann::json::object();
      for (std::size_t i = 0; i < values_.size(); ++i) r.fields[header_[i]] = std::move(values_[i]);
      return true;
    }
  }

 private:
  void read_header() {
    header_read_ = true;
    RawRecord h;
    while (read_record(h)) {
      HONE_CHECK(h.problem.kind.empty(), InputError, "{}:{}: header row: {}", lines_.path().string(), h.line,
                 h.problem.message);
      if (values_.size() == 1 && values_[0].empty()) continue;
      header_ = std::move(values_);
      return;
    }
  }

  // The fields of the next record into values_; false at the end of the file.
  bool read_record(RawRecord& r) {
    values_.clear();
    if (done_ || !lines_.next(line_)) return false;
    r.line = lines_.line_number();
    if (lines_.overlong()) {
      r.raw = line_;
      r.problem = too_long_problem(lines_.overlong(), max_);
      return true;
    }
    r.raw = line_;
    std::string field;
    std::size_t i = 0;
    for (;;) {  // one iteration per field
      field.clear();
      if (i < line_.size() && line_[i] == '"') {
        const std::uint64_t quote_line = lines_.line_number();
        ++i;
        for (;;) {  // inside quotes, possibly over several physical lines
          const std::size_t q = line_.find('"', i);
          if (q == std::string::npos) {
            field.append(line_, i, std::string::npos).push_back('\n');
            if (!lines_.next(line_)) {
              r.line = quote_line;
              r.problem = {"bad_csv", "unbalanced quote (the field that starts here never closes)"};
              return true;
            }
            r.raw.append("\n").append(line_);
            if (r.raw.size() > max_ || lines_.overlong()) {
              done_ = true;  // no way to find the next record: the rest of the file would be this field
              r.line = quote_line;
              r.problem = {"too_long", fmt::format("record exceeds --max-record-bytes ({}) inside a quoted field "
                                                   "(an unbalanced quote?)", max_)};
              return true;
            }
            i = 0;
            continue;
          }
          field.append(line_, i, q - i);
          if (q + 1 < line_.size() && line_[q + 1] == '"') {
            field.push_back('"');
            i = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
      }
      const std::size_t d = line_.find(delim_, i);  // after a closing quote: text up to the delimiter
      field.append(line_, i, d == std::string::npos ? std::string::npos : d - i);
      values_.push_back(field);
      if (d == std::string::npos) break;
      i = d + 1;
    }
    check_utf8(r.raw, "record", r.problem);
    return true;
  }

  LineSource lines_;
  char delim_;
  std::uint64_t max_;
  bool header_read_ = false, done_ = false;
  std::vector<std::string> header_;
  std::vector<std::string> values_;
  std::string line_;
};

}  // namespace

std::unique_ptr<RecordReader> open_csv_reader(const std::filesystem::path& path, char delimiter,
                                              const IngestOptions& o) {
  return std::make_unique<CsvReader>(path, delimiter, o);
}

}  // namespace hone::data
