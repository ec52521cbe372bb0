// Fuzz target: the teacher cache reader (distill/teacher_cache.h): opening a cache (its
// attributes, offsets and dataset shapes), then reading rows and hidden states the way distillation
// reads a batch, which checks every row is a distribution. Structure-aware (fuzz_h5_file.h says
// why); links LibTorch, since the reader hands out tensors.
#include <ATen/ops/tensor.h>

#include <cmath>
#include <limits>

#include "distill/teacher_cache.h"
#include "fuzz_h5_file.h"
#include "fuzz_target.h"

namespace {

// The names TeacherCacheReader looks up, and a few it does not.
const std::vector<std::string>& cache_names() {
  static const std::vector<std::string> names = {
      "train", "row_offsets", "topk_ids", "topk_logprobs", "tail_logprob", "hidden_offsets", "hidden_layer_0",
      "hidden_layer_1", "hidden_layer_2", "hone_teacher_cache_version", "tokenizer_fingerprint", "store_sha256",
      "store", "teacher", "teacher_adapter", "teacher_config", "topk", "temperature", "vocab_size", "teacher_dtype",
      "hidden_layers", "hidden_tokens", "hidden_dtype", "hidden_size", "student_layers", "valid"};
  return names;
}

constexpr std::int64_t kMaxSequences = 64;  // sequences read one at a time, then as one batch

}  // namespace

HONE_FUZZ_TARGET(teacher_cache) {
  const auto path = hone::fuzz::input_file(nullptr, 0, "cache.h5");
  hone::fuzz::build_h5_file(data, size, cache_names(), path);
  const hone::TeacherCacheReader cache(path);
  const hone::TeacherCacheMeta& meta = cache.meta();
  std::vector<std::int64_t> sequences;
  for (std::int64_t j = 0; j < kMaxSequences; ++j) {
    try {
      cache.rows({j}, at::kCPU);
    } catch (const hone::UsageError&) {
      break;  // the caller asked for a sequence the cache does not have: the end of the cache
    }
    sequences.push_back(j);
  }
  cache.rows(sequences, at::kCPU);
  if (!meta.hidden_layers.empty()) cache.hidden(sequences, meta.hidden_layers, at::kCPU);
  return 0;
}

// Caches written by hone's writer and accepted by its reader: top-k rows only, and with the hidden
// states of two layers.
HONE_FUZZ_SEEDS(teacher_cache) {
  using hone::fuzz::H5Type;
  const std::vector<std::int64_t> offsets = {0, 2, 3};  // sequence 0: rows 0-1, sequence 1: row 2
  // Three rows of the top 3 of 10 tokens: probabilities 1/2, 1/4, 1/8 and a tail of 1/8.
  const std::vector<std::int64_t> ids = {4, 1, 7, 0, 9, 3, 2, 5, 8};
  const std::vector<float> lp = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.5f), std::log(0.25f),
                                 std::log(0.125f), std::log(0.5f), std::log(0.25f), std::log(0.125f)};
  const std::vector<float> tail(3, std::log(0.125f));
  const std::vector<float> hidden = {0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 3, 0, 0.125f, -2, 1.5f};  // [3, 4]
  const auto path = seeds.dir() / "cache.h5.tmp";
  for (const bool with_hidden : {false, true}) {
    hone::TeacherCacheMeta meta;
    meta.tokenizer_fingerprint = "3f1c0e5b7d9a2c4e";
    meta.store_sha256 = "feed";
    meta.topk = 3;
    meta.vocab_size = 10;
    meta.rows = 3;
    if (with_hidden) {
      meta.hidden_layers = {0, 2};
      meta.hidden_dtype = "f32";
      meta.hidden_size = 4;
      meta.hidden_rows = 3;
    }
    {
      hone::TeacherCacheWriter w(path, meta, offsets, with_hidden ? offsets : std::vector<std::int64_t>{});
      w.append({at::tensor(ids).view({3, 3}), at::tensor(lp).view({3, 3}), at::tensor(tail)});
      if (with_hidden) w.append_hidden({at::tensor(hidden).view({3, 4}), at::tensor(hidden).view({3, 4})});
      w.commit();
    }
    const hone::TeacherCacheReader check(path);  // hone's reader accepts what its writer wrote
    check.rows({0, 1}, at::kCPU);
    std::filesystem::remove(path);

    hone::fuzz::H5Program p(cache_names());
    p.attr_int(0, "hone_teacher_cache_version", hone::kTeacherCacheVersion);
    p.attr_string(0, "tokenizer_fingerprint", meta.tokenizer_fingerprint);
    p.attr_string(0, "store_sha256", meta.store_sha256);
    p.attr_string(0, "teacher", "teacher.gguf");
    p.attr_int(0, "topk", meta.topk);
    p.attr_double(0, "temperature", meta.temperature);
    p.attr_int(0, "vocab_size", meta.vocab_size);
    p.attr_string(0, "teacher_dtype", "f32");
    const int g = p.group(0, "train");
    p.dataset_ints(g, "row_offsets", H5Type::kI64, {offsets.size()}, offsets);
    p.dataset_ints(g, "topk_ids", H5Type::kI32, {3, 3}, ids);
    p.dataset_floats(g, "topk_logprobs", {3, 3}, lp);
    p.dataset_floats(g, "tail_logprob", {3}, tail);
    if (with_hidden) {
      p.attr_string(0, "hidden_layers", "0,2");
      p.attr_string(0, "hidden_tokens", "targets");
      p.attr_string(0, "hidden_dtype", "f32");
      p.attr_int(0, "hidden_size", 4);
      p.dataset_ints(g, "hidden_offsets", H5Type::kI64, {offsets.size()}, offsets);
      p.dataset_floats(g, "hidden_layer_0", {3, 4}, hidden);
      p.dataset_floats(g, "hidden_layer_2", {3, 4}, hidden);
    }
    // The program must give a cache the reader accepts too, or the fuzzer would start outside it.
    const std::string program = p.str();
    hone::fuzz::build_h5_file(reinterpret_cast<const std::uint8_t*>(program.data()), program.size(), cache_names(),
                              path);
    const hone::TeacherCacheReader again(path);
    again.rows({0, 1}, at::kCPU);
    if (with_hidden) again.hidden({0, 1}, {0, 2}, at::kCPU);
    std::filesystem::remove(path);
    seeds.add(with_hidden ? "hidden.bin" : "topk.bin", program);
  }
}
