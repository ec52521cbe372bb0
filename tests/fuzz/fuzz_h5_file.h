// Structure-aware fuzzing of hone's HDF5 readers (the token store, the teacher cache).
//
// Why not raw bytes: fuzzing an HDF5 file byte for byte mostly exercises libhdf5's own C parser
// (superblock, B-trees, object headers), whose bugs hone cannot fix, and rarely gets a file past it
// to hone's validation. What hone must survive is a well-formed HDF5 file that lies: datasets of
// the wrong type, rank or length, offsets that run backwards or past the data, attributes missing,
// duplicated or of another class, links where groups should be, a dimension declared far beyond
// what the file stores. So a fuzz input here is a small program that describes such a file (the
// operations below); build_h5_file() writes it with the HDF5 C API and the target runs hone's
// reader on the result. H5Program writes such programs for the seed corpus (from stores and caches
// that hone's own writers produced and its readers accepted).
//
// The program, read until the input ends (ByteReader, fuzz_inputs.h):
//   op % 5 == 0  attribute: object (0 = root, i = the i-th group made), name, Type, points
//                (0: scalar), then the value(s)
//   op % 5 == 1  group: parent object, name
//   op % 5 == 2  dataset: parent object, name, Type, Layout, rank (0..2), dims (varints), how many
//                values are written (varint; the rest of the dataset is never allocated), values
//   op % 5 == 3  link: parent object, name, LinkKind, target name
//   op % 5 == 4  end
// Names are indices into the target's table of the names its reader looks up. Values: integers
// as zigzag varints, kF32/kF64 as raw little-endian floats, strings as a varint length and bytes
// (one string fills every element).
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_inputs.h"

namespace hone::fuzz {

enum class H5Type : std::uint8_t { kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64, kI32BE, kF32, kF64, kString,
                                   kVString, kCount };
enum class H5Layout : std::uint8_t { kChunkedDeflate, kContiguous, kChunked, kCompact, kExternal, kCount };
enum class H5LinkKind : std::uint8_t { kSoft, kSoftDangling, kExternalSelf, kExternalMissing, kHard, kCount };

namespace h5file_detail {

inline hid_t file_type(H5Type t, std::size_t string_size) {
  switch (t) {
    case H5Type::kI8: return H5Tcopy(H5T_STD_I8LE);
    case H5Type::kU8: return H5Tcopy(H5T_STD_U8LE);
    case H5Type::kI16: return H5Tcopy(H5T_STD_I16LE);
    case H5Type::kU16: return H5Tcopy(H5T_STD_U16LE);
    case H5Type::kI32: return H5Tcopy(H5T_STD_I32LE);
    case H5Type::kU32: return H5Tcopy(H5T_STD_U32LE);
    case H5Type::kI64: return H5Tcopy(H5T_STD_I64LE);
    case H5Type::kU64: return H5Tcopy(H5T_STD_U64LE);
    case H5Type::kI32BE: return H5Tcopy(H5T_STD_I32BE);
    case H5Type::kF32: return H5Tcopy(H5T_IEEE_F32LE);
    case H5Type::kF64: return H5Tcopy(H5T_IEEE_F64LE);
    case H5Type::kString: {
      const hid_t s = H5Tcopy(H5T_C_S1);
      H5Tset_size(s, std::max<std::size_t>(string_size, 1));
      return s;
    }
    default: {
      const hid_t s = H5Tcopy(H5T_C_S1);
      H5Tset_size(s, H5T_VARIABLE);
      return s;
    }
  }
}

inline bool is_float(H5Type t) { return t == H5Type::kF32 || t == H5Type::kF64; }
inline bool is_string(H5Type t) { return t == H5Type::kString || t == H5Type::kVString; }

// Values for `n` elements of type `t`, read from the program, in a buffer of the memory type that
// mem_type() names.
struct Values {
  std::vector<std::int64_t> ints;
  std::vector<float> f32;
  std::vector<double> f64;
  std::string text;
  std::vector<const char*> vtext;  // kVString: n pointers to text
  std::vector<char> ftext;         // kString: n copies of text

  void read(ByteReader& in, H5Type t, std::size_t n) {
    if (t == H5Type::kF32) {
      for (std::size_t i = 0; i < n; ++i) f32.push_back(in.raw<float>());
    } else if (t == H5Type::kF64) {
      for (std::size_t i = 0; i < n; ++i) f64.push_back(in.raw<double>());
    } else if (is_string(t)) {
      text = in.bytes(static_cast<std::size_t>(std::min<std::uint64_t>(in.varint(), 1 << 16)));
      vtext.assign(n, text.c_str());
      const std::size_t w = std::max<std::size_t>(text.size(), 1);
      ftext.assign(n * w, '\0');
      for (std::size_t i = 0; i < n; ++i) std::copy(text.begin(), text.end(), ftext.begin() + i * w);
    } else {
      for (std::size_t i = 0; i < n; ++i) ints.push_back(in.svarint());
    }
  }
  // The memory type and buffer to write from (a string type is its own memory type).
  hid_t mem_type(H5Type t) const {
    return t == H5Type::kF32 ? H5T_NATIVE_FLOAT : t == H5Type::kF64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  }
  const void* buffer(H5Type t) const {
    if (t == H5Type::kF32) return f32.data();
    if (t == H5Type::kF64) return f64.data();
    if (t == H5Type::kVString) return vtext.data();
    if (t == H5Type::kString) return ftext.data();
    return ints.data();
  }
};

// Closes an HDF5 handle at scope exit (never copied: a copy would close it twice).
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id >= 0) close(id);
  }
};

inline void write_attribute(ByteReader& in, hid_t obj, const std::string& name) {
  const auto t = static_cast<H5Type>(in.byte() % static_cast<int>(H5Type::kCount));
  const std::size_t points = in.byte() % 17;  // 0: scalar
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  const hsize_t n = points;
  Handle space{points == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose};
  Values v;
  v.read(in, t, std::max<std::size_t>(points, 1));
  Handle type{file_type(t, v.text.size()), H5Tclose};
  Handle a{H5Acreate2(obj, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (a.id < 0) return;
  H5Awrite(a.id, is_string(t) ? type.id : v.mem_type(t), v.buffer(t));
}

inline void write_dataset(ByteReader& in, hid_t parent, const std::string& name,
                          const std::filesystem::path& external) {
  const auto t = static_cast<H5Type>(in.byte() % static_cast<int>(H5Type::kCount));
  auto layout = static_cast<H5Layout>(in.byte() % static_cast<int>(H5Layout::kCount));
  const int rank = in.byte() % 3;
  hsize_t dims[2] = {1, 1};
  hsize_t elements = 1;
  for (int d = 0; d < rank; ++d) {
    // Bounded so that no product overflows: 2^40 elements in 1-D, 2^24 a side in 2-D.
    dims[d] = in.varint() % (rank == 1 ? (1ull << 40) : (1ull << 24));
    elements *= dims[d];
  }
  const std::size_t written = static_cast<std::size_t>(std::min<std::uint64_t>({in.varint(), elements, 1 << 16}));
  Values v;
  v.read(in, t, written);
  Handle type{file_type(t, v.text.size()), H5Tclose};
  const std::size_t bytes = H5Tget_size(type.id) * elements;
  // Only chunked storage may declare more than it stores; the others hold what they declare.
  if (layout == H5Layout::kCompact && bytes > (32 << 10)) layout = H5Layout::kChunked;
  if ((layout == H5Layout::kContiguous || layout == H5Layout::kExternal) && bytes > (1 << 20))
    layout = H5Layout::kChunked;
  if (rank == 0 && (layout == H5Layout::kChunked || layout == H5Layout::kChunkedDeflate))
    layout = H5Layout::kContiguous;
  const hsize_t unlimited[2] = {H5S_UNLIMITED, H5S_UNLIMITED};
  const bool chunked = layout == H5Layout::kChunked || layout == H5Layout::kChunkedDeflate;
  Handle space{rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, chunked ? unlimited : nullptr),
               H5Sclose};
  Handle dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  if (chunked) {
    const hsize_t chunk[2] = {std::clamp<hsize_t>(dims[0], 1, rank == 1 ? 1024 : 64),
                              std::clamp<hsize_t>(dims[1], 1, 256)};
    H5Pset_chunk(dcpl.id, rank, chunk);
    if (layout == H5Layout::kChunkedDeflate) {
      H5Pset_shuffle(dcpl.id);
      H5Pset_deflate(dcpl.id, 4);
    }
  } else if (layout == H5Layout::kCompact) {
    H5Pset_layout(dcpl.id, H5D_COMPACT);
  } else if (layout == H5Layout::kExternal) {
    H5Pset_external(dcpl.id, external.c_str(), 0, static_cast<hsize_t>(std::max<std::size_t>(bytes, 1)));
  }
  Handle ds{H5Dcreate2(parent, name.c_str(), type.id, space.id, H5P_DEFAULT, dcpl.id, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0 || written == 0) return;
  // The first `written` elements (whole rows in 2-D).
  hsize_t count[2] = {written, 1};
  if (rank == 2) count[0] = dims[1] == 0 ? 0 : written / dims[1], count[1] = dims[1];
  if (rank != 0 && count[0] == 0) return;
  const hsize_t start[2] = {0, 0};
  Handle fspace{H5Dget_space(ds.id), H5Sclose};
  if (rank != 0) H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mspace{rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, count, nullptr), H5Sclose};
  H5Dwrite(ds.id, is_string(t) ? type.id : v.mem_type(t), mspace.id, fspace.id, H5P_DEFAULT, v.buffer(t));
}

inline void write_link(ByteReader& in, hid_t parent, const std::string& name, const std::string& target,
                       hid_t target_group, const std::filesystem::path& self) {
  const auto kind = static_cast<H5LinkKind>(in.byte() % static_cast<int>(H5LinkKind::kCount));
  switch (kind) {
    case H5LinkKind::kSoft: H5Lcreate_soft(("/" + target).c_str(), parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
    case H5LinkKind::kSoftDangling: H5Lcreate_soft("/no/such/object", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
    case H5LinkKind::kExternalSelf:
      H5Lcreate_external(self.c_str(), ("/" + target).c_str(), parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
      break;
    case H5LinkKind::kExternalMissing:
      H5Lcreate_external((self.string() + ".missing").c_str(), "/", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
      break;
    default: H5Lcreate_hard(target_group, ".", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
  }
}

}  // namespace h5file_detail

// Writes the file that the program `data` describes to `path` (replacing it). Operations HDF5
// refuses (a name used twice, ...) are left out: whatever the input, a valid HDF5 file results.
inline void build_h5_file(const std::uint8_t* data, std::size_t size, const std::vector<std::string>& names,
                          const std::filesystem::path& path) {
  using namespace h5file_detail;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::filesystem::path external = path.string() + ".raw";  // external raw storage
  std::filesystem::remove(external);
  Handle file{H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) return;
  std::vector<hid_t> objects{file.id};  // 0: the root, then every group made (closed below)
  struct CloseGroups {
    std::vector<hid_t>& ids;
    ~CloseGroups() {
      for (std::size_t i = 1; i < ids.size(); ++i) H5Gclose(ids[i]);
    }
  } close_groups{objects};
  ByteReader in(data, size);
  auto name = [&] { return names[in.byte() % names.size()]; };
  auto object = [&] { return objects[in.byte() % objects.size()]; };
  while (!in.empty()) {
    const int op = in.byte() % 5;
    if (op == 4) break;
    const hid_t parent = object();
    const std::string n = name();
    if (op == 0) {
      write_attribute(in, parent, n);
    } else if (op == 1) {
      if (objects.size() > 64) continue;
      const hid_t g = H5Gcreate2(parent, n.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g >= 0) objects.push_back(g);
    } else if (op == 2) {
      write_dataset(in, parent, n, external);
    } else {
      const std::string target = name();
      const hid_t target_group = object();
      write_link(in, parent, n, target, target_group, path);
    }
  }
}

// ---------------------------------------------------------------------------- seeds

// Writes programs for the seed corpus (the operations that build_h5_file reads).
class H5Program {
 public:
  explicit H5Program(std::vector<std::string> names) : names_(std::move(names)) {}
  void attr_int(int object, const std::string& name, std::int64_t v) {
    op(0, object, name);
    out_.byte(static_cast<std::uint8_t>(H5Type::kI64));
    out_.byte(0);
    out_.svarint(v);
  }
  void attr_double(int object, const std::string& name, double v) {
    op(0, object, name);
    out_.byte(static_cast<std::uint8_t>(H5Type::kF64));
    out_.byte(0);
    out_.raw(v);
  }
  void attr_string(int object, const std::string& name, const std::string& v) {
    op(0, object, name);
    out_.byte(static_cast<std::uint8_t>(H5Type::kString));
    out_.byte(0);
    out_.varint(v.size());
    out_.bytes(v);
  }
  // Returns the new group's object number.
  int group(int parent, const std::string& name) {
    op(1, parent, name);
    return ++groups_;
  }
  void dataset_ints(int parent, const std::string& name, H5Type type, const std::vector<hsize_t>& dims,
                    const std::vector<std::int64_t>& values) {
    dataset_header(parent, name, type, dims, values.size());
    for (std::int64_t v : values) out_.svarint(v);
  }
  void dataset_floats(int parent, const std::string& name, const std::vector<hsize_t>& dims,
                      const std::vector<float>& values) {
    dataset_header(parent, name, H5Type::kF32, dims, values.size());
    for (float v : values) out_.raw(v);
  }
  std::string str() const {
    ByteWriter end = out_;
    end.byte(4);
    return end.str();
  }

 private:
  std::uint8_t index(const std::string& name) const {
    const auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) throw std::invalid_argument("fuzz seed: '" + name + "' is not in the names table");
    return static_cast<std::uint8_t>(it - names_.begin());
  }
  void op(int code, int object, const std::string& name) {
    out_.byte(static_cast<std::uint8_t>(code));
    out_.byte(static_cast<std::uint8_t>(object));
    out_.byte(index(name));
  }
  void dataset_header(int parent, const std::string& name, H5Type type, const std::vector<hsize_t>& dims,
                      std::size_t values) {
    op(2, parent, name);
    out_.byte(static_cast<std::uint8_t>(type));
    out_.byte(static_cast<std::uint8_t>(H5Layout::kChunkedDeflate));
    out_.byte(static_cast<std::uint8_t>(dims.size()));
    for (hsize_t d : dims) out_.varint(d);
    out_.varint(values);
  }

  std::vector<std::string> names_;
  ByteWriter out_;
  int groups_ = 0;
};

}  // namespace hone::fuzz
