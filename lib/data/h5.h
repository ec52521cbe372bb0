// Small RAII and read/write helpers over the HDF5 C API, shared by the token store
// (data/token_store.cpp) and the teacher cache (distill/teacher_cache.cpp). Internal: include it
// from .cpp files only (it brings in hdf5.h).
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace hone::data::h5 {

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
  H5 ds{H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose};
  HONE_CHECK(ds.id >= 0, InputError, "{}: missing dataset '{}' (not a hone token store?)", file, name);
  H5 space{H5Dget_space(ds.id), H5Sclose};
  HONE_CHECK(H5Sget_simple_extent_ndims(space.id) == 1, InputError, "{}: dataset '{}' is not one-dimensional", file, name);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id, &n, nullptr);
  std::vector<T> out(n);
  if (n > 0)
    HONE_CHECK(H5Dread(ds.id, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, InputError,
               "{}: cannot read dataset '{}' (damaged file?)", file, name);
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

inline std::optional<std::int64_t> read_int_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  std::int64_t v = 0;
  if (H5Aread(a.id, H5T_NATIVE_INT64, &v) < 0) return std::nullopt;
  return v;
}

inline std::string read_str_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return {};
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  H5 type{H5Aget_type(a.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING || H5Tis_variable_str(type.id) > 0) return {};
  std::string buf(H5Tget_size(type.id), '\0');
  if (H5Aread(a.id, type.id, buf.data()) < 0) return {};
  return std::string(buf.c_str());
}


inline void write_attr(hid_t obj, const char* name, double v) {
  H5 space{H5Screate(H5S_SCALAR), H5Sclose};
  H5 a{H5Acreate2(obj, name, H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  H5Awrite(a.id, H5T_NATIVE_DOUBLE, &v);
}

inline std::optional<double> read_double_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5 a{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  double v = 0;
  if (H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) < 0) return std::nullopt;
  return v;
}

}  // namespace hone::data::h5
