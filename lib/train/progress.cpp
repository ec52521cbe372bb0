#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <string>

#include "core/log.h"
#include "core/measure.h"

namespace hone {

Progress::Progress(ProgressMode mode, std::int64_t total, std::int64_t log_every, bool main)
    : total_(total), log_every_(std::max<std::int64_t>(1, log_every)) {
  // A bar on a terminal, unless the logs are JSON lines: a bar would break them.
  const bool tty = ::isatty(STDERR_FILENO) != 0 && current_log_format() == LogFormat::kText;
  if (!main || mode == ProgressMode::kNone)
    kind_ = Kind::kNone;
  else if (mode == ProgressMode::kBar || (mode == ProgressMode::kAuto && tty))
    kind_ = Kind::kBar;
  else
    kind_ = Kind::kLog;
}

void Progress::update(std::int64_t step, double loss, double lr, double tokens_per_s, double eta_s) {
  if (kind_ == Kind::kLog && (step % log_every_ == 0 || step == total_)) {
    spdlog::info("step {}/{}  loss {:.4f}  lr {:.2e}  {:.0f} tok/s  eta {}", step, total_, loss, lr, tokens_per_s,
                 format_duration(eta_s));
  } else if (kind_ == Kind::kBar) {
    const int width = 30;
    const double frac = total_ > 0 ? static_cast<double>(step) / total_ : 1.0;
    const int filled = static_cast<int>(frac * width);
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    std::fprintf(stderr, "\r%6lld/%lld [%s] %3.0f%%  loss %.4f  lr %.2e  %.0f tok/s  eta %s \033[K",
                 static_cast<long long>(step), static_cast<long long>(total_), bar.c_str(), frac * 100, loss, lr,
                 tokens_per_s, format_duration(eta_s).c_str());
    std::fflush(stderr);
    open_ = true;
  }
}

void Progress::finish() {
  if (open_) std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace hone
