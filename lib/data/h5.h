// Small RAII and read/write helpers over the HDF5 C API, shared by the token store
// (data/token_store.cpp) and the teacher cache (distill/teacher_cache.cpp). Internal: include it
// from .cpp files only (it brings in hdf5.h).
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace hone::data::h5 {

// HDF5's clean-up at process exit is turned off, before any HDF5 call (a static initialiser of
// every program that includes this header). After a failed write (a full disk), that clean-up
// closes the broken file again and crashes in H5F__close_cb; hone flushes and closes every file
// it writes itself, so nothing is lost.
inline const bool kNoHdf5CleanupAtExit = H5dont_atexit() >= 0;

// Closes an HDF5 handle at scope exit.
struct H5 {
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5() {
    if (id >= 0) close(id);
  }
};

template <class T>
hid_t h5_type();
template <>
inline hid_t h5_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <>
inline hid_t h5_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <>
inline hid_t h5_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <>
inline hid_t h5_type<float>() { return H5T_NATIVE_FLOAT; }

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, std::int32_t>) return "int32";
  if constexpr (std::is_same_v<T, std::uint8_t>) return "uint8";
  if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  if constexpr (std::is_same_v<T, std::uint16_t>) return "uint16 (bf16 or f16 bits)";
  return "float32";
}

// The object's path in its file ("/train/input_ids"), for messages.
inline std::string object_path(hid_t obj) {
  const ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n <= 0) return "?";
  std::string name(static_cast<std::size_t>(n) + 1, '\0');
  H5Iget_name(obj, name.data(), name.size());
  name.resize(static_cast<std::size_t>(n));
  return name;
}

inline const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "floating-point";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    default:
      return "non-numeric";
  }
}

// InputError unless dataset `ds` stores integers (for an integer T) or floating-point numbers (for
// float). HDF5 would convert either way, and floats read as token ids would be truncated silently.
template <class T>
void check_class(hid_t ds, const std::string& file) {
  H5 type{H5Dget_type(ds), H5Tclose};
  const H5T_class_t c = H5Tget_class(type.id);
  const H5T_class_t want = std::is_floating_point_v<T> ? H5T_FLOAT : H5T_INTEGER;
  HONE_CHECK(c == want, InputError, "{}: dataset '{}' holds {} values, expected {} ({})", file, object_path(ds),
             class_name(c), class_name(want), type_name<T>());
}

// A dataset's values must be in the file, and the file must hold enough bytes for as many values
// as the dataset declares: otherwise a few bytes of file (a chunked dataset whose chunks were
// never written reads as fill values) could make a reader allocate terabytes. Deflate, which hone
// writes with, compresses at most about 1032:1 (zlib's technical details, "Maximum compression
// factor"); kMaxUnstoredBytes leaves room for small datasets and the compressed streams' headers.
inline constexpr std::uint64_t kMaxCompressionRatio = 1032;
inline constexpr std::uint64_t kMaxUnstoredBytes = 64 << 10;

// InputError naming the file and dataset unless `ds` keeps its values in this file (contiguous,
// chunked or compact storage: not in external raw files or a virtual dataset's sources, which would
// read other files) and stores enough bytes for `elements` values of `element_bytes` each.
inline void check_stored(hid_t ds, std::uint64_t elements, std::uint64_t element_bytes, const std::string& file) {
  H5 dcpl{H5Dget_create_plist(ds), H5Pclose};
  const H5D_layout_t layout = H5Pget_layout(dcpl.id);
  HONE_CHECK(layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED || layout == H5D_COMPACT, InputError,
             "{}: dataset '{}' is a virtual dataset (its values are in other files); hone reads values stored in "
             "the file itself",
             file, object_path(ds));
  HONE_CHECK(H5Pget_external_count(dcpl.id) == 0, InputError,
             "{}: dataset '{}' keeps its values in external raw files; hone reads values stored in the file itself",
             file, object_path(ds));
  const std::uint64_t stored = H5Dget_storage_size(ds);
  const std::uint64_t allowed = stored * kMaxCompressionRatio + kMaxUnstoredBytes;
  HONE_CHECK(element_bytes > 0 && elements <= allowed / element_bytes, InputError,
             "{}: dataset '{}' declares {} values of {} bytes but stores {} bytes in the file (at most {}:1 "
             "compressed); the file is truncated or damaged",
             file, object_path(ds), elements, element_bytes, stored, kMaxCompressionRatio);
}

// InputError naming the file unless `name` in `loc` is a plain (hard) link, as hone writes every
// object: a soft or external link could point anywhere, an external one into another file.
inline void check_hard_link(hid_t loc, const std::string& name, const std::string& file) {
  H5L_info_t info;
  if (H5Lget_info(loc, name.c_str(), &info, H5P_DEFAULT) < 0) return;  // absent: the caller says what is missing
  if (info.type == H5L_TYPE_HARD) return;
  std::string where = object_path(loc);
  where += (where.empty() || where.back() != '/' ? "/" : "") + name;
  HONE_THROW(InputError, "{}: '{}' is {} link; hone reads objects stored in the file itself", file, where,
             info.type == H5L_TYPE_SOFT ? "a soft" : "an external");
}

template <class T>
void write_dataset(hid_t group, const char* name, const std::vector<T>& data, const std::string& file) {
  const hsize_t n = data.size();
  H5 space{H5Screate_simple(1, &n, nullptr), H5Sclose};
  H5 dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  if (n > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 1 << 16);
    H5Pset_chunk(dcpl.id, 1, &chunk);
    H5Pset_shuffle(dcpl.id);
    H5Pset_deflate(dcpl.id, 4);
  }
  H5 ds{H5Dcreate2(group, name, h5_type<T>(), space.id, H5P_DEFAULT, dcpl.id, H5P_DEFAULT), H5Dclose};
  HONE_CHECK(ds.id >= 0, RuntimeError, "{}: cannot create dataset '{}'", file, name);
  if (n > 0)
    HONE_CHECK(H5Dwrite(ds.id, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) >= 0, RuntimeError,
               "{}: cannot write dataset '{}'", file, name);
}

template <class T>
std::vector<T> read_dataset(hid_t group, const std::string& name, const std::string& file) {
  check_hard_link(group, name, file);
  H5 ds{H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose};
  HONE_CHECK(ds.id >= 0, InputError, "{}: missing dataset '{}/{}' (not a hone token store?)", file, object_path(group),
             name);
  H5 space{H5Dget_space(ds.id), H5Sclose};
  HONE_CHECK(H5Sget_simple_extent_ndims(space.id) == 1, InputError, "{}: dataset '{}' is not one-dimensional", file,
             object_path(ds.id));
  check_class<T>(ds.id, file);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id, &n, nullptr);
  check_stored(ds.id, n, sizeof(T), file);
  std::vector<T> out(n);
  if (n > 0)
    HONE_CHECK(H5Dread(ds.id, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, InputError,
               "{}: cannot read dataset '{}' (damaged file?)", file, object_path(ds.id));
  return out;
}

inline void write_attr(hid_t obj, const char* name, std::int64_t v) {
  H5 space{H5Screate(H5S_SCALAR), H5Sclose};
  H5 a{H5Acreate2(obj, name, H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  H5Awrite(a.id, H5T_NATIVE_INT64, &v);
}

inline void write_attr(hid_t obj, const char* name, const std::string& v) {
  H5 space{H5Screate(H5S_SCALAR), H5Sclose};
  H5 type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<std::size_t>(v.size(), 1));
  H5 a{H5Acreate2(obj, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  std::string buf = v.empty() ? std::string(1, '\0') : v;
  H5Awrite(a.id, type.id, buf.data());
}

// InputError naming the file and attribute unless attribute `a` is one value of class `want` (or,
// where `also` is given, of that class).
inline void check_attr(hid_t a, const char* name, const std::string& file, H5T_class_t want,
                              H5T_class_t also = H5T_NO_CLASS) {
  H5 type{H5Aget_type(a), H5Tclose};
  H5 space{H5Aget_space(a), H5Sclose};
  const H5T_class_t c = H5Tget_class(type.id);
  HONE_CHECK(c == want || (also != H5T_NO_CLASS && c == also), InputError,
             "{}: attribute '{}' holds a {} value, expected {}", file, name, class_name(c), class_name(want));
  HONE_CHECK(H5Sget_simple_extent_npoints(space.id) == 1, InputError,
             "{}: attribute '{}' holds {} values, expected one", file, name, H5Sget_simple_extent_npoints(space.id));
}

// An integer attribute, or nullopt when absent.
inline std::optional<std::int64_t> read_int_attr(hid_t obj, const char* name, const std::string& file) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  check_attr(a.id, name, file, H5T_INTEGER);
  std::int64_t v = 0;
  HONE_CHECK(H5Aread(a.id, H5T_NATIVE_INT64, &v) >= 0, InputError, "{}: cannot read attribute '{}'", file, name);
  return v;
}

// A string attribute (fixed-length, as hone writes it, or variable-length, as h5py does), or ""
// when absent.
inline std::string read_str_attr(hid_t obj, const char* name, const std::string& file) {
  if (H5Aexists(obj, name) <= 0) return {};
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  check_attr(a.id, name, file, H5T_STRING);
  H5 type{H5Aget_type(a.id), H5Tclose};
  if (H5Tis_variable_str(type.id) > 0) {
    H5 mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, H5T_VARIABLE);
    H5Tset_cset(mem.id, H5Tget_cset(type.id));
    char* p = nullptr;
    HONE_CHECK(H5Aread(a.id, mem.id, &p) >= 0, InputError, "{}: cannot read attribute '{}'", file, name);
    std::string v = p ? p : "";
    H5free_memory(p);
    return v;
  }
  std::string buf(H5Tget_size(type.id), '\0');
  HONE_CHECK(H5Aread(a.id, type.id, buf.data()) >= 0, InputError, "{}: cannot read attribute '{}'", file, name);
  return std::string(buf.c_str());
}

inline void write_attr(hid_t obj, const char* name, double v) {
  H5 space{H5Screate(H5S_SCALAR), H5Sclose};
  H5 a{H5Acreate2(obj, name, H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  H5Awrite(a.id, H5T_NATIVE_DOUBLE, &v);
}

// A floating-point (or integer) attribute, or nullopt when absent.
inline std::optional<double> read_double_attr(hid_t obj, const char* name, const std::string& file) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  check_attr(a.id, name, file, H5T_FLOAT, H5T_INTEGER);
  double v = 0;
  HONE_CHECK(H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) >= 0, InputError, "{}: cannot read attribute '{}'", file, name);
  return v;
}

}  // namespace hone::data::h5
