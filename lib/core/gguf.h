// GGUF: reader (v2/v3, every metadata value type, tensor infos, alignment) and streaming writer.
//
// Layout (ggml/docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 kv count, key/values
// (string key, u32 value type, value), tensor infos (string name, u32 n_dims, u64 ne[n_dims] with
// ne[0] the contiguous dimension, u32 ggml type, u64 offset), padding to `general.alignment`
// (default 32), tensor data. Strings are u64 length + UTF-8 bytes. All little-endian.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/fs.h"
#include "core/ggml_types.h"

namespace hone {

// What the reader accepts, beyond what the file's size allows. Every count and length is checked
// against the bytes left in the file and against these limits before anything is allocated for
// it, so a short file that claims 2^60 entries is rejected at once, and the memory that metadata
// takes stays within a small multiple of the file's size. Each limit is far above any published
// model: the largest vocabularies hold about 262k tokens (Gemma 3) and merge lists about 500k;
// large models about 2,000 tensors.
inline constexpr std::uint64_t kGGUFMaxTensors = std::uint64_t{1} << 20;        // tensor infos
inline constexpr std::uint64_t kGGUFMaxMetadata = std::uint64_t{1} << 20;       // key/value pairs
inline constexpr std::uint64_t kGGUFMaxArrayLength = std::uint64_t{1} << 24;    // elements of one array
inline constexpr std::uint64_t kGGUFMaxValues = std::uint64_t{1} << 25;         // array elements, whole file
inline constexpr std::uint64_t kGGUFMaxStringLength = std::uint64_t{1} << 28;   // bytes of one string

enum class GGUFType : std::uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view gguf_type_name(GGUFType t);

// One metadata value. Integers of every width are held as u64/i64 and floats as double, with
// `type` remembering the stored width so that a round trip writes the same bytes.
struct GGUFValue {
  struct Array {
    GGUFType elem = GGUFType::kU8;
    std::vector<GGUFValue> items;
  };
  GGUFType type = GGUFType::kU8;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, Array> v;

  static GGUFValue u32(std::uint32_t x) { return {GGUFType::kU32, std::uint64_t{x}}; }
  static GGUFValue u64(std::uint64_t x) { return {GGUFType::kU64, x}; }
  static GGUFValue i32(std::int32_t x) { return {GGUFType::kI32, std::int64_t{x}}; }
  static GGUFValue f32(float x) { return {GGUFType::kF32, double{x}}; }
  static GGUFValue boolean(bool x) { return {GGUFType::kBool, x}; }
  static GGUFValue str(std::string x) { return {GGUFType::kString, std::move(x)}; }
  static GGUFValue array(GGUFType elem, std::vector<GGUFValue> items) {
    return {GGUFType::kArray, Array{elem, std::move(items)}};
  }
  // Short human-readable rendering (arrays abbreviated), for `hone info`.
  std::string to_string(std::size_t max_items = 8) const;
};

struct GGUFTensorInfo {
  std::string name;
  std::vector<std::int64_t> ne;  // ggml order: ne[0] is contiguous
  GGMLType type = GGMLType::kF32;
  std::uint64_t offset = 0;      // relative to the data section
  std::size_t nbytes = 0;
  const std::byte* data = nullptr;
  std::int64_t numel() const;
  std::vector<std::int64_t> shape() const;  // torch order (ne reversed)
};

class GGUFFile {
 public:
  static GGUFFile open(const fs::path& path);

  const fs::path& path() const { return file_->path(); }
  std::uint32_t version() const { return version_; }
  std::uint32_t alignment() const { return alignment_; }
  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return kv_; }
  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

  const GGUFValue* find(const std::string& key) const;
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  const GGUFTensorInfo& tensor(const std::string& name) const;  // InputError naming it if absent

  // Typed getters: throw InputError naming the key and the expected type.
  std::string get_string(const std::string& key) const;
  std::uint64_t get_uint(const std::string& key) const;  // any unsigned or non-negative integer
  double get_float(const std::string& key) const;        // f32, f64 (or an integer)
  bool get_bool(const std::string& key) const;
  const GGUFValue::Array& get_array(const std::string& key) const;
  std::optional<std::string> opt_string(const std::string& key) const;
  std::optional<std::uint64_t> opt_uint(const std::string& key) const;
  std::optional<double> opt_float(const std::string& key) const;

  // Dequantises a tensor into `dst` (numel floats).
  void dequantize(const GGUFTensorInfo& t, float* dst) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::map<std::string, std::size_t> kv_index_;
  std::vector<GGUFTensorInfo> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

// Builds a GGUF file: metadata in insertion order, tensors whose bytes are produced on demand
// while writing (so a merge can stream tensor by tensor), written atomically.
class GGUFWriter {
 public:
  using Producer = std::function<void(std::byte* dst)>;  // fills exactly the tensor's bytes

  explicit GGUFWriter(std::uint32_t alignment = 32);
  void set(const std::string& key, GGUFValue value);  // replaces an existing key in place
  // A tensor of `type` with torch-order `shape`; `fill` writes ggml_row_bytes(type, numel) bytes.
  void add_tensor(const std::string& name, GGMLType type, const std::vector<std::int64_t>& shape, Producer fill);
  // Convenience: float32 data (torch order, contiguous) converted/quantised to `type` on write.
  void add_tensor_f32(const std::string& name, GGMLType type, const std::vector<std::int64_t>& shape,
                      const float* data);
  void write(const fs::path& path);

 private:
  struct Pending {
    std::string name;
    GGMLType type;
    std::vector<std::int64_t> ne;
    std::size_t nbytes;
    Producer fill;
  };
  std::uint32_t alignment_;
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::vector<Pending> tensors_;
};

}  // namespace hone
