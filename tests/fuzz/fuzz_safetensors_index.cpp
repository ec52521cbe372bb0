// Fuzz target: the index of a sharded checkpoint, model.safetensors.index.json
// (SafetensorsCheckpoint::open, lib/core/safetensors.cpp). The input is the index; beside it lie
// two valid shards, model-00001-of-00002.safetensors (tensors a, b) and
// model-00002-of-00002.safetensors (tensor c), so that a fuzzed weight_map can name real shards,
// missing ones, paths outside the directory, or put tensors in the wrong shard.
#include <vector>

#include "core/safetensors.h"
#include "fuzz_target.h"

namespace {

const char* const kShard1 = "model-00001-of-00002.safetensors";
const char* const kShard2 = "model-00002-of-00002.safetensors";

void write_shards(const hone::fs::path& dir) {
  static const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  hone::write_safetensors(dir / kShard1, {{"a", hone::DType::kF32, {2}, values.data(), 8},
                                          {"b", hone::DType::kF32, {1, 2}, values.data() + 2, 8}});
  hone::write_safetensors(dir / kShard2, {{"c", hone::DType::kF32, {2}, values.data() + 4, 8}});
}

}  // namespace

HONE_FUZZ_TARGET(safetensors_index) {
  const auto path = hone::fuzz::input_file(data, size, "model.safetensors.index.json");
  static const bool shards_written = (write_shards(path.parent_path()), true);
  (void)shards_written;
  const hone::SafetensorsCheckpoint c = hone::SafetensorsCheckpoint::open(path);
  std::uint64_t bytes = 0;
  for (const std::string& name : c.names()) {
    HONE_FUZZ_INVARIANT(c.contains(name));
    bytes += c.get(name).nbytes;
    HONE_FUZZ_INVARIANT(c.mapping(name) != nullptr);
  }
  HONE_FUZZ_INVARIANT(bytes == c.total_bytes());
  return 0;
}

HONE_FUZZ_SEEDS(safetensors_index) {
  seeds.add("index.json", R"({"metadata": {"total_size": 24}, "weight_map": {"a": ")" + std::string(kShard1) +
                              R"(", "b": ")" + kShard1 + R"(", "c": ")" + kShard2 + "\"}}\n");
  seeds.add("one-shard.json", R"({"weight_map": {"a": ")" + std::string(kShard1) + R"(", "b": ")" + kShard1 + "\"}}");
  seeds.add("escape.json", R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})");
  seeds.add("empty.json", R"({"weight_map": {}})");
}
