// The offline teacher: an HDF5 file of the teacher's top-k log-probabilities at every target
// (loss-masked) position of a token store's train split, so that a student can be distilled
// with no teacher in memory (layout: docs/formats.md, "Teacher cache").
//
//   /train/topk_ids       int32   [targets, K]   chunked, shuffle + deflate
//   /train/topk_logprobs  float32 [targets, K]   log softmax(z / T), by decreasing probability
//   /train/tail_logprob   float32 [targets]      log of the mass outside the top K (-inf: none)
//   /train/row_offsets    int64   [sequences + 1] sequence j's targets are rows [o[j], o[j+1])
//   root attributes: the store's tokenizer fingerprint and train-split SHA-256, the teacher's
//   identity (model, adapter, tokenizer, configuration), K, T, vocab size.
//
// Optionally also the outputs of some teacher layers (those a `layers:` student keeps), for the
// hidden-state loss, at the targets (the rows above) or at every real token:
//   /train/hidden_layer_<l>  uint16 (bf16 or f16 bits) or float32 [hidden rows, H], chunked, shuffle + deflate
//   /train/hidden_offsets    int64 [sequences + 1]   sequence j's hidden rows are [o[j], o[j+1])
//   root attributes: hidden_layers, hidden_tokens, hidden_dtype, hidden_size, student_layers.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "distill/kd_loss.h"

namespace hone {

inline constexpr std::int64_t kTeacherCacheVersion = 1;

// The tokens a hidden-state loss runs over (and a cache stores hidden states at).
enum class HiddenTokens {
  kAll,      // every real token
  kTargets,  // the loss-masked positions
};
std::string_view to_string(HiddenTokens tokens);

struct TeacherCacheMeta {
  std::string tokenizer_fingerprint;  // the store's (and so the teacher's)
  std::string store_sha256;           // data::split_sha256 of the store's train split
  std::string store;                  // the store's path (informational)
  std::string teacher;                // the teacher model's path
  std::string teacher_adapter;        // its adapter directory, or ""
  std::string teacher_config;         // the teacher's ModelConfig as HF config.json text
  std::int64_t topk = 0;
  double temperature = 1.0;
  std::int64_t vocab_size = 0;        // the teacher's output width
  std::string teacher_dtype = "f32";  // the teacher's weights and compute when cached: f32 or bf16
  std::int64_t rows = 0;              // targets in the split
  // Hidden states: the outputs of these teacher layers (increasing; empty: none).
  std::vector<std::int64_t> hidden_layers;
  HiddenTokens hidden_tokens = HiddenTokens::kTargets;
  std::string hidden_dtype = "bf16";  // how they are stored: f32, bf16 or f16
  std::int64_t hidden_size = 0;
  std::int64_t hidden_rows = 0;       // rows of each hidden dataset
  std::string student_layers;         // how the layers were chosen (JSON, informational)
};

// Writes a cache: `rows_of(first, count)` returns the teacher rows of targets
// [first, first + count) (called in order, covering every row once). `row_offsets` is the
// store's train_offsets for the train split. Written to a temporary file and renamed.
class TeacherCacheWriter {
 public:
  // With meta.hidden_layers, `hidden_offsets` are the hidden rows' per-sequence offsets (the
  // targets' for kTargets, the real tokens' for kAll).
  TeacherCacheWriter(const fs::path& path, const TeacherCacheMeta& meta, const std::vector<std::int64_t>& row_offsets,
                     const std::vector<std::int64_t>& hidden_offsets = {});
  ~TeacherCacheWriter();
  void append(const TeacherTopK& rows);  // the next rows, in order
  // The next hidden rows, in order: one [n, H] tensor per layer of meta.hidden_layers. UsageError
  // when a value is beyond the storage dtype's range (f16).
  void append_hidden(const std::vector<at::Tensor>& layers);
  void commit();                         // all rows written: close and rename into place

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads rows of a cache for training batches.
class TeacherCacheReader {
 public:
  explicit TeacherCacheReader(const fs::path& path);  // InputError naming the file when it is not a cache
  ~TeacherCacheReader();
  const TeacherCacheMeta& meta() const;
  // The rows of `sequences` (in that order), concatenated, on `device`.
  TeacherTopK rows(const std::vector<std::int64_t>& sequences, c10::Device device) const;
  // The stored outputs of teacher `layers` (each in meta().hidden_layers) at the hidden rows of
  // `sequences` (in that order), concatenated: one float32 [rows, H] tensor per layer, on `device`.
  std::vector<at::Tensor> hidden(const std::vector<std::int64_t>& sequences, const std::vector<std::int64_t>& layers,
                                 c10::Device device) const;
  // UsageError unless the cache holds the outputs of every layer of `layers` at `tokens`, and
  // InputError unless its hidden rows are `hidden_offsets` (the store's).
  void check_hidden(const std::vector<std::int64_t>& layers, HiddenTokens tokens,
                    const std::vector<std::int64_t>& hidden_offsets) const;
  // InputError naming both fingerprints unless the cache was made from this store's train split
  // (`store_sha256`) with this tokenizer, and `row_offsets` match.
  void check_store(const fs::path& store, const std::string& tokenizer_fingerprint, const std::string& store_sha256,
                   const std::vector<std::int64_t>& row_offsets) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hone
