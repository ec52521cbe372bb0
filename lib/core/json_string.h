// JSON string literals (RFC 8259 section 7): quotes, backslashes and control characters escaped,
// everything else (UTF-8 included) copied as it is. Used by ingest's canonical JSONL writer, where
// it is on the hot path, so it does not check UTF-8: callers pass valid UTF-8 (ingest checks every
// record first). Text that may hold any bytes, such as a log message, goes through
// append_log_json_string (log.h).
#pragma once

#include <string>
#include <string_view>

namespace hone {

// Appends `s` to `out` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

}  // namespace hone
