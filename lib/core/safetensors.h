// safetensors: memory-mapped reader, atomic writer, and sharded checkpoints.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes
// of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data block; offsets are relative to the data block, C order, little-endian. The reader
// validates the header the way the reference implementation does (no overlap, no gap, every byte
// of the data block accounted for) before touching any tensor, and never allocates by a size the
// file claims.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/fs.h"

namespace hone {

// A tensor stored in a file: its bytes stay in the mapped file.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;
  std::size_t nbytes = 0;
  std::int64_t numel() const;
};

// Upper bound on the JSON header (the reference implementation's limit), and on an index file
// (model.safetensors.index.json; real ones are tens of kilobytes).
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;
// Bounds on what a header may hold, checked while it is parsed, before the JSON document is
// built: nesting (a header is {name: {dtype, shape: [...], data_offsets: [...]}}), values in all
// (about six per tensor, so some 700,000 tensors), and the elements of one tensor not counting
// zero dimensions (so that any product of its dimensions fits in 64 bits).
inline constexpr int kSafetensorsMaxDepth = 3;
inline constexpr std::uint64_t kSafetensorsMaxValues = std::uint64_t{1} << 22;
inline constexpr std::uint64_t kSafetensorsMaxElements = std::uint64_t{1} << 48;

class SafetensorsFile {
 public:
  static SafetensorsFile open(const fs::path& path);

  const fs::path& path() const { return file_->path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // in file order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  // Throws InputError naming the tensor and the file if it is absent.
  const TensorView& get(const std::string& name) const;
  // Keeps the mapped bytes alive for as long as a TensorView is used elsewhere.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: `data` must hold numel * dtype_size bytes.
struct TensorWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// Writes one safetensors file atomically. The header is padded with spaces to a multiple of 8
// bytes so that every tensor's data is 8-byte aligned in the file (as the reference writer does).
void write_safetensors(const fs::path& path, const std::vector<TensorWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A checkpoint that may be split over shards: a single `*.safetensors` file, a
// `model.safetensors.index.json` (HF sharded layout), or a directory holding either.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const fs::path& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorView& get(const std::string& name) const;
  std::shared_ptr<const MappedFile> mapping(const std::string& name) const;
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  std::uint64_t total_bytes() const;

 private:
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, std::size_t> where_;  // tensor name -> shard
};

// Writes `tensors` as shards of at most `max_shard_bytes` each (a tensor is never split) plus
// `model.safetensors.index.json`; with one shard, writes `model.safetensors` and no index.
void write_safetensors_sharded(const fs::path& dir, const std::vector<TensorWrite>& tensors,
                               std::uint64_t max_shard_bytes,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace hone
