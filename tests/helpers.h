// Shared test helpers: temporary directories, running commands (hone itself, the reference
// peers in the virtualenv), and assertions on error messages.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"

namespace hone::test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  std::vector<std::string> entries() const;  // names of the files in it, sorted

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs argv (no shell) and captures its output.
CommandResult run_command(const std::vector<std::string>& argv);

// Runs build/hone with these arguments.
CommandResult run_hone(const std::vector<std::string>& args);

// Runs build/hone with a file-size limit of `kib` KiB (RLIMIT_FSIZE, as a full disk would stop it).
CommandResult run_hone_limited(int kib, const std::vector<std::string>& args);

// Runs a script from tests/python with the virtualenv's Python.
CommandResult run_python(const std::string& script, const std::vector<std::string>& args);

// Whether the reference peers (the virtualenv) and the default model exist.
bool have_python();
bool have_model();
std::string model_path();

void write_bytes(const fs::path& path, const std::string& bytes);
std::string read_bytes(const fs::path& path);

// The JSON value of every non-empty line of a JSON-lines file (predictions.jsonl, ingest's splits).
std::vector<nlohmann::json> read_jsonl(const fs::path& path);

}  // namespace hone::test

// Asserts that `stmt` throws hone::Kind whose message contains `substr`.
#define EXPECT_HONE_ERROR(stmt, Kind, substr)                                                      \
  do {                                                                                             \
    try {                                                                                          \
      stmt;                                                                                        \
      ADD_FAILURE() << "expected " #Kind " containing \"" << (substr) << "\", nothing was thrown"; \
    } catch (const ::hone::Kind& e) {                                                              \
      EXPECT_NE(e.message().find(substr), std::string::npos)                                       \
          << "message: " << e.message() << "\nexpected to contain: " << (substr);                  \
    } catch (const std::exception& e) {                                                            \
      ADD_FAILURE() << "expected " #Kind ", got another exception: " << e.what();                  \
    }                                                                                              \
  } while (0)
