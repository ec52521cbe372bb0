// The teacher cache's reader against damaged or edited files: every row it hands to training must
// be a distribution (K distinct ids, log-probabilities at most 0 that add up to 1 with the tail),
// and each dataset must hold the kind of numbers its layout says. Otherwise an InputError names the
// file, the row and what is wrong: a bad row would steer the student without a word.
#include <ATen/Context.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <functional>
#include <limits>

#include "distill/kd_loss.h"
#include "distill/teacher_cache.h"
#include "helpers.h"

namespace hone::test {
namespace {

constexpr std::int64_t kRows = 5, kK = 4, kVocab = 50;
const std::vector<std::int64_t> kOffsets = {0, 3, 5};  // sequence 0: rows 0-2, sequence 1: rows 3-4

// A cache of random teacher rows (the top `k` of `vocab`), then `edit` applied to the file
// through HDF5.
fs::path cache_edited(const TempDir& dir, const std::function<void(hid_t)>& edit, std::int64_t k = kK,
                      std::int64_t vocab = kVocab) {
  const fs::path path = dir / "cache.h5";
  fs::remove(path);
  TeacherCacheMeta meta;
  meta.tokenizer_fingerprint = "0123456789abcdef";
  meta.store_sha256 = "feed";
  meta.topk = k;
  meta.temperature = 1.0;
  meta.vocab_size = vocab;
  meta.rows = kRows;
  TeacherCacheWriter w(path, meta, kOffsets);
  at::manual_seed(0);
  w.append(teacher_topk(at::randn({kRows, vocab}), k, 1.0));
  w.commit();
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  edit(f);
  H5Fclose(f);
  return path;
}

// Reads dataset `name` (`n` values) as T, lets `change` modify it, and writes it back.
template <class T>
void rewrite(hid_t f, const char* name, hid_t mem_type, std::int64_t n,
             const std::function<void(std::vector<T>&)>& change) {
  const hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  std::vector<T> v(static_cast<std::size_t>(n));
  H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  change(v);
  H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(ds);
}

TEST(TeacherCache, RowsThatAreNotDistributionsAreRefused) {
  TempDir dir;
  {
    TeacherCacheReader r(cache_edited(dir, [](hid_t) {}));
    const TeacherTopK t = r.rows({1, 0}, at::kCPU);
    EXPECT_EQ(t.rows(), kRows);
  }
  // Row 3 (sequence 1's first) scaled by exp(-0.5), its tail too: it adds up to 0.6065.
  auto path = cache_edited(dir, [](hid_t f) {
    rewrite<float>(f, "train/topk_logprobs", H5T_NATIVE_FLOAT, kRows * kK, [](std::vector<float>& v) {
      for (std::int64_t k = 0; k < kK; ++k) v[3 * kK + k] -= 0.5f;
    });
    rewrite<float>(f, "train/tail_logprob", H5T_NATIVE_FLOAT, kRows, [](std::vector<float>& v) { v[3] -= 0.5f; });
  });
  {
    TeacherCacheReader r(path);
    EXPECT_NO_THROW(r.rows({0}, at::kCPU));  // the damaged row is not among these
    EXPECT_HONE_ERROR(r.rows({0, 1}, at::kCPU), InputError,
                      "cache.h5: row 3 of train/topk_logprobs is not a teacher distribution: its probabilities add up "
                      "to 0.6065");
  }
  // A NaN.
  path = cache_edited(dir, [](hid_t f) {
    rewrite<float>(f, "train/topk_logprobs", H5T_NATIVE_FLOAT, kRows * kK,
                   [](std::vector<float>& v) { v[1 * kK + 2] = std::numeric_limits<float>::quiet_NaN(); });
  });
  EXPECT_HONE_ERROR(TeacherCacheReader(path).rows({0, 1}, at::kCPU), InputError,
                    "row 1 of train/topk_logprobs is not a teacher distribution: its probabilities add up to nan");
  // The same token twice in one row.
  path = cache_edited(dir, [](hid_t f) {
    rewrite<std::int32_t>(f, "train/topk_ids", H5T_NATIVE_INT32, kRows * kK,
                          [](std::vector<std::int32_t>& v) { v[4 * kK + 1] = v[4 * kK]; });
  });
  EXPECT_HONE_ERROR(
      TeacherCacheReader(path).rows({1}, at::kCPU), InputError,
      "row 4 of train/topk_logprobs is not a teacher distribution: a token id appears twice among its top-k");
  // The same with long rows (top 300 of 400), which the reader checks by counting, not sorting.
  path = cache_edited(
      dir,
      [](hid_t f) {
        rewrite<std::int32_t>(f, "train/topk_ids", H5T_NATIVE_INT32, kRows * 300,
                              [](std::vector<std::int32_t>& v) { v[2 * 300 + 299] = v[2 * 300]; });
      },
      300, 400);
  EXPECT_NO_THROW(TeacherCacheReader(path).rows({1}, at::kCPU));
  EXPECT_HONE_ERROR(
      TeacherCacheReader(path).rows({0}, at::kCPU), InputError,
      "row 2 of train/topk_logprobs is not a teacher distribution: a token id appears twice among its top-k");
  // Log-probabilities stored as integers.
  path = cache_edited(dir, [](hid_t f) {
    H5Ldelete(f, "train/topk_logprobs", H5P_DEFAULT);
    const hsize_t dims[2] = {kRows, kK};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t ds = H5Dcreate2(f, "train/topk_logprobs", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(space);
  });
  EXPECT_HONE_ERROR(TeacherCacheReader{path}, InputError,
                    "cache.h5: dataset '/train/topk_logprobs' holds integer values, expected floating-point (float32)");
}

}  // namespace
}  // namespace hone::test
