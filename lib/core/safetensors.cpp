#include "core/safetensors.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_file.h"

namespace hone {

using nlohmann::json;

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------- reader

namespace {

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// Parses one tensor entry of the header; `data_size` is the size of the data block.
TensorView parse_entry(const std::string& file, const std::string& name, const json& e,
                       std::uint64_t data_size, std::uint64_t& begin, std::uint64_t& end) {
  HONE_CHECK(e.is_object(), InputError, "{}: tensor '{}': header entry is not an object", file, name);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    HONE_CHECK(e.contains(key), InputError, "{}: tensor '{}': header entry lacks '{}'", file, name, key);
  HONE_CHECK(e["dtype"].is_string(), InputError, "{}: tensor '{}': dtype is not a string", file, name);
  const std::string dname = e["dtype"].get<std::string>();
  auto dtype = dtype_from_name(dname);
  HONE_CHECK(dtype.has_value(), InputError,
             "{}: tensor '{}': unknown dtype '{}' (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, ...)",
             file, name, dname);

  const json& shape = e["shape"];
  HONE_CHECK(shape.is_array(), InputError, "{}: tensor '{}': shape is not an array", file, name);
  TensorView v;
  v.name = name;
  v.dtype = *dtype;
  // Element count in 128-bit-free arithmetic: stop as soon as it exceeds what the file could hold.
  // (A zero dimension makes the tensor empty whatever the others are, so those are bounded by
  // kSafetensorsMaxElements too: any product of its dimensions must fit in 64 bits.)
  std::uint64_t numel = 1, nonzero = 1;
  for (const auto& d : shape) {
    HONE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<std::int64_t>() >= 0), InputError,
               "{}: tensor '{}': shape {} has a dimension that is not a non-negative integer", file, name,
               shape.dump());
    const std::uint64_t dim = d.get<std::uint64_t>();
    HONE_CHECK(dim == 0 || numel <= data_size / dim, InputError,
               "{}: tensor '{}': shape {} needs more bytes than the file's data block ({} bytes)", file, name,
               shape.dump(), data_size);
    HONE_CHECK(dim == 0 || nonzero <= kSafetensorsMaxElements / dim, InputError,
               "{}: tensor '{}': shape {} has more than {} elements (not counting zero dimensions)", file, name,
               shape.dump(), kSafetensorsMaxElements);
    numel *= dim;
    if (dim != 0) nonzero *= dim;
    v.shape.push_back(static_cast<std::int64_t>(dim));
  }

  const json& off = e["data_offsets"];
  HONE_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
             InputError, "{}: tensor '{}': data_offsets must be two non-negative integers, got {}", file, name,
             off.dump());
  begin = off[0].get<std::uint64_t>();
  end = off[1].get<std::uint64_t>();
  HONE_CHECK(begin <= end, InputError, "{}: tensor '{}': data_offsets [{}, {}] end before they begin", file,
             name, begin, end);
  HONE_CHECK(end <= data_size, InputError,
             "{}: tensor '{}': data_offsets [{}, {}] run past the end of the data block ({} bytes)", file, name,
             begin, end, data_size);
  const std::uint64_t expected = numel * dtype_size(*dtype);
  HONE_CHECK(end - begin == expected, InputError,
             "{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", file, name,
             shape.dump(), dname, expected, begin, end, end - begin);
  v.nbytes = static_cast<std::size_t>(expected);
  return v;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  SafetensorsFile f;
  f.file_ = MappedFile::open(path);
  const std::string file = path.string();
  const std::uint64_t size = f.file_->size();
  HONE_CHECK(size >= 8, InputError, "{}: file is {} bytes, too short for a safetensors header length (8 bytes)",
             file, size);
  const std::uint64_t n = read_u64_le(f.file_->data());
  HONE_CHECK(n <= kSafetensorsMaxHeader, InputError,
             "{}: header length {} exceeds the format's limit of {} bytes (not a safetensors file?)", file, n,
             kSafetensorsMaxHeader);
  HONE_CHECK(n <= size - 8, InputError, "{}: header length {} runs past the end of the file ({} bytes)", file, n,
             size);
  const char* hp = reinterpret_cast<const char*>(f.file_->data() + 8);
  // Depth and size are checked as the parser goes, so that a header of deep or long arrays is
  // rejected before its document takes many times its bytes in memory.
  std::uint64_t values = 0;
  const json::parser_callback_t bounds = [&](int depth, json::parse_event_t event, json&) {
    HONE_CHECK(depth <= kSafetensorsMaxDepth, InputError,
               "{}: header nests deeper than a safetensors header ({} levels)", file, kSafetensorsMaxDepth);
    HONE_CHECK(event != json::parse_event_t::value || ++values <= kSafetensorsMaxValues, InputError,
               "{}: header holds more than {} values", file, kSafetensorsMaxValues);
    return true;
  };
  json header = json::parse(hp, hp + n, bounds, /*allow_exceptions=*/false);
  HONE_CHECK(!header.is_discarded(), InputError, "{}: header is not valid JSON", file);
  HONE_CHECK(header.is_object(), InputError, "{}: header is not a JSON object", file);

  const std::byte* data = f.file_->data() + 8 + n;
  const std::uint64_t data_size = size - 8 - n;
  struct Span {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      HONE_CHECK(it->is_object(), InputError, "{}: __metadata__ is not an object of strings", file);
      for (auto m = it->begin(); m != it->end(); ++m) {
        HONE_CHECK(m->is_string(), InputError, "{}: __metadata__ value of '{}' is not a string", file, m.key());
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    std::uint64_t begin = 0, end = 0;
    TensorView v = parse_entry(file, it.key(), *it, data_size, begin, end);
    v.data = data + begin;
    spans.push_back({begin, end, f.tensors_.size()});
    f.index_[v.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(v));
  }

  // Every byte of the data block belongs to exactly one tensor.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  for (const auto& s : spans) {
    const std::string& name = f.tensors_[s.index].name;
    HONE_CHECK(s.begin >= cursor, InputError,
               "{}: tensor '{}': data_offsets [{}, {}] overlap the previous tensor (which ends at {})", file, name,
               s.begin, s.end, cursor);
    HONE_CHECK(s.begin == cursor, InputError,
               "{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} bytes after the previous tensor", file,
               name, s.begin, s.end, s.begin - cursor);
    cursor = s.end;
  }
  HONE_CHECK(cursor == data_size, InputError,
             "{}: tensors cover {} bytes but the data block holds {} (truncated or padded file)", file, cursor,
             data_size);
  // Present tensors in file order.
  std::vector<TensorView> ordered;
  ordered.reserve(spans.size());
  for (const auto& s : spans) ordered.push_back(std::move(f.tensors_[s.index]));
  f.tensors_ = std::move(ordered);
  for (std::size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const TensorView& SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  HONE_CHECK(it != index_.end(), InputError, "{}: no tensor named '{}'", path().string(), name);
  return tensors_[it->second];
}

// ---------------------------------------------------------------------------- writer

void write_safetensors(const fs::path& path, const std::vector<TensorWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    HONE_CHECK(t.name != "__metadata__", UsageError, "{}: '__metadata__' cannot name a tensor", path.string());
    HONE_CHECK(!header.contains(t.name), UsageError, "{}: tensor '{}' written twice", path.string(), t.name);
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d);
    HONE_CHECK(numel * dtype_size(t.dtype) == t.nbytes, RuntimeError,
               "{}: tensor '{}': {} bytes given for {} elements of {}", path.string(), t.name, t.nbytes, numel,
               dtype_name(t.dtype));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  AtomicFile out(path);
  std::uint64_t n = h.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(len, 8);
  out.write(h);
  for (const auto& t : tensors) out.write(t.data, t.nbytes);
  out.commit();
}

// ---------------------------------------------------------------------------- sharded checkpoints

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& path) {
  SafetensorsCheckpoint c;
  fs::path p = path;
  if (fs::is_directory(p)) {
    if (fs::exists(p / "model.safetensors.index.json")) p = p / "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors")) p = p / "model.safetensors";
    else
      HONE_THROW(InputError, Hint{"an HF model directory holds model.safetensors or model.safetensors.index.json"},
                 "{}: no safetensors weights in this directory", path.string());
  }
  const std::string file = p.string();
  if (p.extension() != ".json") {
    c.shards_.push_back(SafetensorsFile::open(p));
    for (const auto& t : c.shards_[0].tensors()) c.where_[t.name] = 0;
    return c;
  }

  std::error_code ec;  // a missing file is read_json_object's error
  const std::uintmax_t index_size = fs::file_size(p, ec);
  HONE_CHECK(ec || index_size <= kSafetensorsMaxHeader, InputError,
             "{}: {} bytes is more than an index of shards can be (limit {})", file, index_size, kSafetensorsMaxHeader);
  const json index = read_json_object(p);
  HONE_CHECK(index.contains("weight_map") && index["weight_map"].is_object(), InputError,
             "{}: missing the 'weight_map' object", file);
  std::map<std::string, std::size_t> shard_of_file;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    HONE_CHECK(it->is_string(), InputError, "{}: weight_map entry '{}' is not a file name", file, it.key());
    const std::string shard = it->get<std::string>();
    HONE_CHECK(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos, InputError,
               "{}: weight_map entry '{}' points outside the checkpoint directory: '{}'", file, it.key(), shard);
    auto s = shard_of_file.find(shard);
    if (s == shard_of_file.end()) {
      s = shard_of_file.emplace(shard, c.shards_.size()).first;
      c.shards_.push_back(SafetensorsFile::open(p.parent_path() / shard));
    }
    HONE_CHECK(c.shards_[s->second].contains(it.key()), InputError,
               "{}: weight_map puts tensor '{}' in {}, which does not hold it", file, it.key(), shard);
    c.where_[it.key()] = s->second;
  }
  for (std::size_t i = 0; i < c.shards_.size(); ++i)
    for (const auto& t : c.shards_[i].tensors())
      HONE_CHECK(c.where_.count(t.name) && c.where_[t.name] == i, InputError,
                 "{}: tensor '{}' is stored in {} but the weight_map does not list it there", file, t.name,
                 c.shards_[i].path().filename().string());
  return c;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

const TensorView& SafetensorsCheckpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  HONE_CHECK(it != where_.end(), InputError, "{}: no tensor named '{}' in the checkpoint",
             shards_.empty() ? std::string("?") : shards_[0].path().parent_path().string(), name);
  return shards_[it->second].get(name);
}

std::shared_ptr<const MappedFile> SafetensorsCheckpoint::mapping(const std::string& name) const {
  get(name);
  return shards_[where_.at(name)].mapping();
}

std::uint64_t SafetensorsCheckpoint::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& s : shards_)
    for (const auto& t : s.tensors()) n += t.nbytes;
  return n;
}

void write_safetensors_sharded(const fs::path& dir, const std::vector<TensorWrite>& tensors,
                               std::uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  std::vector<std::vector<TensorWrite>> shards(1);
  std::uint64_t current = 0, total = 0;
  for (const auto& t : tensors) {
    if (!shards.back().empty() && current + t.nbytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(t);
    current += t.nbytes;
    total += t.nbytes;
  }
  if (shards.size() == 1) {
    write_safetensors(dir / "model.safetensors", tensors, metadata);
    return;
  }
  json weight_map = json::object();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    write_safetensors(dir / name, shards[i], metadata);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  // The index goes last: a reader never sees an index that names shards not yet written.
  write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace hone
