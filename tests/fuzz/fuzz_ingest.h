// Shared by the ingest fuzz targets (fuzz_ingest_{jsonl,csv,txt}.cpp): reader options from the
// input's first byte, and every record read and normalised the way `hone ingest` does.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "data/corrections.h"
#include "data/readers.h"
#include "data/records.h"

namespace hone::fuzz {

// The first byte of an input chooses the options, the rest is the file:
//   bits 0-1  --max-record-bytes: the default (256 MiB), 1, 64 or 4096 (the overlong paths)
//   bit 2     the target's variant (.json array instead of .jsonl, TSV instead of CSV, --text-blocks)
//   bits 3-5  the record format: auto, text, prompt-completion, alpaca, chat, classification,
//             corrections, or corrections with confirmed pairs
//   bit 6     --system "Be brief." (added to every example)
struct IngestInput {
  data::IngestOptions options;
  bool variant = false;
};

inline IngestInput ingest_input(std::uint8_t flags) {
  IngestInput in;
  static const std::uint64_t kMaxRecord[] = {256ull << 20, 1, 64, 4096};
  in.options.max_record_bytes = kMaxRecord[flags & 3];
  in.variant = (flags & 4) != 0;
  in.options.text_blocks = in.variant;
  static const data::RecordFormat kFormats[] = {
      data::RecordFormat::kAuto,     data::RecordFormat::kText,           data::RecordFormat::kPromptCompletion,
      data::RecordFormat::kAlpaca,   data::RecordFormat::kChat,           data::RecordFormat::kClassification,
      data::RecordFormat::kCorrections, data::RecordFormat::kCorrections};
  in.options.format = kFormats[(flags >> 3) & 7];
  in.options.confirmed_pairs = ((flags >> 3) & 7) == 7;
  if (flags & 64) in.options.system = "Be brief.";
  return in;
}

// Reads every record, and normalises each good one as ingest does (ingest.cpp, read_row): a record
// problem or a RecordError is the reader's answer for a bad record, not a finding.
inline void read_all_records(data::RecordReader& reader, const data::IngestOptions& options) {
  static const std::set<std::string> labels = {"yes", "no", "card_arrival"};
  data::RecordFormat format = options.format;
  data::RawRecord record;
  while (reader.next(record)) {
    if (!record.problem.kind.empty()) {
      data::sanitize_utf8(record.raw, 4096);  // what rejects.jsonl keeps of a bad record
      continue;
    }
    try {
      if (format == data::RecordFormat::kAuto) format = data::detect_format(record.fields, options);
      if (format == data::RecordFormat::kCorrections) {
        data::read_correction(record.fields, options, &labels);
        continue;
      }
      data::Example ex = data::normalise(record.fields, format, options);
      if (options.system) data::add_system(ex, *options.system);
      data::canonical_json(ex);
    } catch (const data::RecordError&) {
    }
  }
}

// ---------------------------------------------------------------------------- seeds

// A seed: the flags byte (ingest_input) and the file.
inline std::string ingest_seed(std::uint8_t flags, const std::string& file) { return std::string(1, static_cast<char>(flags)) + file; }

// The first `lines` lines of a real file, or "" when it is absent.
inline std::string head_lines(const std::filesystem::path& path, int lines) {
  std::ifstream f(path, std::ios::binary);
  std::string out, line;
  for (int i = 0; i < lines && std::getline(f, line); ++i) out += line + "\n";
  return out;
}

// `bytes` as a gzip file (what LineSource reads through zlib whatever the file's name).
inline std::string gzip_bytes(const std::string& bytes) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace hone::fuzz
