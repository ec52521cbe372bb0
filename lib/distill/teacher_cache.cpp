#include "distill/teacher_cache.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/isnan.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <optional>

#include "core/error.h"
#include "data/h5.h"

namespace hone {

using namespace data::h5;

namespace {

const char* const kIds = "topk_ids";
const char* const kLogprobs = "topk_logprobs";
const char* const kTail = "tail_logprob";
const char* const kOffsets = "row_offsets";

// A chunked, compressed dataset [rows, cols] (cols 0: 1-D [rows]).
hid_t create_rows_dataset(hid_t group, const char* name, hid_t type, hsize_t rows, hsize_t cols,
                          const std::string& file) {
  const int rank = cols > 0 ? 2 : 1;
  const hsize_t dims[2] = {rows, cols};
  H5 space{H5Screate_simple(rank, dims, nullptr), H5Sclose};
  H5 dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  if (rows > 0) {
    const hsize_t row_values = std::max<hsize_t>(cols, 1);
    const hsize_t chunk_rows = std::min<hsize_t>(rows, std::max<hsize_t>(1, 16384 / row_values));  // ~64 KB
    const hsize_t chunk[2] = {chunk_rows, cols};
    H5Pset_chunk(dcpl.id, rank, chunk);
    H5Pset_shuffle(dcpl.id);
    H5Pset_deflate(dcpl.id, 4);
  }
  const hid_t ds = H5Dcreate2(group, name, type, space.id, H5P_DEFAULT, dcpl.id, H5P_DEFAULT);
  HONE_CHECK(ds >= 0, RuntimeError, "{}: cannot create dataset '{}'", file, name);
  return ds;
}

// Rows [first, first + n) of a dataset written from, or read into, `data`. False on failure.
bool rows_io(hid_t ds, hid_t mem_type, hsize_t first, hsize_t n, hsize_t cols, void* data, bool write) {
  if (n == 0) return true;
  const int rank = cols > 0 ? 2 : 1;
  H5 fspace{H5Dget_space(ds), H5Sclose};
  const hsize_t start[2] = {first, 0}, count[2] = {n, cols};
  if (H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start, nullptr, count, nullptr) < 0) return false;
  H5 mspace{H5Screate_simple(rank, count, nullptr), H5Sclose};
  const herr_t rc = write ? H5Dwrite(ds, mem_type, mspace.id, fspace.id, H5P_DEFAULT, data)
                          : H5Dread(ds, mem_type, mspace.id, fspace.id, H5P_DEFAULT, data);
  return rc >= 0;
}

// Dimensions of a dataset (empty when it cannot be opened).
std::vector<hsize_t> dims_of(hid_t ds) {
  H5 space{H5Dget_space(ds), H5Sclose};
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank <= 0) return {};
  std::vector<hsize_t> d(rank);
  H5Sget_simple_extent_dims(space.id, d.data(), nullptr);
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------- writer

struct TeacherCacheWriter::Impl {
  explicit Impl(const fs::path& p) : path(p), placeholder(p) {}
  ~Impl() { close(); }
  void close() {
    for (hid_t* d : {&ids, &logprobs, &tail})
      if (*d >= 0) H5Dclose(*d), *d = -1;
    if (group >= 0) H5Gclose(group), group = -1;
    if (file >= 0) H5Fclose(file), file = -1;
  }
  fs::path path;
  AtomicFile placeholder;  // reserves the temporary name; HDF5 writes the file itself
  TeacherCacheMeta meta;
  hid_t file = -1, group = -1, ids = -1, logprobs = -1, tail = -1;
  std::int64_t written = 0;
};

TeacherCacheWriter::TeacherCacheWriter(const fs::path& path, const TeacherCacheMeta& meta,
                                       const std::vector<std::int64_t>& row_offsets)
    : impl_(std::make_unique<Impl>(path)) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Impl& m = *impl_;
  m.meta = meta;
  const std::string tmp = m.placeholder.temp_path().string();
  HONE_CHECK(!row_offsets.empty() && row_offsets.back() == meta.rows && meta.topk > 0, UsageError,
             "teacher cache: {} rows declared, row offsets end at {}", meta.rows,
             row_offsets.empty() ? -1 : row_offsets.back());
  m.file = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  HONE_CHECK(m.file >= 0, RuntimeError, "{}: cannot create HDF5 file", tmp);
  write_attr(m.file, "hone_teacher_cache_version", kTeacherCacheVersion);
  write_attr(m.file, "tokenizer_fingerprint", meta.tokenizer_fingerprint);
  write_attr(m.file, "store_sha256", meta.store_sha256);
  write_attr(m.file, "store", meta.store);
  write_attr(m.file, "teacher", meta.teacher);
  write_attr(m.file, "teacher_adapter", meta.teacher_adapter);
  write_attr(m.file, "teacher_config", meta.teacher_config);
  write_attr(m.file, "topk", meta.topk);
  write_attr(m.file, "temperature", meta.temperature);
  write_attr(m.file, "vocab_size", meta.vocab_size);
  write_attr(m.file, "teacher_dtype", meta.teacher_dtype);
  m.group = H5Gcreate2(m.file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  HONE_CHECK(m.group >= 0, RuntimeError, "{}: cannot create group 'train'", tmp);
  write_dataset(m.group, kOffsets, row_offsets, tmp);
  const auto rows = static_cast<hsize_t>(meta.rows), k = static_cast<hsize_t>(meta.topk);
  m.ids = create_rows_dataset(m.group, kIds, H5T_STD_I32LE, rows, k, tmp);
  m.logprobs = create_rows_dataset(m.group, kLogprobs, H5T_IEEE_F32LE, rows, k, tmp);
  m.tail = create_rows_dataset(m.group, kTail, H5T_IEEE_F32LE, rows, 0, tmp);
}

TeacherCacheWriter::~TeacherCacheWriter() = default;  // an uncommitted file is removed with the placeholder

void TeacherCacheWriter::append(const TeacherTopK& t) {
  Impl& m = *impl_;
  const std::int64_t n = t.rows();
  HONE_CHECK(n == 0 || t.ids.size(1) == m.meta.topk, UsageError, "teacher cache: rows of {} tokens, the cache keeps {}",
             t.ids.size(1), m.meta.topk);
  HONE_CHECK(m.written + n <= m.meta.rows, UsageError, "teacher cache: more rows than the {} declared", m.meta.rows);
  const at::Tensor ids = t.ids.to(at::kCPU, at::kInt).contiguous();
  const at::Tensor lp = t.logprobs.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor tail = t.tail.to(at::kCPU, at::kFloat).contiguous();
  const auto first = static_cast<hsize_t>(m.written), count = static_cast<hsize_t>(n);
  const auto k = static_cast<hsize_t>(m.meta.topk);
  const bool ok = rows_io(m.ids, H5T_NATIVE_INT32, first, count, k, ids.data_ptr(), true) &&
                  rows_io(m.logprobs, H5T_NATIVE_FLOAT, first, count, k, lp.data_ptr(), true) &&
                  rows_io(m.tail, H5T_NATIVE_FLOAT, first, count, 0, tail.data_ptr(), true);
  HONE_CHECK(ok, RuntimeError, "{}: cannot write rows [{}, {}) (disk full?)", m.placeholder.temp_path().string(),
             m.written, m.written + n);
  m.written += n;
}

void TeacherCacheWriter::commit() {
  Impl& m = *impl_;
  HONE_CHECK(m.written == m.meta.rows, UsageError, "teacher cache: {} of {} rows written", m.written, m.meta.rows);
  HONE_CHECK(H5Fflush(m.file, H5F_SCOPE_GLOBAL) >= 0, RuntimeError, "{}: flush failed",
             m.placeholder.temp_path().string());
  m.close();
  m.placeholder.commit();
}

// ---------------------------------------------------------------------------- reader

struct TeacherCacheReader::Impl {
  ~Impl() {
    for (hid_t d : {ids, logprobs, tail})
      if (d >= 0) H5Dclose(d);
    if (group >= 0) H5Gclose(group);
    if (file >= 0) H5Fclose(file);
  }
  std::string path;
  TeacherCacheMeta meta;
  std::vector<std::int64_t> offsets;
  hid_t file = -1, group = -1, ids = -1, logprobs = -1, tail = -1;
};

TeacherCacheReader::TeacherCacheReader(const fs::path& path) : impl_(std::make_unique<Impl>()) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Impl& m = *impl_;
  m.path = path.string();
  const std::string& file = m.path;
  HONE_CHECK(fs::exists(path), InputError, "{}: no such file", file);
  HONE_CHECK(H5Fis_hdf5(path.c_str()) > 0, InputError, "{}: not an HDF5 file", file);
  m.file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  HONE_CHECK(m.file >= 0, InputError, "{}: cannot open as HDF5", file);
  const auto version = read_int_attr(m.file, "hone_teacher_cache_version", file);
  HONE_CHECK(version.has_value(), InputError, Hint{"make one with hone distill --cache-teacher"},
             "{}: not a hone teacher cache", file);
  HONE_CHECK(*version == kTeacherCacheVersion, InputError, "{}: teacher cache version {} (this hone reads {})", file,
             *version, kTeacherCacheVersion);
  TeacherCacheMeta& meta = m.meta;
  meta.tokenizer_fingerprint = read_str_attr(m.file, "tokenizer_fingerprint", file);
  meta.store_sha256 = read_str_attr(m.file, "store_sha256", file);
  meta.store = read_str_attr(m.file, "store", file);
  meta.teacher = read_str_attr(m.file, "teacher", file);
  meta.teacher_adapter = read_str_attr(m.file, "teacher_adapter", file);
  meta.teacher_config = read_str_attr(m.file, "teacher_config", file);
  meta.topk = read_int_attr(m.file, "topk", file).value_or(0);
  meta.temperature = read_double_attr(m.file, "temperature", file).value_or(0.0);
  meta.vocab_size = read_int_attr(m.file, "vocab_size", file).value_or(0);
  meta.teacher_dtype = read_str_attr(m.file, "teacher_dtype", file);
  if (meta.teacher_dtype.empty()) meta.teacher_dtype = "f32";  // caches written before the attribute
  m.group = H5Gopen2(m.file, "train", H5P_DEFAULT);
  HONE_CHECK(m.group >= 0, InputError, "{}: no 'train' group", file);
  m.offsets = read_dataset<std::int64_t>(m.group, kOffsets, file);
  HONE_CHECK(!m.offsets.empty() && m.offsets.front() == 0, InputError, "{}: train/{} must start at 0", file, kOffsets);
  for (std::size_t i = 1; i < m.offsets.size(); ++i)
    HONE_CHECK(m.offsets[i] >= m.offsets[i - 1], InputError, "{}: train/{} decreases at index {}", file, kOffsets, i);
  meta.rows = m.offsets.back();
  // Every row dataset must be [rows, topk] (the tail [rows]).
  auto open = [&](const char* name, hsize_t cols, bool ids) {
    const hid_t ds = H5Dopen2(m.group, name, H5P_DEFAULT);
    HONE_CHECK(ds >= 0, InputError, "{}: missing dataset 'train/{}'", file, name);
    try {
      ids ? check_class<std::int32_t>(ds, file) : check_class<float>(ds, file);
    } catch (...) {
      H5Dclose(ds);
      throw;
    }
    const std::vector<hsize_t> d = dims_of(ds);
    const std::vector<hsize_t> want = cols > 0 ? std::vector<hsize_t>{static_cast<hsize_t>(meta.rows), cols}
                                               : std::vector<hsize_t>{static_cast<hsize_t>(meta.rows)};
    if (d != want) {
      H5Dclose(ds);
      HONE_THROW(InputError, "{}: dataset 'train/{}' has shape [{}], expected [{}]", file, name, fmt::join(d, ", "),
                 fmt::join(want, ", "));
    }
    return ds;
  };
  HONE_CHECK(meta.topk > 0 && meta.vocab_size >= meta.topk && meta.temperature > 0, InputError,
             "{}: bad attributes (topk {}, vocab_size {}, temperature {})", file, meta.topk, meta.vocab_size,
             meta.temperature);
  m.ids = open(kIds, static_cast<hsize_t>(meta.topk), true);
  m.logprobs = open(kLogprobs, static_cast<hsize_t>(meta.topk), false);
  m.tail = open(kTail, 0, false);
}

TeacherCacheReader::~TeacherCacheReader() = default;

const TeacherCacheMeta& TeacherCacheReader::meta() const { return impl_->meta; }

void TeacherCacheReader::check_store(const fs::path& store, const std::string& tokenizer_fingerprint,
                                     const std::string& store_sha256, const std::vector<std::int64_t>& offsets) const {
  const Impl& m = *impl_;
  HONE_CHECK(m.meta.tokenizer_fingerprint == tokenizer_fingerprint, InputError,
             Hint{"a cache belongs to one token store: make it again with hone distill --cache-teacher"},
             "{}: the teacher cache was made with tokenizer {}, but {} has tokenizer {}", m.path,
             m.meta.tokenizer_fingerprint.substr(0, 16), store.string(), tokenizer_fingerprint.substr(0, 16));
  HONE_CHECK(m.meta.store_sha256 == store_sha256 && m.offsets == offsets, InputError,
             Hint{"a cache belongs to one token store: make it again with hone distill --cache-teacher"},
             "{}: the teacher cache was made from a train split with fingerprint {} ({}), but {}'s train split has "
             "fingerprint {}",
             m.path, m.meta.store_sha256.substr(0, 16), m.meta.store, store.string(), store_sha256.substr(0, 16));
}

namespace {

// Each row must be a distribution over the vocabulary: K distinct ids whose log-probabilities are at
// most 0 and, with the tail's, add up (as probabilities) to 1. A damaged or edited cache would
// otherwise steer the student towards garbage without a word.
void check_distributions(const std::string& path, const std::vector<std::int64_t>& offsets, std::int64_t vocab,
                         const at::Tensor& ids, const at::Tensor& lp, const at::Tensor& tail,
                         const std::vector<std::int64_t>& sequences) {
  constexpr double kSlack = 1e-4;      // a log-probability of 1 may round to just above 0
  constexpr double kMassError = 1e-3;  // float32 log-softmax sums to 1 within about 1e-6
  const std::int64_t K = ids.size(1);
  const at::Tensor all = at::cat({lp, tail.unsqueeze(1)}, 1);
  const at::Tensor log_mass = at::logsumexp(all, {1});
  at::Tensor bad = at::isnan(all).any(1) | (all > kSlack).any(1) | (log_mass.abs() > kMassError);
  at::Tensor repeated = at::zeros_like(bad);
  if (K > 1 && K <= 256) {
    const at::Tensor sorted = std::get<0>(at::sort(ids, 1));
    repeated = (sorted.narrow(1, 1, K - 1) == sorted.narrow(1, 0, K - 1)).any(1);
  } else if (K > 1) {
    // Counting is cheaper than sorting long rows: 12 to 36 against about 160 ms for 120 rows of
    // the whole 49,152-token vocabulary on 2 cores (scripts/bench/cache_row_check.py). The ids are already known to be inside the vocabulary.
    at::Tensor counts = at::zeros({ids.size(0), vocab}, ids.options());
    counts.scatter_add_(1, ids.to(at::kLong), at::ones_like(ids));
    repeated = (counts > 1).any(1);
  }
  bad = bad | repeated;
  if (!bad.any().item<bool>()) return;
  const std::int64_t i = bad.nonzero()[0][0].item<std::int64_t>();
  // The row's number in the file: rows come sequence by sequence.
  std::int64_t row = -1, left = i;
  for (std::int64_t j : sequences) {
    const std::int64_t count = offsets[j + 1] - offsets[j];
    if (left < count) {
      row = offsets[j] + left;
      break;
    }
    left -= count;
  }
  const std::string what =
      repeated[i].item<bool>()
          ? "a token id appears twice among its top-k"
          : fmt::format("its probabilities add up to {:.6g} (log-probabilities from {:.6g} to {:.6g})",
                        std::exp(log_mass[i].item<double>()), all[i].min().item<double>(), all[i].max().item<double>());
  HONE_THROW(InputError, Hint{"make the cache again with hone distill --cache-teacher"},
             "{}: row {} of train/{} is not a teacher distribution: {}", path, row, kLogprobs, what);
}

}  // namespace

TeacherTopK TeacherCacheReader::rows(const std::vector<std::int64_t>& sequences, c10::Device device) const {
  const Impl& m = *impl_;
  std::int64_t n = 0;
  for (std::int64_t j : sequences) {
    HONE_CHECK(j >= 0 && j + 1 < static_cast<std::int64_t>(m.offsets.size()), UsageError,
               "{}: sequence {} is not in the cache ({} sequences)", m.path, j, m.offsets.size() - 1);
    n += m.offsets[j + 1] - m.offsets[j];
  }
  const std::int64_t K = m.meta.topk;
  at::Tensor ids = at::empty({n, K}, at::kInt), lp = at::empty({n, K}, at::kFloat), tail = at::empty({n}, at::kFloat);
  std::int64_t at_row = 0;
  for (std::int64_t j : sequences) {
    const std::int64_t first = m.offsets[j], count = m.offsets[j + 1] - first;
    const auto f = static_cast<hsize_t>(first), c = static_cast<hsize_t>(count), k = static_cast<hsize_t>(K);
    const bool ok = rows_io(m.ids, H5T_NATIVE_INT32, f, c, k, ids.data_ptr<std::int32_t>() + at_row * K, false) &&
                    rows_io(m.logprobs, H5T_NATIVE_FLOAT, f, c, k, lp.data_ptr<float>() + at_row * K, false) &&
                    rows_io(m.tail, H5T_NATIVE_FLOAT, f, c, 0, tail.data_ptr<float>() + at_row, false);
    HONE_CHECK(ok, InputError, "{}: cannot read rows [{}, {}) (damaged file?)", m.path, first, first + count);
    at_row += count;
  }
  for (std::int64_t i = 0, total = n * K; i < total; ++i) {
    const std::int32_t id = ids.data_ptr<std::int32_t>()[i];
    HONE_CHECK(id >= 0 && id < m.meta.vocab_size, InputError, "{}: token id {} outside the vocabulary ({})", m.path,
               id, m.meta.vocab_size);
  }
  check_distributions(m.path, m.offsets, m.meta.vocab_size, ids, lp, tail, sequences);
  return {ids.to(device, at::kLong), lp.to(device), tail.to(device)};
}

}  // namespace hone
