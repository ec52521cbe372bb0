// Errors: one exception hierarchy for all of hone, thrown through HONE_CHECK / HONE_THROW.
//
// Every error carries the source location that raised it (file:line), a message that names the
// offending file, line or tensor and what was expected, and an optional hint on what to do. Only
// `main` catches; it logs the error and maps its kind to the process exit code (README: exit codes).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hone {

// Process exit codes (documented in README.md).
enum class ExitCode : int {
  kOk = 0,
  kRuntime = 1,   // the job could not be done (I/O failure, numerical failure, internal error)
  kUsage = 2,     // the command line or config file is wrong
  kBadInput = 3,  // an input file (data, model, adapter, store) is malformed or does not fit
  kGateFailed = 4,  // the job ran and wrote its outputs, and a quality gate it was given failed (hone eval)
  kInterrupted = 130,  // stopped by SIGINT/SIGTERM after saving what can be resumed (128 + SIGINT)
};

struct SourceLoc {
  const char* file;
  int line;
};

// A hint is the "what to do about it" part of an error, shown on its own line.
struct Hint {
  std::string text;
};

class Error : public std::runtime_error {
 public:
  Error(SourceLoc loc, std::string message, std::string hint = {});
  virtual ExitCode exit_code() const { return ExitCode::kRuntime; }
  virtual const char* kind() const { return "error"; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  // "lib/core/gguf.cpp:123": where in hone's source the error was raised.
  std::string where() const;

 private:
  SourceLoc loc_;
  std::string message_;
  std::string hint_;
};

// The job failed for a reason that is not the user's input (I/O, numerical trouble, a bug).
class RuntimeError : public Error {
 public:
  using Error::Error;
};

// The command line or a config file asks for something invalid.
class UsageError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kUsage; }
  const char* kind() const override { return "usage error"; }
};

// An input file is malformed or inconsistent (bad data record, lying header, missing tensor...).
class InputError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kBadInput; }
  const char* kind() const override { return "bad input"; }
};

// The job was stopped by a signal after it saved its state (training writes a checkpoint first).
class InterruptedError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kInterrupted; }
  const char* kind() const override { return "interrupted"; }
};

// The job ran and wrote its outputs, but what it measured fails a gate it was asked to check
// (`hone eval --min/--max-drop`): a verdict for CI, not a fault.
class GateFailure : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kGateFailed; }
  const char* kind() const override { return "gate failed"; }
};

// A feature that is declared on the command line but not built yet; names the issue that adds it.
class NotImplementedError : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "not implemented"; }
};

namespace detail {
template <class E, class... Args>
[[noreturn]] void fail(SourceLoc loc, fmt::format_string<Args...> f, Args&&... args) {
  throw E(loc, fmt::format(f, std::forward<Args>(args)...));
}
template <class E, class... Args>
[[noreturn]] void fail(SourceLoc loc, Hint hint, fmt::format_string<Args...> f, Args&&... args) {
  throw E(loc, fmt::format(f, std::forward<Args>(args)...), std::move(hint.text));
}
}  // namespace detail

}  // namespace hone

#define HONE_HERE (::hone::SourceLoc{__FILE__, __LINE__})

// HONE_CHECK(cond, Kind, [Hint{"..."},] "format {}", args...): throws hone::Kind when !cond.
#define HONE_CHECK(cond, Kind, ...)                                 \
  do {                                                              \
    if (!(cond)) ::hone::detail::fail<::hone::Kind>(HONE_HERE, __VA_ARGS__); \
  } while (0)

// HONE_THROW(Kind, [Hint{"..."},] "format {}", args...): throws unconditionally.
#define HONE_THROW(Kind, ...) ::hone::detail::fail<::hone::Kind>(HONE_HERE, __VA_ARGS__)
