#include "core/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace hone {

namespace {

struct KillSpec {
  bool active = false;
  std::string name;
  long nth = 1;
};

KillSpec read_spec() {
  KillSpec s;
  const char* v = std::getenv("HONE_TEST_KILL_AT");
  if (v == nullptr || *v == '\0') return s;
  s.active = true;
  s.name = v;
  const std::size_t colon = s.name.rfind(':');
  if (colon != std::string::npos) {
    s.nth = std::strtol(s.name.c_str() + colon + 1, nullptr, 10);
    s.name.resize(colon);
  }
  return s;
}

}  // namespace

void kill_point(const char* name) {
  static const KillSpec spec = read_spec();
  if (!spec.active || spec.name != name) return;
  static std::atomic<long> hits{0};
  if (++hits == spec.nth) ::kill(::getpid(), SIGKILL);
}

}  // namespace hone
