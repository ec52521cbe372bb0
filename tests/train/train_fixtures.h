// Fixtures of the training tests: a tiny llama GGUF that carries SmolLM2's tokenizer (so that
// token stores made with SmolLM2 fit it and a training step takes milliseconds), token stores
// made through the real `hone ingest` / `hone tokenize`, and process helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hone::test {

namespace fs = std::filesystem;

// Writes DIR/tiny.gguf: `layers` layers (2 by default), hidden 64, 4 heads (2 KV), intermediate
// 128, tied head, random float32 weights (std 0.05, seed `seed`), SmolLM2's tokenizer metadata.
// Needs the model.
fs::path write_tiny_gguf(const fs::path& dir, std::uint64_t seed = 1, std::int64_t layers = 2);

// Copies a GGUF file with one tokenizer setting changed (eos id 1), so that its tokenizer
// fingerprint differs from the source's while the weights are the same.
void write_gguf_with_other_tokenizer(const fs::path& src, const fs::path& dst);

// Writes `n_train` (and `n_valid`) prompt/completion examples of varying lengths, ingests and
// tokenizes them with `model`'s tokenizer; returns the .h5 path. `packed`: --pack --max-len 96.
fs::path make_store(const fs::path& dir, const fs::path& model, int n_train, int n_valid, bool packed);

// Command-line arguments a, then b.
inline std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A child process running build/hone with extra environment variables.
struct Child {
  int pid = -1;
  // Exit code, or 128 + signal; -1 (and a test failure) when it is still running after `limit`,
  // in which case it is killed.
  int wait(std::chrono::seconds limit = std::chrono::seconds(600));
};
Child spawn_hone(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                 const fs::path& log = {});

// The tensors of a safetensors file of float32, bfloat16 or float16 tensors, by name, as float32.
std::vector<std::pair<std::string, std::vector<float>>> read_f32_tensors(const fs::path& file);

// max |a - b| over all tensors of two files with the same names and shapes.
double max_abs_diff(const fs::path& a, const fs::path& b);

// Largest step number in a run's metrics.jsonl (0 when absent).
long last_metrics_step(const fs::path& run);

// Polls until the run's metrics.jsonl reaches `step`. False when the child exits first, or when
// `limit` passes (the child is then killed); either way it is reaped and c.pid becomes -1. A child
// that dies early or hangs fails the test instead of hanging it.
bool wait_for_step(Child& c, const fs::path& run, long step, std::chrono::seconds limit);

// A TCP port on the loopback interface that was free a moment ago (MASTER_PORT of a test's ranks).
int free_port();

}  // namespace hone::test
