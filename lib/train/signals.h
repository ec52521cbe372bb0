// SIGINT/SIGTERM during training: the handler only records the signal; the loop reads it once per
// step (all ranks agree through an all-reduce), saves a checkpoint and stops with InterruptedError.
#pragma once

#include <signal.h>

namespace hone {

// Installs the handler for SIGINT and SIGTERM and clears any signal recorded before; restores the
// previous handlers on scope exit.
class SignalScope {
 public:
  SignalScope();
  ~SignalScope();
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Whether SIGINT or SIGTERM arrived while a SignalScope was installed.
bool signal_received();

}  // namespace hone
