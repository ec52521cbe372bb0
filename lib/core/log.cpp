#include "core/log.h"

#include "core/json_string.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace hone {


namespace {

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
    append_json_string(text, std::string_view(msg.payload.data(), msg.payload.size()));
    fmt::format_to(std::back_inserter(dest), "{{\"time\":\"{}.{:03d}Z\",\"level\":\"{}\",\"msg\":{}}}\n", stamp,
                   static_cast<int>(ms), std::string_view(level.data(), level.size()), text);
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void init_logging(const LogOptions& o) {
  spdlog::drop("hone");  // idempotent: tests and the CLI may set logging up more than once
  auto logger = spdlog::stderr_color_mt("hone");
  spdlog::set_default_logger(logger);
  if (o.format == LogFormat::kJson) logger->set_formatter(std::make_unique<JsonFormatter>());
  else logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (o.verbosity < 0) level = spdlog::level::warn;
  else if (o.verbosity == 1) level = spdlog::level::debug;
  else if (o.verbosity >= 2) level = spdlog::level::trace;
  logger->set_level(level);
}

}  // namespace hone
