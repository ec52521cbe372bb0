// Fuzz targets for the readers of untrusted files (GGUF, safetensors, JSON configs, tokenizers,
// data files), built two ways from the same source:
//  - with HONE_LIBFUZZER (tests/fuzz/CMakeLists.txt, HONE_FUZZ=ON, clang): a libFuzzer binary
//    fuzz_<name> whose LLVMFuzzerTestOneInput runs the target under ASan and UBSan;
//  - without it (the normal GoogleTest suite, test_fuzz_regressions.cpp): the target registered by
//    name, so that every input that ever crashed (tests/fuzz/crashes/<name>/) or that guards a fix
//    (tests/fuzz/regressions/<name>/) is replayed by gcc builds, and the seed corpus is written.
//
// What counts as a finding: a reader must answer any malformed input with hone::InputError (exit
// code 3, naming the file and what was expected). HONE_FUZZ_TARGET catches InputError and nothing
// else, so every other exception (hone's RuntimeError or UsageError, std::bad_alloc, std::out_of_range,
// nlohmann's json::exception, ...) escapes: libFuzzer aborts on it and keeps the input, and the
// regression test fails on it. So do crashes, sanitizer reports (out-of-bounds reads, signed
// overflow, float-to-int overflow, misaligned loads), leaks, a run over -timeout (a hang) and a run
// over -rss_limit_mb (an allocation sized by a claim in the file). A target whose reader may
// legitimately throw another kind for a well-formed request catches it in its body, with a comment.
//
// Usage, one target per file tests/fuzz/fuzz_<name>.cpp:
//   HONE_FUZZ_TARGET(gguf) {
//     const auto path = hone::fuzz::input_file(data, size, "model.gguf");  // readers take paths
//     hone::GGUFFile::open(path);
//     return 0;
//   }
//   HONE_FUZZ_SEEDS(gguf) { seeds.add("tiny.gguf", bytes); }  // optional: the starting corpus
// and one line `hone_fuzz_target(gguf SOURCES fuzz_gguf.cpp LIBS hone_core)` in CMakeLists.txt.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"

namespace hone::fuzz {

using TargetFn = int (*)(const std::uint8_t* data, std::size_t size);

// Where a target's seed corpus goes (FuzzSeeds.Write: $HONE_FUZZ_SEEDS/<name>/).
class Seeds {
 public:
  explicit Seeds(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // Writes one seed file `name` (a plain file name) holding `bytes`.
  void add(const std::string& name, std::string_view bytes) const {
    std::FILE* f = std::fopen((dir_ / name).c_str(), "wb");
    HONE_CHECK(f != nullptr, RuntimeError, "cannot write seed {}", (dir_ / name).string());
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    HONE_CHECK(std::fclose(f) == 0 && ok, RuntimeError, "cannot write seed {}", (dir_ / name).string());
  }
  const std::filesystem::path& dir() const { return dir_; }  // for seeds written by hone's own writers

 private:
  std::filesystem::path dir_;
};
using SeedsFn = void (*)(const Seeds& seeds);

struct Target {
  TargetFn run = nullptr;
  SeedsFn seeds = nullptr;
};

// Every target linked into this binary, by name.
inline std::map<std::string, Target>& registry() {
  static std::map<std::string, Target> targets;
  return targets;
}
struct Registrar {
  Registrar(const char* name, TargetFn run) { registry()[name].run = run; }
  Registrar(const char* name, SeedsFn seeds) { registry()[name].seeds = seeds; }
};

// The input written to `name` in a directory private to this process (under $TMPDIR, or /dev/shm
// where it exists), for readers that take a path. The same path is overwritten on every call, and
// the directory is removed when the process exits.
inline std::filesystem::path input_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
  struct PrivateDir {
    std::filesystem::path path;
    PrivateDir() {
      const char* tmp = std::getenv("TMPDIR");
      std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : (tmp ? tmp : "/tmp");
      path = base / ("hone-fuzz-" + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~PrivateDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const PrivateDir dir;
  const auto path = dir.path / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  HONE_CHECK(f != nullptr, RuntimeError, "cannot write fuzz input {}", path.string());
  const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
  HONE_CHECK(std::fclose(f) == 0 && ok, RuntimeError, "cannot write fuzz input {}", path.string());
  return path;
}

// Runs `body` and swallows the expected rejection (InputError); everything else escapes.
template <class Body>
int run_target(Body body, const std::uint8_t* data, std::size_t size) {
  try {
    body(data, size);
  } catch (const ::hone::InputError&) {
  }
  return 0;
}

}  // namespace hone::fuzz

#ifdef HONE_LIBFUZZER
#include <spdlog/spdlog.h>
// One libFuzzer binary per target: the target file also defines the entry points. Readers' log
// lines (warnings about odd inputs) are silenced, millions of runs would print them.
#define HONE_FUZZ_ENTRY_POINT(name)                                                  \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                               \
    spdlog::set_level(spdlog::level::off);                                           \
    return 0;                                                                        \
  }                                                                                  \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return hone_fuzz_##name(data, size);                                             \
  }
#else
#define HONE_FUZZ_ENTRY_POINT(name)
#endif

// HONE_FUZZ_TARGET(name) { body using `data` and `size`; return 0; }
// Defines int hone_fuzz_<name>(data, size), registers it, and (HONE_LIBFUZZER) the entry point.
#define HONE_FUZZ_TARGET(name)                                                                       \
  static int hone_fuzz_body_##name(const std::uint8_t* data, std::size_t size);                       \
  int hone_fuzz_##name(const std::uint8_t* data, std::size_t size) {                                  \
    return ::hone::fuzz::run_target(hone_fuzz_body_##name, data, size);                               \
  }                                                                                                   \
  static const ::hone::fuzz::Registrar hone_fuzz_registrar_##name(#name, &hone_fuzz_##name);          \
  HONE_FUZZ_ENTRY_POINT(name)                                                                         \
  static int hone_fuzz_body_##name([[maybe_unused]] const std::uint8_t* data, [[maybe_unused]] std::size_t size)

// HONE_FUZZ_INVARIANT(cond): what a reader promises about what it accepted (a tensor's bytes lie
// inside the file, its shape has no negative dimension...). A broken promise is a finding: it
// throws std::logic_error, which escapes the target.
#define HONE_FUZZ_STR2(x) #x
#define HONE_FUZZ_STR(x) HONE_FUZZ_STR2(x)
#define HONE_FUZZ_INVARIANT(cond)                                                                 \
  do {                                                                                            \
    if (!(cond)) throw std::logic_error("fuzz invariant broken at " __FILE__ ":" HONE_FUZZ_STR(__LINE__) ": " #cond); \
  } while (0)

// HONE_FUZZ_SEEDS(name) { seeds.add("file", bytes); ... }: the target's starting corpus, written by
// the FuzzSeeds.Write test (skips a seed whose asset is absent; never fails for a missing model).
#define HONE_FUZZ_SEEDS(name)                                                                          \
  static void hone_fuzz_seeds_##name(const ::hone::fuzz::Seeds& seeds);                               \
  static const ::hone::fuzz::Registrar hone_fuzz_seeds_registrar_##name(                              \
      #name, static_cast<::hone::fuzz::SeedsFn>(&hone_fuzz_seeds_##name));                           \
  static void hone_fuzz_seeds_##name([[maybe_unused]] const ::hone::fuzz::Seeds& seeds)
