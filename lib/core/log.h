// Logging set-up: every log line goes to stderr (stdout carries command results such as token
// ids or generated text), as text for people or as one JSON object per line for log collectors.
#pragma once

#include <string>

namespace hone {

enum class LogFormat { kText, kJson };

struct LogOptions {
  int verbosity = 0;              // -1 quiet (warnings and errors), 0 info, 1 debug, 2+ trace
  LogFormat format = LogFormat::kText;
};

void init_logging(const LogOptions& options);

}  // namespace hone
