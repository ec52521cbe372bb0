// Logging set-up: every log line goes to stderr (stdout carries command results such as token
// ids or generated text), as text for people or as one JSON object per line for log collectors.
//
// A message often quotes an input (a file name, a GGUF key, a CSV field), so the formatters, not
// the call sites, make every line well-formed whatever bytes the message holds:
// - valid UTF-8 that prints is kept as it is (multi-byte characters included);
// - a byte that does not start well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing
//   above U+10FFFF) becomes the four characters \xNN, so the information is kept;
// - control characters (C0, DEL, C1) become escapes: in text \n \r \t, \xNN for the other C0
//   controls and DEL, \u0080..\u009f for C1; in JSON the standard escapes (\n, \u001b, \u009b).
// A log line is one line: a newline in a message is escaped like any other control character, so
// an input cannot forge a line or send a terminal escape. A message with several parts logs
// several lines (main logs an error, then its hint). A backslash is kept as it is in text (paths
// and patterns stay readable), so a literal "\x41" in an input reads the same as an escaped byte.
#pragma once

#include <string>
#include <string_view>

namespace hone {

enum class LogFormat { kText, kJson };

struct LogOptions {
  int verbosity = 0;              // -1 quiet (warnings and errors), 0 info, 1 debug, 2+ trace
  LogFormat format = LogFormat::kText;
};

void init_logging(const LogOptions& options);

// The format init_logging set (text before it is called).
LogFormat current_log_format();

// Appends `s` to `out` as one line of text, escaped as above.
void append_log_text(std::string& out, std::string_view s);
std::string log_text(std::string_view s);

// Appends `s` to `out` as a quoted JSON string (RFC 8259) that is valid UTF-8 whatever `s` holds,
// escaped as above.
void append_log_json_string(std::string& out, std::string_view s);

}  // namespace hone
