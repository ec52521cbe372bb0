// hone ingest --format corrections: rows holding a prompt, the model's output and a reviewer's
// correction (hone eval's predictions.jsonl, or any JSONL with those fields) become ordinary SFT
// examples (prompt -> correction) and preference pairs (chosen: the correction, rejected: the
// output) in pairs.jsonl. docs/formats.md ("Corrections") specifies the files.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "data/ingest.h"
#include "data/records.h"

namespace hone::data {

// pairs.jsonl, which ingest writes beside the splits and the tokenizer reads: its file name and
// its keys, in the order they are written ("system" only when the example has one).
namespace pairs_schema {
inline constexpr const char* kFile = "pairs.jsonl";
inline constexpr const char* kId = "id";          // the SFT example's id (same content hash)
inline constexpr const char* kSplit = "split";    // "train", "valid" or "test": the example's split
inline constexpr const char* kSystem = "system";  // the system message, when there is one
inline constexpr const char* kPrompt = "prompt";
inline constexpr const char* kChosen = "chosen";      // the correction
inline constexpr const char* kRejected = "rejected";  // the model's output
}  // namespace pairs_schema

// The fields read for the model's output when IngestOptions::output_field is empty: the first of
// these the row holds (not null). "output" is the generic name, "scored" and "generated" are
// hone eval's label-scoring and generation outputs.
inline constexpr const char* kAutoOutputFields[] = {"output", "scored", "generated"};

// The row field holding a row's own system message (it wins over --system).
inline constexpr const char* kRowSystemField = "system";

// What one row gives.
enum class CorrectionKind {
  kPair,         // a correction that differs from the output: an SFT example and a pair
  kConfirmed,    // confirmed_pairs: the correction equals the output; the runner-up is rejected
  kUnchanged,    // the correction equals the output (after trimming whitespace): dropped
  kUncorrected,  // no correction (the field missing or null; a reviewer saw only some rows): dropped
};

struct CorrectionRow {
  CorrectionKind kind = CorrectionKind::kPair;
  // kPair: format "completion", prompt, completion = the correction (and label = the correction
  // when a label set is given); without a system message, which does not enter the id.
  Example example;
  std::string rejected;               // the model's output (kConfirmed: its runner-up)
  std::string output_field;           // the field it was read from
  std::optional<std::string> system;  // the row's own system message, if any
};

// The labels of `path`: an ingested data directory (the keys of its manifest.json's "labels") or
// a text file with one label per line (surrounding whitespace trimmed, blank lines skipped).
// InputError when it cannot be read or holds no label.
std::set<std::string> read_label_set(const std::filesystem::path& path);

// Reads one row as a correction; `labels` is the label set, or null. Throws RecordError for a bad
// row: a missing or non-string prompt, no output (or a non-string one), a non-string or blank
// correction, a non-string system, or ("unknown_label") a correction outside `labels`.
CorrectionRow read_correction(const nlohmann::json& fields, const IngestOptions& options,
                              const std::set<std::string>* labels);

// One line of pairs.jsonl (with its newline) for the example written as `id` (16 hex digits) to
// `split`, whose system message, if any, is already set.
std::string pair_json(const std::string& id, const char* split, const Example& example, const std::string& rejected);

// manifest.json's "corrections" object.
nlohmann::ordered_json corrections_json(const CorrectionCounts& counts);

}  // namespace hone::data
