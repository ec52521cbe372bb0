// The fuzz targets in the normal suite (fuzz_target.h): every input a fuzzer ever kept as a
// crash (tests/fuzz/crashes/<target>/) and every input that guards a fix
// (tests/fuzz/regressions/<target>/) runs through its target, which must return (InputError is a
// return); and FuzzSeeds.Write writes each target's starting corpus for scripts/fuzz.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFuzzDir = HONE_FUZZ_DIR;
const char* const kInputDirs[] = {"crashes", "regressions"};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The input files of one target's directory, sorted; dot files (.gitkeep) are not inputs.
std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().rfind('.', 0) != 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(FuzzRegressions, EveryInputDirectoryHasItsTarget) {
  for (const char* sub : kInputDirs) {
    if (!fs::is_directory(kFuzzDir / sub)) continue;
    for (const auto& e : fs::directory_iterator(kFuzzDir / sub))
      if (e.is_directory()) {
        EXPECT_EQ(hone::fuzz::registry().count(e.path().filename().string()), 1u)
            << e.path() << " names no fuzz target linked into this test (tests/fuzz/CMakeLists.txt)";
      }
  }
}

TEST(FuzzRegressions, ReplayEveryKeptInput) {
  std::size_t replayed = 0;
  for (const auto& [name, target] : hone::fuzz::registry()) {
    ASSERT_NE(target.run, nullptr) << "seeds without a target: " << name;
    for (const char* sub : kInputDirs)
      for (const fs::path& p : inputs_in(kFuzzDir / sub / name)) {
        SCOPED_TRACE(p.string());
        const std::string bytes = read_bytes(p);
        // An escaping exception fails here; a crash or hang stops the binary (ctest reports it).
        EXPECT_NO_THROW(target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
        ++replayed;
      }
  }
  std::printf("replayed %zu kept inputs of %zu fuzz targets\n", replayed, hone::fuzz::registry().size());
}

// HONE_FUZZ_SEEDS=<dir>: writes <dir>/<target>/ for every target that has seeds.
TEST(FuzzSeeds, Write) {
  const char* out = std::getenv("HONE_FUZZ_SEEDS");
  if (out == nullptr || *out == '\0') GTEST_SKIP() << "HONE_FUZZ_SEEDS is not set (scripts/fuzz.sh sets it)";
  for (const auto& [name, target] : hone::fuzz::registry()) {
    if (target.seeds == nullptr) continue;
    SCOPED_TRACE(name);
    const fs::path dir = fs::path(out) / name;
    fs::create_directories(dir);
    const auto start = std::chrono::steady_clock::now();
    target.seeds(hone::fuzz::Seeds(dir));
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
    // Every seed must itself pass its target: a seed that crashes would hide everything else.
    for (const fs::path& p : inputs_in(dir)) {
      SCOPED_TRACE(p.string());
      const std::string bytes = read_bytes(p);
      EXPECT_NO_THROW(target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("%-24s %3zu seeds  %6.1f s\n", name.c_str(), n, took.count());
  }
}
