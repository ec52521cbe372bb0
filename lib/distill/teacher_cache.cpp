#include "distill/teacher_cache.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/isnan.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <optional>
#include <spdlog/fmt/fmt.h>

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

// The number of values of a dataset of dimensions `d` (saturating: HDF5 allows products past 2^64).
std::uint64_t values_of(const std::vector<hsize_t>& d) {
  std::uint64_t n = 1;
  for (hsize_t x : d)
    if (__builtin_mul_overflow(n, x, &n)) return UINT64_MAX;
  return n;
}

const char* const kHiddenOffsets = "hidden_offsets";

std::string hidden_name(std::int64_t layer) { return "hidden_layer_" + std::to_string(layer); }

c10::ScalarType hidden_scalar_type(const std::string& dtype) {
  return dtype == "bf16" ? at::kBFloat16 : dtype == "f16" ? at::kHalf : at::kFloat;
}

bool known_hidden_dtype(const std::string& dtype) { return dtype == "f32" || dtype == "bf16" || dtype == "f16"; }

// The HDF5 file and memory type of stored hidden states: bf16 and f16 as their 16-bit patterns.
hid_t hidden_file_type(const std::string& dtype) { return dtype == "f32" ? H5T_IEEE_F32LE : H5T_STD_U16LE; }
hid_t hidden_mem_type(const std::string& dtype) { return dtype == "f32" ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT16; }

std::vector<std::int64_t> parse_layers(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t comma = text.find(',', pos);
    out.push_back(std::stoll(text.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

std::string_view to_string(HiddenTokens tokens) { return tokens == HiddenTokens::kAll ? "all" : "targets"; }

// ---------------------------------------------------------------------------- writer

struct TeacherCacheWriter::Impl {
  explicit Impl(const fs::path& p) : path(p), placeholder(p) {}
  ~Impl() { close(); }
  void close() {
    for (hid_t* d : {&ids, &logprobs, &tail})
      if (*d >= 0) H5Dclose(*d), *d = -1;
    for (hid_t& d : hidden)
      if (d >= 0) H5Dclose(d), d = -1;
    if (group >= 0) H5Gclose(group), group = -1;
    if (file >= 0) H5Fclose(file), file = -1;
  }
  fs::path path;
  AtomicFile placeholder;  // reserves the temporary name; HDF5 writes the file itself
  TeacherCacheMeta meta;
  hid_t file = -1, group = -1, ids = -1, logprobs = -1, tail = -1;
  std::vector<hid_t> hidden;  // per meta.hidden_layers
  std::int64_t written = 0, hidden_written = 0;
};

TeacherCacheWriter::TeacherCacheWriter(const fs::path& path, const TeacherCacheMeta& meta,
                                       const std::vector<std::int64_t>& row_offsets,
                                       const std::vector<std::int64_t>& hidden_offsets)
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
  if (meta.hidden_layers.empty()) return;
  HONE_CHECK(!hidden_offsets.empty() && hidden_offsets.back() == meta.hidden_rows && meta.hidden_size > 0 &&
                 known_hidden_dtype(meta.hidden_dtype),
             UsageError, "teacher cache: {} hidden rows of width {} in {} declared, hidden offsets end at {}",
             meta.hidden_rows, meta.hidden_size, meta.hidden_dtype, hidden_offsets.empty() ? -1 : hidden_offsets.back());
  write_attr(m.file, "hidden_layers", fmt::format("{}", fmt::join(meta.hidden_layers, ",")));
  write_attr(m.file, "hidden_tokens", std::string(to_string(meta.hidden_tokens)));
  write_attr(m.file, "hidden_dtype", meta.hidden_dtype);
  write_attr(m.file, "hidden_size", meta.hidden_size);
  write_attr(m.file, "student_layers", meta.student_layers);
  write_dataset(m.group, kHiddenOffsets, hidden_offsets, tmp);
  for (std::int64_t l : meta.hidden_layers)
    m.hidden.push_back(create_rows_dataset(m.group, hidden_name(l).c_str(), hidden_file_type(meta.hidden_dtype),
                                           static_cast<hsize_t>(meta.hidden_rows),
                                           static_cast<hsize_t>(meta.hidden_size), tmp));
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

void TeacherCacheWriter::append_hidden(const std::vector<at::Tensor>& layers) {
  Impl& m = *impl_;
  HONE_CHECK(layers.size() == m.hidden.size(), UsageError, "teacher cache: {} hidden layers given, {} declared",
             layers.size(), m.hidden.size());
  if (layers.empty()) return;
  const std::int64_t n = layers[0].size(0), H = m.meta.hidden_size;
  HONE_CHECK(m.hidden_written + n <= m.meta.hidden_rows, UsageError, "teacher cache: more hidden rows than the {} declared",
             m.meta.hidden_rows);
  const c10::ScalarType type = hidden_scalar_type(m.meta.hidden_dtype);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::int64_t l = m.meta.hidden_layers[i];
    HONE_CHECK(layers[i].dim() == 2 && layers[i].size(0) == n && layers[i].size(1) == H, UsageError,
               "teacher cache: layer {}'s hidden rows are [{}], expected [{}, {}]", l, fmt::join(layers[i].sizes(), ", "),
               n, H);
    const at::Tensor stored = layers[i].detach().to(at::kCPU, type).contiguous();
    HONE_CHECK(at::isfinite(stored).all().item<bool>() || !at::isfinite(layers[i]).all().item<bool>(), UsageError,
               Hint{"cache the hidden states in bf16 (--hidden-dtype bf16)"},
               "teacher layer {}'s output has values beyond the range of {}", l, m.meta.hidden_dtype);
    HONE_CHECK(rows_io(m.hidden[i], hidden_mem_type(m.meta.hidden_dtype), static_cast<hsize_t>(m.hidden_written),
                       static_cast<hsize_t>(n), static_cast<hsize_t>(H), stored.data_ptr(), true),
               RuntimeError, "{}: cannot write hidden rows [{}, {}) of layer {} (disk full?)",
               m.placeholder.temp_path().string(), m.hidden_written, m.hidden_written + n, l);
  }
  m.hidden_written += n;
}

void TeacherCacheWriter::commit() {
  Impl& m = *impl_;
  HONE_CHECK(m.written == m.meta.rows, UsageError, "teacher cache: {} of {} rows written", m.written, m.meta.rows);
  HONE_CHECK(m.hidden.empty() || m.hidden_written == m.meta.hidden_rows, UsageError,
             "teacher cache: {} of {} hidden rows written", m.hidden_written, m.meta.hidden_rows);
  HONE_CHECK(H5Fflush(m.file, H5F_SCOPE_GLOBAL) >= 0, RuntimeError, "{}: write failed: {}", m.path.string(),
             write_error(errno));
  m.close();
  m.placeholder.commit();
}

// ---------------------------------------------------------------------------- reader

struct TeacherCacheReader::Impl {
  ~Impl() {
    for (hid_t d : {ids, logprobs, tail})
      if (d >= 0) H5Dclose(d);
    for (hid_t d : hidden)
      if (d >= 0) H5Dclose(d);
    if (group >= 0) H5Gclose(group);
    if (file >= 0) H5Fclose(file);
  }
  std::string path;
  TeacherCacheMeta meta;
  std::vector<std::int64_t> offsets, hidden_offsets;
  hid_t file = -1, group = -1, ids = -1, logprobs = -1, tail = -1;
  std::vector<hid_t> hidden;  // per meta.hidden_layers
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
  check_hard_link(m.file, "train", file);
  m.group = H5Gopen2(m.file, "train", H5P_DEFAULT);
  HONE_CHECK(m.group >= 0, InputError, "{}: no 'train' group", file);
  m.offsets = read_dataset<std::int64_t>(m.group, kOffsets, file);
  HONE_CHECK(!m.offsets.empty() && m.offsets.front() == 0, InputError, "{}: train/{} must start at 0", file, kOffsets);
  for (std::size_t i = 1; i < m.offsets.size(); ++i)
    HONE_CHECK(m.offsets[i] >= m.offsets[i - 1], InputError, "{}: train/{} decreases at index {}", file, kOffsets, i);
  meta.rows = m.offsets.back();
  // Every row dataset must be [rows, topk] (the tail [rows]).
  auto open = [&](const char* name, hsize_t cols, bool ids) {
    check_hard_link(m.group, name, file);
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
    try {
      check_stored(ds, values_of(d), 4, file);  // int32 ids, float32 log-probabilities
    } catch (...) {
      H5Dclose(ds);
      throw;
    }
    return ds;
  };
  // Token ids are int32: a larger vocabulary cannot be (and would size the row check's counts).
  HONE_CHECK(meta.topk > 0 && meta.vocab_size >= meta.topk && meta.vocab_size <= (std::int64_t{1} << 31) &&
                 meta.temperature > 0,
             InputError, "{}: bad attributes (topk {}, vocab_size {}, temperature {})", file, meta.topk,
             meta.vocab_size, meta.temperature);
  m.ids = open(kIds, static_cast<hsize_t>(meta.topk), true);
  m.logprobs = open(kLogprobs, static_cast<hsize_t>(meta.topk), false);
  m.tail = open(kTail, 0, false);
  const std::string layers = read_str_attr(m.file, "hidden_layers", file);
  if (layers.empty()) return;
  try {
    meta.hidden_layers = parse_layers(layers);
  } catch (const std::exception&) {
    HONE_THROW(InputError, "{}: attribute hidden_layers '{}' is not a list of layers", file, layers);
  }
  const std::string tokens = read_str_attr(m.file, "hidden_tokens", file);
  meta.hidden_tokens = tokens == "all" ? HiddenTokens::kAll : HiddenTokens::kTargets;
  meta.hidden_dtype = read_str_attr(m.file, "hidden_dtype", file);
  meta.hidden_size = read_int_attr(m.file, "hidden_size", file).value_or(0);
  meta.student_layers = read_str_attr(m.file, "student_layers", file);
  HONE_CHECK((tokens == "all" || tokens == "targets") && meta.hidden_size > 0 &&
                 known_hidden_dtype(meta.hidden_dtype),
             InputError, "{}: bad hidden-state attributes (tokens '{}', size {}, dtype '{}')", file, tokens,
             meta.hidden_size, meta.hidden_dtype);
  m.hidden_offsets = read_dataset<std::int64_t>(m.group, kHiddenOffsets, file);
  HONE_CHECK(m.hidden_offsets.size() == m.offsets.size() && m.hidden_offsets.front() == 0, InputError,
             "{}: train/{} must hold {} offsets from 0", file, kHiddenOffsets, m.offsets.size());
  for (std::size_t i = 1; i < m.hidden_offsets.size(); ++i)
    HONE_CHECK(m.hidden_offsets[i] >= m.hidden_offsets[i - 1], InputError, "{}: train/{} decreases at index {}", file,
               kHiddenOffsets, i);
  meta.hidden_rows = m.hidden_offsets.back();
  const bool f32 = meta.hidden_dtype == "f32";
  for (std::int64_t l : meta.hidden_layers) {
    const std::string name = hidden_name(l);
    check_hard_link(m.group, name, file);
    const hid_t ds = H5Dopen2(m.group, name.c_str(), H5P_DEFAULT);
    HONE_CHECK(ds >= 0, InputError, "{}: missing dataset 'train/{}'", file, name);
    m.hidden.push_back(ds);  // closed with the file
    f32 ? check_class<float>(ds, file) : check_class<std::uint16_t>(ds, file);
    const std::vector<hsize_t> d = dims_of(ds);
    const std::vector<hsize_t> want{static_cast<hsize_t>(meta.hidden_rows), static_cast<hsize_t>(meta.hidden_size)};
    HONE_CHECK(d == want, InputError, "{}: dataset 'train/{}' has shape [{}], expected [{}]", file, name,
               fmt::join(d, ", "), fmt::join(want, ", "));
    check_stored(ds, values_of(d), f32 ? 4 : 2, file);
  }
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

void TeacherCacheReader::check_hidden(const std::vector<std::int64_t>& layers, HiddenTokens tokens,
                                      const std::vector<std::int64_t>& hidden_offsets) const {
  const Impl& m = *impl_;
  const Hint again{"cache the teacher again with hone cache-teacher --student (the student's layers) --hidden-tokens " +
                   std::string(to_string(tokens))};
  HONE_CHECK(!m.meta.hidden_layers.empty(), UsageError, again,
             "--hidden-weight needs the teacher's hidden states, and {} holds only its top-k log-probabilities", m.path);
  std::vector<std::int64_t> missing;
  for (std::int64_t l : layers)
    if (std::find(m.meta.hidden_layers.begin(), m.meta.hidden_layers.end(), l) == m.meta.hidden_layers.end())
      missing.push_back(l);
  HONE_CHECK(missing.empty(), UsageError, again,
             "{}: the student is matched to teacher layers {}, but the cache holds the outputs of layers {} only "
             "(missing: {})",
             m.path, fmt::join(layers, ","), fmt::join(m.meta.hidden_layers, ","), fmt::join(missing, ","));
  HONE_CHECK(m.meta.hidden_tokens == tokens, UsageError, again,
             "{}: the cache holds hidden states at {} tokens, but --hidden-tokens is {}", m.path,
             to_string(m.meta.hidden_tokens), to_string(tokens));
  HONE_CHECK(m.hidden_offsets == hidden_offsets, InputError, again,
             "{}: the cache's hidden rows do not match the token store's sequences", m.path);
}

std::vector<at::Tensor> TeacherCacheReader::hidden(const std::vector<std::int64_t>& sequences,
                                                   const std::vector<std::int64_t>& layers, c10::Device device) const {
  const Impl& m = *impl_;
  std::int64_t n = 0;
  for (std::int64_t j : sequences) {
    HONE_CHECK(j >= 0 && j + 1 < static_cast<std::int64_t>(m.hidden_offsets.size()), UsageError,
               "{}: sequence {} has no hidden states in the cache", m.path, j);
    n += m.hidden_offsets[j + 1] - m.hidden_offsets[j];
  }
  const std::int64_t H = m.meta.hidden_size;
  const c10::ScalarType type = hidden_scalar_type(m.meta.hidden_dtype);
  std::vector<at::Tensor> out;
  for (std::int64_t l : layers) {
    const auto it = std::find(m.meta.hidden_layers.begin(), m.meta.hidden_layers.end(), l);
    HONE_CHECK(it != m.meta.hidden_layers.end(), UsageError, "{}: no hidden states of teacher layer {}", m.path, l);
    const hid_t ds = m.hidden[static_cast<std::size_t>(it - m.meta.hidden_layers.begin())];
    at::Tensor rows = at::empty({n, H}, type);
    auto* base = static_cast<char*>(rows.data_ptr());
    std::int64_t at_row = 0;
    for (std::int64_t j : sequences) {
      const std::int64_t first = m.hidden_offsets[j], count = m.hidden_offsets[j + 1] - first;
      HONE_CHECK(rows_io(ds, hidden_mem_type(m.meta.hidden_dtype), static_cast<hsize_t>(first),
                         static_cast<hsize_t>(count), static_cast<hsize_t>(H),
                         base + at_row * H * static_cast<std::int64_t>(rows.element_size()), false),
                 InputError, "{}: cannot read hidden rows [{}, {}) of layer {} (damaged file?)", m.path, first,
                 first + count, l);
      at_row += count;
    }
    HONE_CHECK(at::isfinite(rows).all().item<bool>(), InputError,
               Hint{"make the cache again with hone cache-teacher"},
               "{}: train/{} holds a value that is not finite", m.path, hidden_name(l));
    out.push_back(rows.to(device, at::kFloat));
  }
  return out;
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
  // Counting needs [rows, vocab] counts: only where that stays within 16 times the ids themselves
  // (a cache's vocab_size is not bounded by its rows), else sorting.
  if (K > 1 && (K <= 256 || vocab > 16 * K)) {
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
