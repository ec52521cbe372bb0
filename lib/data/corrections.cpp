#include "data/corrections.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"
#include "core/json_file.h"
#include "core/json_string.h"

namespace hone::data {

namespace {

constexpr const char* kSpace = " \t\r\n\f\v";

std::string_view trim(std::string_view s) {
  const std::size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// The labels of an ingested directory: the keys of manifest.json's "labels" object.
std::set<std::string> labels_of_data_dir(const fs::path& dir) {
  const fs::path manifest = dir / "manifest.json";
  HONE_CHECK(fs::is_regular_file(manifest), InputError,
             Hint{"--labels is a directory hone ingest wrote, or a text file with one label per line"},
             "{}: no manifest.json", dir.string());
  return manifest_labels(read_json_object<nlohmann::json>(manifest), manifest.string());
}

std::set<std::string> labels_of_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  HONE_CHECK(in.good(), InputError, "{}: no such file", path.string());
  std::set<std::string> labels;
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (n == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    HONE_CHECK(find_invalid_utf8(line) == std::string::npos, InputError, "{}:{}: invalid UTF-8", path.string(), n);
    const std::string_view label = trim(line);
    if (!label.empty()) labels.emplace(label);
  }
  HONE_CHECK(!labels.empty(), InputError, "{}: no labels (one label per line)", path.string());
  return labels;
}

// The model's output: the named field, or the first of kAutoOutputFields the row holds.
void read_output(const nlohmann::json& f, const IngestOptions& o, CorrectionRow& row) {
  // An empty output is kept: a model that generated nothing was still wrong.
  if (!o.output_field.empty()) {
    const std::string* out = string_field(f, o.output_field, /*required=*/false);
    if (out == nullptr)
      reject("missing_field", fmt::format("field '{}' (the model's output) is missing", o.output_field));
    row.rejected = *out;
    row.output_field = o.output_field;
    return;
  }
  for (const char* name : kAutoOutputFields)
    if (const std::string* out = string_field(f, name, /*required=*/false)) {
      row.rejected = *out;
      row.output_field = name;
      return;
    }
  reject("missing_field", "no model output: none of the fields 'output', 'scored', 'generated' (pass --output-field)");
}

// The model's second answer: a "runner_up" string, else the label of hone eval's scored_top[1]
// (the second-ranked label); nothing when the row has neither.
std::optional<std::string> read_runner_up(const nlohmann::json& f) {
  if (const std::string* r = string_field(f, "runner_up", /*required=*/false)) return *r;
  const auto top = f.find("scored_top");
  if (top == f.end() || !top->is_array() || top->size() < 2) return std::nullopt;
  const nlohmann::json& second = (*top)[1];
  if (!second.is_array() || second.empty() || !second[0].is_string())
    reject("wrong_type", "'scored_top' must hold [label, log-likelihood] pairs");
  return second[0].get<std::string>();
}

}  // namespace

std::set<std::string> read_label_set(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) ? labels_of_data_dir(path) : labels_of_text_file(path);
}

CorrectionRow read_correction(const nlohmann::json& f, const IngestOptions& o, const std::set<std::string>* labels) {
  CorrectionRow row;
  // The row is checked whole before it is counted as uncorrected or unchanged, so a malformed
  // row is reported whatever its correction.
  row.example.kind = "completion";
  row.example.prompt = *string_field(f, o.prompt_field);
  read_output(f, o, row);
  if (const std::string* system = string_field(f, kRowSystemField, /*required=*/false)) row.system = *system;
  const std::string* correction = string_field(f, o.correction_field, /*required=*/false);
  if (correction == nullptr) {
    row.kind = CorrectionKind::kUncorrected;
    return row;
  }
  if (blank(*correction)) reject("empty_text", fmt::format("field '{}' (the correction) is empty", o.correction_field));
  if (labels != nullptr && labels->count(*correction) == 0)
    reject("unknown_label",
           fmt::format("correction '{}' is not one of the {} labels of {}", *correction, labels->size(), o.labels));
  // Whitespace around a generation (a trailing newline) does not make it a different answer.
  if (trim(*correction) == trim(row.rejected)) {
    const std::optional<std::string> runner_up = o.confirmed_pairs ? read_runner_up(f) : std::nullopt;
    if (!runner_up || trim(*runner_up) == trim(*correction)) {
      row.kind = CorrectionKind::kUnchanged;
      return row;
    }
    row.kind = CorrectionKind::kConfirmed;
    row.rejected = *runner_up;
  }
  row.example.completion = *correction;
  if (labels != nullptr) {
    row.example.label = *correction;
    row.example.has_label = true;
  }
  return row;
}

std::string pair_json(const std::string& id, const char* split, const Example& ex, const std::string& rejected) {
  namespace k = pairs_schema;
  const auto key = [](std::string& out, const char* name) {
    out += out.empty() ? "{" : ",";
    append_json_string(out, name);
    out += ':';
  };
  std::string out;
  key(out, k::kId);
  append_json_string(out, id);
  key(out, k::kSplit);
  append_json_string(out, split);
  if (ex.has_system) {
    key(out, k::kSystem);
    append_json_string(out, ex.system);
  }
  key(out, k::kPrompt);
  append_json_string(out, ex.prompt);
  key(out, k::kChosen);
  append_json_string(out, ex.completion);
  key(out, k::kRejected);
  append_json_string(out, rejected);
  out += "}\n";
  return out;
}

nlohmann::ordered_json corrections_json(const CorrectionCounts& c) {
  return {{"pairs", c.pairs},
          {"confirmed", c.confirmed},
          {"unchanged", c.unchanged},
          {"uncorrected", c.uncorrected},
          {"output_fields", c.output_fields}};
}

}  // namespace hone::data
