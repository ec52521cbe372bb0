// The token store's reader against files that other tools changed: a dataset or attribute of
// the wrong type is an InputError naming the file and the object (HDF5 would otherwise convert
// floats to token ids, or a string attribute to nothing, without a word), and h5py's
// variable-length strings read like hone's own fixed-length ones.
#include <hdf5.h>

#include <functional>

#include "data/token_store.h"
#include "helpers.h"

namespace hone::data {
namespace {

using test::TempDir;

// A store of two short train examples, then `edit` applied to the file through HDF5.
fs::path store_edited(const TempDir& dir, const std::function<void(hid_t)>& edit) {
  TokenStoreMeta m;
  m.tokenizer_fingerprint = "0123456789abcdef";
  m.vocab_size = 100;
  m.template_name = "chat";
  m.chat_template = "{{ messages[0].content }}";
  m.max_len = 16;
  TokenSplit s;
  s.input_ids = {1, 5, 7, 2, 1, 9, 2};
  s.loss_mask = {0, 0, 1, 1, 0, 1, 1};
  s.example_offsets = {0, 4, 7};
  s.sequence_offsets = {0, 1, 2};
  const fs::path path = dir / "store.h5";
  fs::remove(path);
  write_token_store(path, m, {{"train", s}});
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  edit(f);
  H5Fclose(f);
  return path;
}

void replace_attr(hid_t obj, const char* name, hid_t type, const void* value) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, type, value);
  H5Aclose(a);
  H5Sclose(space);
}

TEST(TokenStore, DatasetsAndAttributesOfTheWrongTypeAreRefused) {
  TempDir dir;
  const TokenStore plain = read_token_store(store_edited(dir, [](hid_t) {}));
  ASSERT_EQ(plain.splits.at("train").tokens(), 7);
  EXPECT_EQ(plain.meta.chat_template, "{{ messages[0].content }}");  // the template travels with the store

  // Token ids stored as floating-point numbers (a store rewritten by numpy's default dtype).
  auto path = store_edited(dir, [](hid_t f) {
    H5Ldelete(f, "train/input_ids", H5P_DEFAULT);
    const hsize_t n = 7;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, "train/input_ids", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float ids[7] = {1, 5.5f, 7, 2, 1, 9, 2};
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
    H5Dclose(ds);
    H5Sclose(space);
  });
  EXPECT_HONE_ERROR(read_token_store(path), InputError,
                    "store.h5: dataset '/train/input_ids' holds floating-point values, expected integer (int32)");

  // An integer attribute written as a string.
  path = store_edited(dir, [](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 2);
    replace_attr(f, "max_len", type, "16");
    H5Tclose(type);
  });
  EXPECT_HONE_ERROR(read_token_store(path), InputError,
                    "store.h5: attribute 'max_len' holds a string value, expected integer");

  // A required attribute missing.
  path = store_edited(dir, [](hid_t f) { H5Adelete(f, "vocab_size"); });
  EXPECT_HONE_ERROR(read_token_store(path), InputError, "store.h5: the 'vocab_size' attribute is missing");

  // The fingerprint as a variable-length string, as h5py writes a Python str.
  path = store_edited(dir, [](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    const char* fingerprint = "fedcba9876543210";
    replace_attr(f, "tokenizer_fingerprint", type, &fingerprint);
    H5Tclose(type);
  });
  EXPECT_EQ(read_token_store(path).meta.tokenizer_fingerprint, "fedcba9876543210");
}

// A dataset must keep its values in the file, in as many bytes as it declares values (at most
// h5::kMaxCompressionRatio to one): a chunked dataset whose chunks were never written, raw data in
// an external file, or a split reached through a link to elsewhere is refused before anything is
// allocated or another file is read.
TEST(TokenStore, DatasetsWhoseValuesAreNotInTheFileAreRefused) {
  TempDir dir;
  auto replace = [](hid_t f, const char* name, hid_t type, hsize_t n, hid_t dcpl, const void* values) {
    H5Ldelete(f, name, H5P_DEFAULT);
    const hsize_t unlimited = H5S_UNLIMITED;
    const hid_t space = H5Screate_simple(1, &n, values ? nullptr : &unlimited);
    const hid_t ds = H5Dcreate2(f, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (values) H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(ds);
    H5Sclose(space);
  };
  // 2^36 token ids declared (256 GiB), none written: the chunks were never allocated.
  auto path = store_edited(dir, [&](hid_t f) {
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk = 1024;
    H5Pset_chunk(dcpl, 1, &chunk);
    replace(f, "train/input_ids", H5T_NATIVE_INT32, hsize_t{1} << 36, dcpl, nullptr);
    H5Pclose(dcpl);
  });
  EXPECT_HONE_ERROR(read_token_store(path), InputError,
                    "store.h5: dataset '/train/input_ids' declares 68719476736 values of 4 bytes but stores 0 bytes");

  // The loss mask's bytes in a raw file beside the store.
  path = store_edited(dir, [&](hid_t f) {
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, (dir / "mask.raw").c_str(), 0, 7);
    const std::uint8_t mask[7] = {0, 0, 1, 1, 0, 1, 1};
    replace(f, "train/loss_mask", H5T_NATIVE_UINT8, 7, dcpl, mask);
    H5Pclose(dcpl);
  });
  EXPECT_HONE_ERROR(read_token_store(path), InputError,
                    "store.h5: dataset '/train/loss_mask' keeps its values in external raw files");

  // A split that is an external link into another store.
  const fs::path other = store_edited(dir, [](hid_t) {});
  fs::rename(other, dir / "other.h5");
  path = store_edited(dir, [&](hid_t f) {
    H5Lcreate_external((dir / "other.h5").c_str(), "/train", f, "valid", H5P_DEFAULT, H5P_DEFAULT);
  });
  EXPECT_HONE_ERROR(read_token_store(path), InputError, "store.h5: '/valid' is an external link");
}

}  // namespace
}  // namespace hone::data
