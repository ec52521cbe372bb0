// JSON string literals (RFC 8259 section 7): quotes, backslashes and control characters escaped,
// everything else (UTF-8 included) copied as it is. Used by the JSON log lines and by ingest's
// canonical JSONL writer, where it is on the hot path.
#pragma once

#include <string>
#include <string_view>

namespace hone {

// Appends `s` to `out` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

}  // namespace hone
