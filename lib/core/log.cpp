#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "core/utf8.h"

namespace hone {

namespace {

void append_hex(std::string& out, const char* prefix, unsigned c) {
  static const char* kHex = "0123456789abcdef";
  out += prefix;
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// The escapes of log.h for one line of text (kJson false) or the body of a JSON string (true).
// Printable ASCII and valid UTF-8 are copied in runs, so plain messages cost one scan.
template <bool kJson>
void append_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;  // start of the bytes not yet copied
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && (!kJson || (c != '"' && c != '\\'))) {
      ++i;
      continue;
    }
    std::size_t n = 1;
    if (c >= 0x80) {
      n = utf8_length(s, i);
      const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;  // U+0080..U+009F
      if (n > 0 && !c1) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    if (n == 0) {
      append_hex(out, kJson ? "\\\\x" : "\\x", c);  // JSON: the text \xNN, a backslash escaped
      n = 1;
    } else if (n == 2) {
      append_hex(out, "\\u00", static_cast<unsigned char>(s[i + 1]));  // C1 control U+00NN
    } else {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: append_hex(out, kJson ? "\\u00" : "\\x", c);
      }
    }
    i += n;
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
}

// The message of a text line (%* in the pattern), escaped.
class EscapedPayload : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    thread_local std::string text;
    text.clear();
    append_log_text(text, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedPayload>(); }
};

// {"time":"2026-11-23T22:51:57.123Z","level":"info","msg":"..."} per line.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = msg.time;
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string text;
    append_log_json_string(text, std::string_view(msg.payload.data(), msg.payload.size()));
    fmt::format_to(std::back_inserter(dest), "{{\"time\":\"{}.{:03d}Z\",\"level\":\"{}\",\"msg\":{}}}\n", stamp,
                   static_cast<int>(ms), std::string_view(level.data(), level.size()), text);
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void append_log_text(std::string& out, std::string_view s) { append_escaped<false>(out, s); }

std::string log_text(std::string_view s) {
  std::string out;
  append_log_text(out, s);
  return out;
}

void append_log_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped<true>(out, s);
  out += '"';
}

namespace {
std::atomic<LogFormat> g_format{LogFormat::kText};
}  // namespace

LogFormat current_log_format() { return g_format.load(); }

void init_logging(const LogOptions& o) {
  g_format = o.format;
  spdlog::drop("hone");  // idempotent: tests and the CLI may set logging up more than once
  auto logger = spdlog::stderr_color_mt("hone");
  spdlog::set_default_logger(logger);
  if (o.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    auto text = std::make_unique<spdlog::pattern_formatter>();
    text->add_flag<EscapedPayload>('*').set_pattern("%^[%H:%M:%S %l]%$ %*");
    logger->set_formatter(std::move(text));
  }
  spdlog::level::level_enum level = spdlog::level::info;
  if (o.verbosity < 0) level = spdlog::level::warn;
  else if (o.verbosity == 1) level = spdlog::level::debug;
  else if (o.verbosity >= 2) level = spdlog::level::trace;
  logger->set_level(level);
}

}  // namespace hone
