// Records: what a reader hands over (the fields of one input record, or why it is unreadable),
// and their normalisation into canonical examples (docs/formats.md, "Ingested data").
#pragma once

#include "core/json_string.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/ingest.h"

namespace hone::data {

// Why a record is rejected. `kind` is a short stable key counted in manifest.json
// ("missing_field", "wrong_type", "invalid_utf8", ...); `message` is the full reason.
struct RecordProblem {
  std::string kind;
  std::string message;
};

// Thrown by normalise() for a bad record; ingest() turns it into an InputError (--on-error fail)
// or a line of rejects.jsonl (--on-error skip). Never leaves lib/data.
struct RecordError {
  RecordProblem problem;
};

// One input record as read.
struct RawRecord {
  std::uint64_t line = 0;  // physical line where the record starts (1-based)
  nlohmann::json fields;   // a JSON object when `problem.kind` is empty
  std::string raw;         // the record's text as read, for rejects.jsonl
  RecordProblem problem;   // set when the record could not be read (bad JSON, bad UTF-8, ...)
};

struct Message {
  std::string role;  // system, user, assistant
  std::string content;
};

// A canonical example. kind "text" uses `text`; "completion" uses prompt/completion (and label
// for classification); "chat" uses messages.
struct Example {
  std::string kind;
  std::string text, prompt, completion, label, system;
  bool has_label = false;
  bool has_system = false;  // completion: a system message precedes the prompt
  std::vector<Message> messages;
};

// The format of a record from its fields (the input's first record); throws RecordError
// ("unknown_format") when no format fits.
RecordFormat detect_format(const nlohmann::json& fields, const IngestOptions& options);

// Validates `fields` as `format` (not kAuto, not kCorrections) and builds the example; throws RecordError.
Example normalise(const nlohmann::json& fields, RecordFormat format, const IngestOptions& options);

// Throws RecordError{kind, message}.
[[noreturn]] void reject(const char* kind, std::string message);

// The string value of `fields[name]`. A missing field is a RecordError ("missing_field") when
// `required`, else nullptr (as is a null); a non-string is "wrong_type"; a required field that is
// blank (only whitespace) is "empty_text".
const std::string* string_field(const nlohmann::json& fields, const std::string& name, bool required = true);

// Whether `s` is empty or only whitespace.
bool blank(std::string_view s);

// Gives the example the system message (ingest --system): a completion's "system" field, or a
// leading system turn for a chat without one (a chat's own system turn is kept).
void add_system(Example& example, const std::string& system);

// The example as a compact JSON object without its id: {"format":...,...}. The id is the first 8
// bytes of the SHA-256 of exactly these bytes.
std::string canonical_json(const Example& example);


// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or std::string::npos when all of `s` is valid.
std::size_t find_invalid_utf8(std::string_view s);

// At most `max_bytes` of `s`, cut at a character boundary, invalid bytes replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s, std::size_t max_bytes);

const char* format_name(RecordFormat format);

}  // namespace hone::data
