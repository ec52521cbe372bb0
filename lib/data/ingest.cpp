// hone ingest: reads every input record by record, normalises it (records.cpp), drops exact
// duplicates, assigns a split and writes the canonical JSONL files plus manifest.json, all into a
// temporary sibling directory that replaces the output directory only once it is complete.
#include "data/ingest.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_set>

#include "core/error.h"
#include "core/fs.h"
#include "data/corrections.h"
#include "data/line_source.h"
#include "data/readers.h"
#include "data/records.h"
#include "text/sha256.h"

namespace hone::data {

namespace {

constexpr const char* kSplitNames[3] = {"train", "valid", "test"};
constexpr std::size_t kRejectRawBytes = 1000;  // rejects.jsonl keeps this much of each bad record

// The split an input's name carries ("train.csv", "dev.jsonl.gz", ...), or -1.
int split_from_name(const fs::path& path) {
  std::string stem = path.filename().string();
  stem = stem.substr(0, stem.find('.'));
  for (char& c : stem) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (stem == "train" || stem == "training") return 0;
  if (stem == "valid" || stem == "validation" || stem == "dev" || stem == "val") return 1;
  if (stem == "test") return 2;
  return -1;
}

// A number in [0, 1) from 8 digest bytes from `first` (bytes 0..7 are the id; 8..15 draw the
// split, 16..23 the train sample), uniform for SHA-256.
double hash_unit(const std::array<std::uint8_t, 32>& d, int first = 8) {
  std::uint64_t x = 0;
  for (int i = first; i < first + 8; ++i) x = (x << 8) | d[i];
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

void validate(const std::vector<fs::path>& inputs, const fs::path& out, const IngestOptions& o) {
  HONE_CHECK(!inputs.empty(), UsageError, "no input files");
  const auto& s = o.split;
  HONE_CHECK(s[0] >= 0 && s[1] >= 0 && s[2] >= 0 && std::fabs(s[0] + s[1] + s[2] - 1.0) <= 1e-6, UsageError,
             Hint{"e.g. --split 0.9,0.05,0.05"}, "--split {},{},{}: the fractions must be >= 0 and sum to 1",
             s[0], s[1], s[2]);
  HONE_CHECK(o.valid_from_train >= 0 && o.valid_from_train < 1, UsageError,
             "--valid-from-train {}: must be in [0, 1)", o.valid_from_train);
  HONE_CHECK(o.train_fraction > 0 && o.train_fraction <= 1, UsageError, "--train-fraction {}: must be in (0, 1]",
             o.train_fraction);
  HONE_CHECK(o.train_offset >= 0, UsageError, "--train-offset {}: must be >= 0", o.train_offset);
  HONE_CHECK(o.train_offset + o.train_fraction <= 1 + 1e-9, UsageError,
             Hint{"the kept range is [offset, offset + fraction) of [0, 1)"},
             "--train-offset {} with --train-fraction {}: the range ends past 1", o.train_offset, o.train_fraction);
  HONE_CHECK(o.max_record_bytes > 0, UsageError, "--max-record-bytes must be positive");
  HONE_CHECK(o.format != RecordFormat::kClassification || o.prompt_template.find("{text}") != std::string::npos,
             UsageError, "--prompt-template '{}' does not contain {{text}}", o.prompt_template);
  HONE_CHECK(o.labels.empty() || o.format == RecordFormat::kCorrections, UsageError,
             "--labels applies to --format corrections, not --format {}", format_name(o.format));
  HONE_CHECK(!o.confirmed_pairs || o.format == RecordFormat::kCorrections, UsageError,
             "--confirmed-pairs applies to --format corrections, not --format {}", format_name(o.format));
  HONE_CHECK(!o.correction_field.empty(), UsageError, "--correction-field must name a field");
  for (const auto& p : inputs) {
    const InputType type = input_type(p);
    HONE_CHECK(type != InputType::kText || o.format == RecordFormat::kAuto || o.format == RecordFormat::kText,
               UsageError, "{}: a .txt input holds text documents; it cannot be read as --format {}", p.string(),
               format_name(o.format));
    HONE_CHECK(fs::is_regular_file(p), InputError, "{}: no such file", p.string());
  }
  HONE_CHECK(o.overwrite || !fs::exists(out), UsageError, Hint{"pass --overwrite to replace it"},
             "output directory {} exists", out.string());
}

// The 8-byte id of an example's canonical content, and the SHA-256 it is taken from.
struct ContentHash {
  std::uint64_t id = 0;
  std::array<std::uint8_t, 32> digest;
};

ContentHash content_hash(const std::string& content) {
  Sha256 sha;
  sha.update(content);
  ContentHash h{0, sha.digest()};
  for (int i = 0; i < 8; ++i) h.id = (h.id << 8) | h.digest[i];
  return h;
}

// The split (0 train, 1 valid, 2 test) of an example, or -1 when --train-fraction leaves it out.
int choose_split(const std::array<std::uint8_t, 32>& d, int named_split, const IngestOptions& o) {
  int split = named_split;
  const double u = hash_unit(d);
  if (split < 0) split = u < o.split[0] ? 0 : u < o.split[0] + o.split[1] ? 1 : 2;
  else if (split == 0 && u < o.valid_from_train) split = 1;  // carve valid out of a named train split
  if (split == 0 && o.train_fraction < 1) {
    const double v = hash_unit(d, 16);
    if (v < o.train_offset || v >= o.train_offset + o.train_fraction) return -1;
  }
  return split;
}

// Reads one good record into `row` (the example, and for corrections the pair's other half).
// False when the row is dropped and counted: a correction unchanged or missing. Throws RecordError.
bool read_row(const RawRecord& record, RecordFormat& format, const IngestOptions& o,
              const std::set<std::string>* labels, CorrectionRow& row, CorrectionCounts& counts) {
  if (format == RecordFormat::kAuto) format = detect_format(record.fields, o);
  if (format != RecordFormat::kCorrections) {
    row = CorrectionRow{};
    row.example = normalise(record.fields, format, o);
    return true;
  }
  row = read_correction(record.fields, o, labels);
  if (row.kind == CorrectionKind::kUnchanged) ++counts.unchanged;
  if (row.kind == CorrectionKind::kUncorrected) ++counts.uncorrected;
  return row.kind == CorrectionKind::kPair || row.kind == CorrectionKind::kConfirmed;
}

constexpr int kRejectsFile = 3, kPairsFile = 4;  // OutputDir's files after the three splits

// The output files, in a temporary directory removed unless commit() renames it onto `out`.
class OutputDir {
 public:
  OutputDir(const fs::path& out, bool rejects, bool pairs) : out_(out) {
    temp_ = out.parent_path() / fmt::format("{}.tmp.{}", out.filename().string(), ::getpid());
    fs::remove_all(temp_);  // a stale one from an earlier run of the same pid
    fs::create_directories(temp_);
    for (int i = 0; i < 3; ++i) files_[i] = open(fmt::format("{}.jsonl", kSplitNames[i]));
    if (rejects) files_[kRejectsFile] = open("rejects.jsonl");
    if (pairs) files_[kPairsFile] = open(pairs_schema::kFile);
  }
  ~OutputDir() {
    close_all();
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(temp_, ec);
    }
  }

  void write(int file, const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), files_[file]) != line.size())
      HONE_THROW(RuntimeError, "{}: write failed: {}", out_.string(), write_error(errno));
  }
  const fs::path& temp() const { return temp_; }

  // Writes manifest.json and renames the directory onto `out` (replacing an old one last).
  void commit(const std::string& manifest) {
    for (auto*& f : files_)
      if (f != nullptr) {
        const bool ok = std::fflush(f) == 0 && std::fclose(f) == 0;
        f = nullptr;
        HONE_CHECK(ok, RuntimeError, "{}: write failed: {}", out_.string(), write_error(errno));
      }
    std::FILE* m = open("manifest.json");
    const bool ok = std::fwrite(manifest.data(), 1, manifest.size(), m) == manifest.size();
    HONE_CHECK(std::fclose(m) == 0 && ok, RuntimeError, "{}: write failed: {}", out_.string(), write_error(errno));
    fs::path old;
    if (fs::exists(out_)) {
      old = out_.parent_path() / fmt::format("{}.old.{}", out_.filename().string(), ::getpid());
      fs::rename(out_, old);
    }
    fs::rename(temp_, out_);
    committed_ = true;
    if (!old.empty()) fs::remove_all(old);
  }

 private:
  std::FILE* open(const std::string& name) {
    const fs::path p = temp_ / name;
    std::FILE* f = std::fopen(p.c_str(), "wb");
    HONE_CHECK(f != nullptr, RuntimeError, "{}: cannot create: {}", p.string(), std::strerror(errno));
    std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
    return f;
  }
  void close_all() {
    for (auto*& f : files_)
      if (f != nullptr) std::fclose(f), f = nullptr;
  }

  fs::path out_, temp_;
  std::FILE* files_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};  // train, valid, test, rejects, pairs
  bool committed_ = false;
};

nlohmann::ordered_json options_json(const IngestOptions& o) {
  nlohmann::ordered_json j;
  j["format"] = format_name(o.format);
  j["split"] = o.split;
  j["valid_from_train"] = o.valid_from_train;
  j["train_fraction"] = o.train_fraction;
  j["train_offset"] = o.train_offset;
  j["on_error"] = o.on_error == OnError::kFail ? "fail" : "skip";
  j["text_field"] = o.text_field;
  j["label_field"] = o.label_field;
  j["prompt_field"] = o.prompt_field;
  j["completion_field"] = o.completion_field;
  j["messages_field"] = o.messages_field;
  j["prompt_template"] = o.prompt_template;
  j["output_field"] = o.output_field;
  j["correction_field"] = o.correction_field;
  j["confirmed_pairs"] = o.confirmed_pairs;
  j["labels"] = o.labels;
  j["system"] = o.system ? nlohmann::ordered_json(*o.system) : nlohmann::ordered_json(nullptr);
  j["text_blocks"] = o.text_blocks;
  j["max_record_bytes"] = o.max_record_bytes;
  return j;
}

nlohmann::ordered_json counts_json(const SplitCounts& c) {
  return {{"train", c.train}, {"valid", c.valid}, {"test", c.test}};
}

std::string manifest_json(const IngestReport& r, const IngestOptions& o) {
  nlohmann::ordered_json m;
  m["hone_version"] = HONE_VERSION;
  m["options"] = options_json(o);
  m["inputs"] = nlohmann::ordered_json::array();
  for (const auto& in : r.inputs)
    m["inputs"].push_back({{"path", in.path.string()}, {"sha256", in.sha256}, {"bytes", in.bytes},
                           {"records", in.records}, {"format", in.format},
                           {"split", in.split.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(in.split)}});
  m["counts"] = counts_json(r.counts);
  if (!r.labels.empty()) {
    nlohmann::ordered_json labels = nlohmann::ordered_json::object();
    for (const auto& [label, c] : r.labels) labels[label] = counts_json(c);  // std::map: sorted by label
    m["labels"] = std::move(labels);
  }
  m["duplicates"] = r.duplicates;
  m["sampled_out"] = r.sampled_out;
  m["skipped"] = {{"total", r.skipped}, {"reasons", r.skipped_by_reason}};
  if (o.format == RecordFormat::kCorrections) m["corrections"] = corrections_json(r.corrections);
  return m.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // a path that is not UTF-8: U+FFFD
}

SplitCounts& operator+=(SplitCounts& c, int split) {
  (split == 0 ? c.train : split == 1 ? c.valid : c.test) += 1;
  return c;
}

}  // namespace

IngestReport ingest(const std::vector<fs::path>& inputs, const fs::path& out_dir, const IngestOptions& o) {
  fs::path out = fs::absolute(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" names "dir"
  validate(inputs, out, o);
  IngestReport report;
  report.out_dir = out;
  std::optional<std::set<std::string>> labels;
  if (!o.labels.empty()) {
    labels = read_label_set(o.labels);
    // Every label of the set is listed, so that eval and classify score over the whole set.
    for (const std::string& label : *labels) report.labels[label];
  }
  const bool corrections = o.format == RecordFormat::kCorrections;
  OutputDir dir(out, o.on_error == OnError::kSkip, corrections);
  // Exact duplicates are found by the 8-byte id of each example kept: memory grows by one hash
  // per unique example (plus the set's overhead), never with the size of the records.
  std::unordered_set<std::uint64_t> seen;
  std::string line;
  RawRecord record;
  CorrectionRow row;

  for (const auto& path : inputs) {
    IngestInputReport in;
    in.path = path;
    // The manifest identifies the file as stored, so the hash is taken over the raw (possibly
    // compressed) bytes in a pass of its own; gzread hands out decompressed bytes.
    const FileDigest digest = digest_file(path);
    in.sha256 = digest.sha256;
    in.bytes = digest.bytes;
    const int named_split = split_from_name(path);
    if (named_split >= 0) in.split = kSplitNames[named_split];
    const InputType type = input_type(path);
    RecordFormat format = type == InputType::kText ? RecordFormat::kText : o.format;
    const std::string file = path.string();

    // A bad record stops the run (fail) or goes to rejects.jsonl (skip).
    const auto bad = [&](std::uint64_t at, const RecordProblem& p, const std::string& raw) {
      if (o.on_error == OnError::kFail) HONE_THROW(InputError, "{}:{}: {}", file, at, p.message);
      ++report.skipped;
      ++report.skipped_by_reason[p.kind];
      line = "{\"file\":";
      append_json_string(line, sanitize_utf8(file, file.size()));  // paths and messages may quote bytes
      line += fmt::format(",\"line\":{},\"reason\":", at);   // that are not UTF-8
      append_json_string(line, sanitize_utf8(p.message, p.message.size()));
      line += ",\"raw\":";
      append_json_string(line, sanitize_utf8(raw, kRejectRawBytes));
      line += "}\n";
      dir.write(kRejectsFile, line);
    };

    auto reader = open_reader(path, type, o);
    while (reader->next(record)) {
      ++in.records;
      if (!record.problem.kind.empty()) {
        bad(record.line, record.problem, record.raw);
        continue;
      }
      try {
        if (!read_row(record, format, o, labels ? &*labels : nullptr, row, report.corrections)) continue;
      } catch (const RecordError& e) {
        bad(record.line, e.problem, record.raw);
        continue;
      }
      Example& ex = row.example;
      // The id, and with it the split and the sample, is taken before the system message is
      // added, so that a system message changes no example's split.
      std::string content = canonical_json(ex);
      const ContentHash hash = content_hash(content);
      if (!seen.insert(hash.id).second) {
        ++report.duplicates;
        continue;
      }
      const int split = choose_split(hash.digest, named_split, o);
      if (split < 0) {
        ++report.sampled_out;
        continue;
      }
      // A corrections row's own system message wins over --system.
      if (const auto& system = row.system ? row.system : o.system) {
        add_system(ex, *system);
        content = canonical_json(ex);
      }
      const std::string id = fmt::format("{:016x}", hash.id);
      line = "{\"id\":\"" + id + "\",";
      line.append(content, 1, std::string::npos).push_back('\n');
      dir.write(split, line);
      report.counts += split;
      if (ex.has_label) report.labels[ex.label] += split;
      if (corrections) {
        dir.write(kPairsFile, pair_json(id, kSplitNames[split], ex, row.rejected));
        ++report.corrections.pairs;
        if (row.kind == CorrectionKind::kConfirmed) ++report.corrections.confirmed;
        ++report.corrections.output_fields[row.output_field];
      }
    }
    HONE_CHECK(in.records > 0, InputError, "{}: no records", file);
    in.format = format_name(format);
    spdlog::info("{}: {} records ({}{})", file, in.records, in.format,
                 in.split.empty() ? "" : ", split " + in.split);
    report.inputs.push_back(std::move(in));
  }
  dir.commit(manifest_json(report, o));
  return report;
}

std::set<std::string> manifest_labels(const nlohmann::json& m, const std::string& src) {
  const auto it = m.find("labels");
  HONE_CHECK(it != m.end() && it->is_object() && !it->empty(), InputError,
             Hint{"ingest the labelled data with --format classification"},
             "{}: no 'labels' (not a classification data set)", src);
  std::set<std::string> labels;
  for (const auto& [label, counts] : it->items()) labels.insert(label);
  return labels;
}

}  // namespace hone::data
