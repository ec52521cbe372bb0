// Training progress on stderr: a bar redrawn in place on a terminal, or a log line every few steps.
// Only the main rank reports.
#pragma once

#include <cstdint>

namespace hone {

// How training reports progress on stderr.
enum class ProgressMode {
  kAuto,  // a bar on a terminal (with text logs), log lines otherwise
  kBar,
  kLog,
  kNone,
};

class Progress {
 public:
  Progress(ProgressMode mode, std::int64_t total, std::int64_t log_every, bool main);
  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // After optimiser step `step` (1-based) of `total`: the bar, or a log line every `log_every` steps
  // and at the last.
  void update(std::int64_t step, double loss, double lr, double tokens_per_s, double eta_s);
  // Ends the bar's line before other output.
  void finish();

 private:
  enum class Kind { kNone, kBar, kLog } kind_;
  std::int64_t total_, log_every_;
  bool open_ = false;  // the bar's line is not ended yet
};

}  // namespace hone
