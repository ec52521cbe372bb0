// hone ingest: raw data (JSONL, JSON arrays, CSV/TSV, plain text, each optionally gzip-compressed)
// into validated, canonical examples in train/valid/test splits. The output format is
// documented in docs/formats.md ("Ingested data (hone ingest)").
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hone::data {

namespace fs = std::filesystem;

// How the fields of an input record are read (docs/formats.md lists the fields of each).
enum class RecordFormat {
  kAuto,              // from the fields of each input's first record
  kText,              // {text}
  kPromptCompletion,  // {prompt, completion}
  kAlpaca,            // {instruction, input?, output}
  kChat,              // {messages: [{role, content}]} (OpenAI) or {conversations: [{from, value}]} (ShareGPT)
  kClassification,    // {text, label}: prompt from --prompt-template, completion = label
  // {prompt, output, correction}: prompt -> correction examples plus pairs.jsonl (corrections.h);
  // never detected, always asked for
  kCorrections,
};

enum class OnError {
  kFail,  // stop at the first bad record with an InputError naming file:line
  kSkip,  // write bad records to rejects.jsonl with their reason and go on
};

struct IngestOptions {
  RecordFormat format = RecordFormat::kAuto;
  // Train, valid, test fractions for inputs whose name does not carry a split; each >= 0, sum 1.
  std::array<double, 3> split = {0.9, 0.05, 0.05};
  // Fraction of the train split carved (deterministically, by content hash) into valid, for
  // inputs whose name says "train" (e.g. Banking77 ships train.csv and test.csv only).
  double valid_from_train = 0.0;
  // Fraction of the train split kept (deterministically, by a second content hash, so that the
  // sample is the same on every run and independent of the valid carve): a smaller training set.
  double train_fraction = 1.0;
  // Where in that second hash's [0, 1) range the kept fraction starts: [offset, offset + fraction).
  // Samples over disjoint ranges share no example (e.g. a distillation student's data, 0.68 to 1,
  // held out from a teacher trained on 0 to 0.68).
  double train_offset = 0.0;
  OnError on_error = OnError::kFail;
  std::string text_field = "text";              // text and classification formats
  std::string label_field = "label";            // classification (Banking77's CSV: "category")
  std::string prompt_field = "prompt";          // prompt-completion
  std::string completion_field = "completion";  // prompt-completion
  std::string messages_field;                   // chat; empty: "messages", else "conversations"
  std::string prompt_template = "{text}";       // classification prompt; "{text}" is replaced by the text
  // corrections: the field holding the model's output; empty: the first of "output", "scored",
  // "generated" that the row holds
  std::string output_field;
  std::string correction_field = "correction";  // corrections: the reviewer's answer (e.g. "gold")
  // corrections: a row whose correction equals the output (the reviewer confirmed it) also becomes
  // a pair, the confirmed answer chosen against the model's runner-up (a "runner_up" field, else
  // hone eval's scored_top[1]); rows without one stay unchanged. Preference tuning then holds on
  // to what the model got right as it fixes what it got wrong.
  bool confirmed_pairs = false;
  // corrections: the label set (an ingested data directory or a text file, one label per line);
  // a correction outside it is a bad record, and each example gets label = correction. Empty: none.
  std::string labels;
  // A system message for every example: a "system" field on prompt-completion records (and on
  // corrections rows without a "system" field of their own), a leading system turn on chat records
  // that have none. Unset: none (the chat template's default applies).
  std::optional<std::string> system;
  bool text_blocks = false;  // .txt: one document per blank-line-separated block, not per file
  // A record (a line, a CSV record, a JSON array element, a text document) longer than this is
  // rejected rather than held in memory.
  std::uint64_t max_record_bytes = 256ull << 20;
  bool overwrite = false;  // replace an existing output directory (only after the new one is complete)
};

struct SplitCounts {
  std::uint64_t train = 0, valid = 0, test = 0;
};

struct IngestInputReport {
  fs::path path;
  std::string sha256;           // of the file as stored (compressed bytes for .gz)
  std::uint64_t bytes = 0;      // file size as stored
  std::uint64_t records = 0;    // records read, good and bad
  std::string format;           // record format used: "text", "prompt-completion", ...
  std::string split;            // "train"/"valid"/"test" from the file name, or "" (hash split)
};

// --format corrections: what became of the rows (manifest.json's "corrections" object).
struct CorrectionCounts {
  std::uint64_t pairs = 0;        // pairs written to pairs.jsonl (one per SFT example written)
  std::uint64_t confirmed = 0;    // of them, confirmed answers against the runner-up (confirmed_pairs)
  std::uint64_t unchanged = 0;    // rows dropped: the correction equals the model's output
  std::uint64_t uncorrected = 0;  // rows dropped: no correction (missing or null)
  std::map<std::string, std::uint64_t> output_fields;  // field each pair's output was read from -> pairs
};

struct IngestReport {
  fs::path out_dir;
  std::vector<IngestInputReport> inputs;
  SplitCounts counts;                         // examples written per split
  // classification and corrections with a label set: examples per label and split (every label of
  // the set, written or not)
  std::map<std::string, SplitCounts> labels;
  std::uint64_t duplicates = 0;               // exact duplicates (same canonical content) dropped
  std::uint64_t sampled_out = 0;              // train examples left out by train_fraction
  std::uint64_t skipped = 0;                  // bad records written to rejects.jsonl (--on-error skip)
  std::map<std::string, std::uint64_t> skipped_by_reason;  // reason kind -> count
  CorrectionCounts corrections;                            // --format corrections only
};

// The labels of a classification data set: the keys of `manifest` (an ingest manifest.json, read
// from `src`)'s "labels" object. InputError naming `src` when it has none.
std::set<std::string> manifest_labels(const nlohmann::json& manifest, const std::string& src);

// Reads every input, writes DIR/{train,valid,test}.jsonl, manifest.json, (with OnError::kSkip)
// rejects.jsonl and (with RecordFormat::kCorrections) pairs.jsonl. All of it is written to a
// sibling DIR.tmp.<pid> that is renamed onto DIR at the end, so a failure leaves nothing behind.
// Throws UsageError for invalid options or an existing DIR without `overwrite`, InputError for
// bad data (file:line and what is wrong).
IngestReport ingest(const std::vector<fs::path>& inputs, const fs::path& out_dir, const IngestOptions& options);

}  // namespace hone::data
