#include "core/gguf.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"

namespace hone {

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr std::uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;

std::size_t scalar_size(GGUFType t) {
  switch (t) {
    case GGUFType::kU8: case GGUFType::kI8: case GGUFType::kBool: return 1;
    case GGUFType::kU16: case GGUFType::kI16: return 2;
    case GGUFType::kU32: case GGUFType::kI32: case GGUFType::kF32: return 4;
    case GGUFType::kU64: case GGUFType::kI64: case GGUFType::kF64: return 8;
    case GGUFType::kString: return 8;   // at least its length
    case GGUFType::kArray: return 12;   // at least type + count
  }
  return 0;
}

bool valid_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GGUFType::kF64); }

// Bounds-checked little-endian cursor over the mapped file; every failure names the file, the
// byte offset and what was being read.
class Cursor {
 public:
  Cursor(const MappedFile& f) : file_(f.path().string()), p_(f.data()), size_(f.size()) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }
  void need(std::uint64_t n, const std::string& what) const {
    HONE_CHECK(n <= remaining(), InputError, "{}: truncated at byte {}: {} needs {} bytes, {} remain", file_, pos_,
               what, n, remaining());
  }
  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const auto n = read<std::uint64_t>(what + " length");
    need(n, what);  // both checked before any allocation
    HONE_CHECK(n <= kGGUFMaxStringLength, InputError, "{}: at byte {}: {} is {} bytes long, above hone's limit of {}",
               file_, pos_ - 8, what, n, kGGUFMaxStringLength);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  const std::string& file() const { return file_; }
  // Counts `n` more metadata values (array elements) against the file's budget (kGGUFMaxValues).
  void count_values(std::uint64_t n, const std::string& key) {
    values_ += n;
    HONE_CHECK(values_ <= kGGUFMaxValues, InputError,
               "{}: at byte {}: metadata '{}' brings the file's array elements to {}, above hone's limit of {}", file_,
               pos_, key, values_, kGGUFMaxValues);
  }

 private:
  std::string file_;
  const std::byte* p_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::uint64_t values_ = 0;
};

GGUFValue read_value(Cursor& c, GGUFType type, const std::string& key, int depth) {
  GGUFValue v;
  v.type = type;
  switch (type) {
    case GGUFType::kU8: v.v = std::uint64_t{c.read<std::uint8_t>(key)}; break;
    case GGUFType::kI8: v.v = std::int64_t{c.read<std::int8_t>(key)}; break;
    case GGUFType::kU16: v.v = std::uint64_t{c.read<std::uint16_t>(key)}; break;
    case GGUFType::kI16: v.v = std::int64_t{c.read<std::int16_t>(key)}; break;
    case GGUFType::kU32: v.v = std::uint64_t{c.read<std::uint32_t>(key)}; break;
    case GGUFType::kI32: v.v = std::int64_t{c.read<std::int32_t>(key)}; break;
    case GGUFType::kU64: v.v = c.read<std::uint64_t>(key); break;
    case GGUFType::kI64: v.v = c.read<std::int64_t>(key); break;
    case GGUFType::kF32: v.v = double{c.read<float>(key)}; break;
    case GGUFType::kF64: v.v = c.read<double>(key); break;
    case GGUFType::kBool: {
      const auto b = c.read<std::uint8_t>(key);
      HONE_CHECK(b <= 1, InputError, "{}: metadata '{}': bool value {} is neither 0 nor 1", c.file(), key, b);
      v.v = b == 1;
      break;
    }
    case GGUFType::kString: v.v = c.read_string("metadata '" + key + "'"); break;
    case GGUFType::kArray: {
      HONE_CHECK(depth < kMaxArrayDepth, InputError, "{}: metadata '{}': arrays nested deeper than {}", c.file(),
                 key, kMaxArrayDepth);
      const auto et = c.read<std::uint32_t>(key + " array type");
      HONE_CHECK(valid_type(et), InputError, "{}: metadata '{}': unknown array element type {}", c.file(), key, et);
      const auto n = c.read<std::uint64_t>(key + " array length");
      const auto elem = static_cast<GGUFType>(et);
      // Reject a count the rest of the file cannot hold, or above the limits, before reserving
      // memory for it (an element takes sizeof(GGUFValue) bytes, more than its bytes in the file).
      HONE_CHECK(n <= c.remaining() / scalar_size(elem), InputError,
                 "{}: at byte {}: metadata '{}': array of {} {} elements cannot fit in the {} bytes left", c.file(),
                 c.pos() - 8, key, n, gguf_type_name(elem), c.remaining());
      HONE_CHECK(n <= kGGUFMaxArrayLength, InputError,
                 "{}: at byte {}: metadata '{}': array of {} elements is above hone's limit of {}", c.file(),
                 c.pos() - 8, key, n, kGGUFMaxArrayLength);
      c.count_values(n, key);
      GGUFValue::Array arr;
      arr.elem = elem;
      arr.items.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) arr.items.push_back(read_value(c, elem, key, depth + 1));
      v.v = std::move(arr);
      break;
    }
  }
  return v;
}

}  // namespace

std::string_view gguf_type_name(GGUFType t) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",  "u16",    "i16",   "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string GGUFValue::to_string(std::size_t max_items) const {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string s = x.size() > 80 ? x.substr(0, 77) + "..." : x;
          for (auto& ch : s)
            if (ch == '\n') ch = ' ';
          return "\"" + s + "\"";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{:g}", x);
        } else if constexpr (std::is_same_v<T, Array>) {
          std::string s = fmt::format("[{} x {}]", x.items.size(), gguf_type_name(x.elem));
          if (x.elem == GGUFType::kArray) return s;
          s += " [";
          for (std::size_t i = 0; i < std::min(max_items, x.items.size()); ++i)
            s += (i ? ", " : "") + x.items[i].to_string(max_items);
          return s + (x.items.size() > max_items ? ", ...]" : "]");
        } else {
          return std::to_string(x);
        }
      },
      v);
}

std::int64_t GGUFTensorInfo::numel() const {
  return std::accumulate(ne.begin(), ne.end(), std::int64_t{1}, std::multiplies<>());
}

std::vector<std::int64_t> GGUFTensorInfo::shape() const { return {ne.rbegin(), ne.rend()}; }

// ---------------------------------------------------------------------------- reader

GGUFFile GGUFFile::open(const fs::path& path) {
  GGUFFile g;
  g.file_ = MappedFile::open(path);
  Cursor c(*g.file_);
  const std::string& file = c.file();

  HONE_CHECK(g.file_->size() >= 4, InputError, "{}: {} bytes is too short for a GGUF file", file, g.file_->size());
  const auto magic = c.read<std::uint32_t>("magic");
  HONE_CHECK(magic == kMagic, InputError, Hint{"a GGUF file starts with the 4 bytes 'GGUF'"},
             "{}: not a GGUF file (magic 0x{:08x})", file, magic);
  g.version_ = c.read<std::uint32_t>("version");
  HONE_CHECK(g.version_ == 2 || g.version_ == 3, InputError,
             Hint{"convert the model again with a current llama.cpp"},
             "{}: GGUF version {} is not supported (hone reads versions 2 and 3)", file, g.version_);
  const auto n_tensors = c.read<std::uint64_t>("tensor count");
  const auto n_kv = c.read<std::uint64_t>("metadata count");
  // Smallest possible key/value is 8+1+4+1 bytes; tensor info 8+1+4+8+4+8.
  HONE_CHECK(n_kv <= c.remaining() / 14, InputError, "{}: metadata count {} cannot fit in a {}-byte file", file,
             n_kv, g.file_->size());
  HONE_CHECK(n_tensors <= c.remaining() / 33, InputError, "{}: tensor count {} cannot fit in a {}-byte file", file,
             n_tensors, g.file_->size());
  HONE_CHECK(n_kv <= kGGUFMaxMetadata, InputError, "{}: metadata count {} is above hone's limit of {}", file, n_kv,
             kGGUFMaxMetadata);
  HONE_CHECK(n_tensors <= kGGUFMaxTensors, InputError, "{}: tensor count {} is above hone's limit of {}", file,
             n_tensors, kGGUFMaxTensors);

  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string(fmt::format("metadata key #{}", i));
    const auto t = c.read<std::uint32_t>("type of metadata '" + key + "'");
    HONE_CHECK(valid_type(t), InputError, "{}: metadata '{}': unknown value type {}", file, key, t);
    GGUFValue v = read_value(c, static_cast<GGUFType>(t), key, 0);
    HONE_CHECK(g.kv_index_.count(key) == 0, InputError, "{}: metadata key '{}' appears twice", file, key);
    g.kv_index_[key] = g.kv_.size();
    g.kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GGUFValue* a = g.find("general.alignment")) {
    HONE_CHECK(a->type == GGUFType::kU32, InputError, "{}: general.alignment must be a u32, got {}", file,
               gguf_type_name(a->type));
    const auto al = std::get<std::uint64_t>(a->v);
    HONE_CHECK(al != 0 && (al & (al - 1)) == 0, InputError,
               "{}: general.alignment {} is not a power of two", file, al);
    g.alignment_ = static_cast<std::uint32_t>(al);
  }

  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GGUFTensorInfo t;
    t.name = c.read_string(fmt::format("name of tensor #{}", i));
    const auto n_dims = c.read<std::uint32_t>("n_dims of tensor '" + t.name + "'");
    HONE_CHECK(n_dims >= 1 && n_dims <= kMaxDims, InputError, "{}: tensor '{}' has {} dimensions (expected 1 to {})",
               file, t.name, n_dims, kMaxDims);
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.read<std::uint64_t>("dims of tensor '" + t.name + "'");
      HONE_CHECK(ne >= 1 && ne <= (std::uint64_t{1} << 40) && numel <= (std::uint64_t{1} << 46) / ne, InputError,
                 "{}: tensor '{}' has an impossible dimension {} (shape so far {})", file, t.name, ne,
                 fmt::join(t.ne, "x"));
      numel *= ne;
      t.ne.push_back(static_cast<std::int64_t>(ne));
    }
    const auto type = c.read<std::uint32_t>("type of tensor '" + t.name + "'");
    const auto traits = ggml_type_traits(type);
    HONE_CHECK(traits.has_value(), InputError, "{}: tensor '{}' has unknown GGML type {}", file, t.name, type);
    t.type = static_cast<GGMLType>(type);
    HONE_CHECK(t.ne[0] % traits->block_size == 0, InputError,
               "{}: tensor '{}': row length {} is not a multiple of the {} block size {}", file, t.name, t.ne[0],
               traits->name, traits->block_size);
    t.nbytes = static_cast<std::size_t>(numel / traits->block_size) * traits->type_size;
    t.offset = c.read<std::uint64_t>("offset of tensor '" + t.name + "'");
    HONE_CHECK(t.offset % g.alignment_ == 0, InputError, "{}: tensor '{}': offset {} is not a multiple of the alignment {}",
               file, t.name, t.offset, g.alignment_);
    HONE_CHECK(g.tensor_index_.count(t.name) == 0, InputError, "{}: tensor '{}' appears twice", file, t.name);
    g.tensor_index_[t.name] = g.tensors_.size();
    g.tensors_.push_back(std::move(t));
  }

  const std::size_t data_start = (c.pos() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  const std::uint64_t data_size = g.file_->size() >= data_start ? g.file_->size() - data_start : 0;
  std::vector<const GGUFTensorInfo*> by_offset;
  for (auto& t : g.tensors_) {
    HONE_CHECK(t.offset <= data_size && t.nbytes <= data_size - t.offset, InputError,
               "{}: tensor '{}': data [{}, {}) runs past the end of the file's data section ({} bytes; truncated file?)",
               file, t.name, t.offset, t.offset + t.nbytes, data_size);
    t.data = g.file_->data() + data_start + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    HONE_CHECK(by_offset[i - 1]->offset + by_offset[i - 1]->nbytes <= by_offset[i]->offset, InputError,
               "{}: tensors '{}' and '{}' overlap in the data section", file, by_offset[i - 1]->name,
               by_offset[i]->name);
  return g;
}

const GGUFValue* GGUFFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GGUFTensorInfo& GGUFFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  HONE_CHECK(it != tensor_index_.end(), InputError, "{}: missing tensor '{}'", path().string(), name);
  return tensors_[it->second];
}

std::optional<std::string> GGUFFile::opt_string(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  HONE_CHECK(v->type == GGUFType::kString, InputError, "{}: metadata '{}' should be a string, is {}",
             path().string(), key, gguf_type_name(v->type));
  return std::get<std::string>(v->v);
}

std::optional<std::uint64_t> GGUFFile::opt_uint(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto* u = std::get_if<std::uint64_t>(&v->v)) return *u;
  if (auto* i = std::get_if<std::int64_t>(&v->v); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  HONE_THROW(InputError, "{}: metadata '{}' should be a non-negative integer, is {} {}", path().string(), key,
             gguf_type_name(v->type), v->to_string());
}

std::optional<double> GGUFFile::opt_float(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto* d = std::get_if<double>(&v->v)) return *d;
  if (auto* u = std::get_if<std::uint64_t>(&v->v)) return static_cast<double>(*u);
  if (auto* i = std::get_if<std::int64_t>(&v->v)) return static_cast<double>(*i);
  HONE_THROW(InputError, "{}: metadata '{}' should be a number, is {}", path().string(), key,
             gguf_type_name(v->type));
}

std::string GGUFFile::get_string(const std::string& key) const {
  auto v = opt_string(key);
  HONE_CHECK(v.has_value(), InputError, "{}: missing metadata key '{}'", path().string(), key);
  return *v;
}

std::uint64_t GGUFFile::get_uint(const std::string& key) const {
  auto v = opt_uint(key);
  HONE_CHECK(v.has_value(), InputError, "{}: missing metadata key '{}'", path().string(), key);
  return *v;
}

double GGUFFile::get_float(const std::string& key) const {
  auto v = opt_float(key);
  HONE_CHECK(v.has_value(), InputError, "{}: missing metadata key '{}'", path().string(), key);
  return *v;
}

bool GGUFFile::get_bool(const std::string& key) const {
  const GGUFValue* v = find(key);
  HONE_CHECK(v != nullptr, InputError, "{}: missing metadata key '{}'", path().string(), key);
  HONE_CHECK(v->type == GGUFType::kBool, InputError, "{}: metadata '{}' should be a bool, is {}", path().string(),
             key, gguf_type_name(v->type));
  return std::get<bool>(v->v);
}

const GGUFValue::Array& GGUFFile::get_array(const std::string& key) const {
  const GGUFValue* v = find(key);
  HONE_CHECK(v != nullptr, InputError, "{}: missing metadata key '{}'", path().string(), key);
  HONE_CHECK(v->type == GGUFType::kArray, InputError, "{}: metadata '{}' should be an array, is {}",
             path().string(), key, gguf_type_name(v->type));
  return std::get<GGUFValue::Array>(v->v);
}

void GGUFFile::dequantize(const GGUFTensorInfo& t, float* dst) const {
  try {
    ggml_dequantize(t.type, t.data, dst, t.numel());
  } catch (const InputError& e) {
    throw InputError(HONE_HERE, fmt::format("{}: tensor '{}': {}", path().string(), t.name, e.message()), e.hint());
  }
}

// ---------------------------------------------------------------------------- writer

namespace {

class Sink {
 public:
  explicit Sink(AtomicFile& f) : f_(f) {}
  template <class T>
  void put(T v) { f_.write(&v, sizeof(T)); }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    f_.write(s);
  }
  void put_value(const GGUFValue& v) {
    switch (v.type) {
      case GGUFType::kU8: put<std::uint8_t>(static_cast<std::uint8_t>(std::get<std::uint64_t>(v.v))); break;
      case GGUFType::kI8: put<std::int8_t>(static_cast<std::int8_t>(std::get<std::int64_t>(v.v))); break;
      case GGUFType::kU16: put<std::uint16_t>(static_cast<std::uint16_t>(std::get<std::uint64_t>(v.v))); break;
      case GGUFType::kI16: put<std::int16_t>(static_cast<std::int16_t>(std::get<std::int64_t>(v.v))); break;
      case GGUFType::kU32: put<std::uint32_t>(static_cast<std::uint32_t>(std::get<std::uint64_t>(v.v))); break;
      case GGUFType::kI32: put<std::int32_t>(static_cast<std::int32_t>(std::get<std::int64_t>(v.v))); break;
      case GGUFType::kU64: put<std::uint64_t>(std::get<std::uint64_t>(v.v)); break;
      case GGUFType::kI64: put<std::int64_t>(std::get<std::int64_t>(v.v)); break;
      case GGUFType::kF32: put<float>(static_cast<float>(std::get<double>(v.v))); break;
      case GGUFType::kF64: put<double>(std::get<double>(v.v)); break;
      case GGUFType::kBool: put<std::uint8_t>(std::get<bool>(v.v) ? 1 : 0); break;
      case GGUFType::kString: put_string(std::get<std::string>(v.v)); break;
      case GGUFType::kArray: {
        const auto& a = std::get<GGUFValue::Array>(v.v);
        put<std::uint32_t>(static_cast<std::uint32_t>(a.elem));
        put<std::uint64_t>(a.items.size());
        for (const auto& item : a.items) {
          HONE_CHECK(item.type == a.elem, RuntimeError, "GGUF array of {} holds a {}", gguf_type_name(a.elem),
                     gguf_type_name(item.type));
          put_value(item);
        }
        break;
      }
    }
  }

 private:
  AtomicFile& f_;
};

}  // namespace

GGUFWriter::GGUFWriter(std::uint32_t alignment) : alignment_(alignment) {
  HONE_CHECK(alignment != 0 && (alignment & (alignment - 1)) == 0, UsageError,
             "GGUF alignment {} is not a power of two", alignment);
  if (alignment != 32) set("general.alignment", GGUFValue::u32(alignment));
}

void GGUFWriter::set(const std::string& key, GGUFValue value) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void GGUFWriter::add_tensor(const std::string& name, GGMLType type, const std::vector<std::int64_t>& shape,
                            Producer fill) {
  for (const auto& t : tensors_)
    HONE_CHECK(t.name != name, RuntimeError, "GGUF writer: tensor '{}' added twice", name);
  HONE_CHECK(!shape.empty() && shape.size() <= kMaxDims, RuntimeError, "GGUF writer: tensor '{}' has {} dimensions",
             name, shape.size());
  std::vector<std::int64_t> ne(shape.rbegin(), shape.rend());
  const std::int64_t numel = std::accumulate(ne.begin(), ne.end(), std::int64_t{1}, std::multiplies<>());
  auto traits = ggml_type_traits(static_cast<std::uint32_t>(type));
  HONE_CHECK(traits && ne[0] % traits->block_size == 0, UsageError,
             "tensor '{}': row length {} is not a multiple of the {} block size; use f16 or f32 for it", name, ne[0],
             ggml_type_name(type));
  tensors_.push_back({name, type, std::move(ne), ggml_row_bytes(type, numel), std::move(fill)});
}

void GGUFWriter::add_tensor_f32(const std::string& name, GGMLType type, const std::vector<std::int64_t>& shape,
                                const float* data) {
  const std::int64_t numel = std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
  add_tensor(name, type, shape, [=](std::byte* dst) { ggml_quantize(type, data, dst, numel); });
}

void GGUFWriter::write(const fs::path& path) {
  AtomicFile f(path);
  Sink s(f);
  s.put<std::uint32_t>(kMagic);
  s.put<std::uint32_t>(3);
  s.put<std::uint64_t>(tensors_.size());
  s.put<std::uint64_t>(kv_.size());
  for (const auto& [key, value] : kv_) {
    s.put_string(key);
    s.put<std::uint32_t>(static_cast<std::uint32_t>(value.type));
    s.put_value(value);
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors_) {
    s.put_string(t.name);
    s.put<std::uint32_t>(static_cast<std::uint32_t>(t.ne.size()));
    for (auto d : t.ne) s.put<std::uint64_t>(static_cast<std::uint64_t>(d));
    s.put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
    s.put<std::uint64_t>(offset);
    offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  f.pad_to(alignment_);
  std::vector<std::byte> buf;
  for (auto& t : tensors_) {
    buf.assign(t.nbytes, std::byte{0});
    t.fill(buf.data());
    f.write(buf.data(), buf.size());
    f.pad_to(alignment_);
  }
  f.commit();
}

}  // namespace hone
