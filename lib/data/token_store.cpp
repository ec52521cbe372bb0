#include "data/token_store.h"

#include <unistd.h>

#include <algorithm>

#include "core/error.h"
#include "data/h5.h"
#include "text/sha256.h"
#include "text/tokenizer.h"

namespace hone::data {

using namespace h5;

std::string split_sha256(const TokenSplit& s) {
  Sha256 h;
  auto add = [&](const auto& v) {
    const std::uint64_t n = v.size();
    h.update(&n, sizeof n);
    h.update(v.data(), v.size() * sizeof(v[0]));
  };
  add(s.input_ids);
  add(s.loss_mask);
  add(s.example_offsets);
  add(s.sequence_offsets);
  return h.hex_digest();
}

void write_token_store(const fs::path& path, const TokenStoreMeta& m, const std::map<std::string, TokenSplit>& splits) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string file = path.string();
  // Written beside the target and renamed: readers never see a half-written store.
  AtomicFile placeholder(path);  // reserves the temporary name; HDF5 writes the file itself
  const fs::path tmp = placeholder.temp_path();
  {
    H5 f{H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
    HONE_CHECK(f.id >= 0, RuntimeError, "{}: cannot create HDF5 file", tmp.string());
    write_attr(f.id, "hone_token_store_version", kTokenStoreVersion);
    write_attr(f.id, "tokenizer_fingerprint", m.tokenizer_fingerprint);
    write_attr(f.id, "vocab_size", m.vocab_size);
    write_attr(f.id, "bos_id", m.bos_id);
    write_attr(f.id, "eos_id", m.eos_id);
    write_attr(f.id, "pad_id", m.pad_id);
    write_attr(f.id, "template", m.template_name);
    write_attr(f.id, "chat_template", m.chat_template);
    write_attr(f.id, "max_len", m.max_len);
    write_attr(f.id, "packed", std::int64_t{m.packed});
    write_attr(f.id, "train_on_prompt", std::int64_t{m.train_on_prompt});
    write_attr(f.id, "preference", std::int64_t{m.preference});
    write_attr(f.id, "manifest_sha256", m.manifest_sha256);
    write_attr(f.id, "model", m.model);
    for (const auto& [name, s] : splits) {
      H5 g{H5Gcreate2(f.id, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
      write_dataset(g.id, "input_ids", s.input_ids, file);
      write_dataset(g.id, "loss_mask", s.loss_mask, file);
      write_dataset(g.id, "example_offsets", s.example_offsets, file);
      write_dataset(g.id, "sequence_offsets", s.sequence_offsets, file);
    }
    HONE_CHECK(H5Fflush(f.id, H5F_SCOPE_GLOBAL) >= 0, RuntimeError, "{}: write failed: {}", file, write_error(errno));
  }
  placeholder.commit();  // renames the HDF5 file written at the temporary path
}

namespace {

// A preference store's split holds whole pairs (chosen, rejected) of one-example sequences, each
// with something to score: the answer's loss tokens.
void check_pairs(const TokenSplit& s, const std::string& file, const std::string& split) {
  HONE_CHECK(s.sequences() % 2 == 0, InputError,
             "{}: {}: preference store with {} sequences, an odd count: pair {} has no rejected sequence", file, split,
             s.sequences(), s.sequences() / 2);
  for (std::int64_t j = 0; j < s.sequences(); ++j) {
    const auto pair = j / 2;
    const char* side = j % 2 == 0 ? "chosen" : "rejected";
    HONE_CHECK(s.sequence_offsets[j + 1] - s.sequence_offsets[j] == 1, InputError,
               "{}: {}: pair {}: the {} sequence {} holds {} examples, a preference store holds one per sequence", file,
               split, pair, side, j, s.sequence_offsets[j + 1] - s.sequence_offsets[j]);
    const auto begin = s.loss_mask.begin() + s.example_offsets[j], end = s.loss_mask.begin() + s.example_offsets[j + 1];
    HONE_CHECK(std::find(begin, end, 1) != end, InputError, "{}: {}: pair {}: the {} sequence {} has no loss token",
               file, split, pair, side, j);
  }
}

}  // namespace

TokenStore read_token_store(const fs::path& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string file = path.string();
  HONE_CHECK(fs::exists(path), InputError, "{}: no such file", file);
  HONE_CHECK(H5Fis_hdf5(path.c_str()) > 0, InputError, "{}: not an HDF5 file", file);
  H5 f{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  HONE_CHECK(f.id >= 0, InputError, "{}: cannot open as HDF5", file);
  const auto version = read_int_attr(f.id, "hone_token_store_version", file);
  HONE_CHECK(version.has_value(), InputError, Hint{"make one with hone tokenize"}, "{}: not a hone token store", file);
  HONE_CHECK(*version == kTokenStoreVersion, InputError, "{}: token store version {} (this hone reads {})", file, *version,
             kTokenStoreVersion);
  TokenStore st;
  TokenStoreMeta& m = st.meta;
  m.tokenizer_fingerprint = read_str_attr(f.id, "tokenizer_fingerprint", file);
  HONE_CHECK(!m.tokenizer_fingerprint.empty(), InputError, "{}: the 'tokenizer_fingerprint' attribute is missing",
             file);
  m.vocab_size = read_int_attr(f.id, "vocab_size", file).value_or(0);
  HONE_CHECK(m.vocab_size > 0, InputError, "{}: the 'vocab_size' attribute is missing or not positive", file);
  m.bos_id = read_int_attr(f.id, "bos_id", file).value_or(-1);
  m.eos_id = read_int_attr(f.id, "eos_id", file).value_or(-1);
  m.pad_id = read_int_attr(f.id, "pad_id", file).value_or(-1);
  m.template_name = read_str_attr(f.id, "template", file);
  m.chat_template = read_str_attr(f.id, "chat_template", file);
  m.max_len = read_int_attr(f.id, "max_len", file).value_or(0);
  m.packed = read_int_attr(f.id, "packed", file).value_or(0) != 0;
  m.train_on_prompt = read_int_attr(f.id, "train_on_prompt", file).value_or(0) != 0;
  m.preference = read_int_attr(f.id, "preference", file).value_or(0) != 0;  // absent: a store of examples
  HONE_CHECK(!m.preference || !m.packed, InputError, "{}: a preference store cannot be packed", file);
  m.manifest_sha256 = read_str_attr(f.id, "manifest_sha256", file);
  m.model = read_str_attr(f.id, "model", file);
  for (const char* name : {"train", "valid", "test"}) {
    if (H5Lexists(f.id, name, H5P_DEFAULT) <= 0) continue;
    check_hard_link(f.id, name, file);
    H5 g{H5Gopen2(f.id, name, H5P_DEFAULT), H5Gclose};
    HONE_CHECK(g.id >= 0, InputError, "{}: '{}' is not a group (not a hone token store?)", file, name);
    const std::string where = std::string(name) + "/";
    TokenSplit s;
    s.input_ids = read_dataset<std::int32_t>(g.id, "input_ids", file);
    s.loss_mask = read_dataset<std::uint8_t>(g.id, "loss_mask", file);
    s.example_offsets = read_dataset<std::int64_t>(g.id, "example_offsets", file);
    s.sequence_offsets = read_dataset<std::int64_t>(g.id, "sequence_offsets", file);
    HONE_CHECK(s.loss_mask.size() == s.input_ids.size(), InputError, "{}: {}loss_mask has {} values for {} tokens", file,
               where, s.loss_mask.size(), s.input_ids.size());
    auto monotonic = [&](const std::vector<std::int64_t>& o, std::int64_t end, const char* what) {
      HONE_CHECK(!o.empty() && o.front() == 0 && o.back() == end, InputError,
                 "{}: {}{} must run from 0 to {}", file, where, what, end);
      for (std::size_t i = 1; i < o.size(); ++i)
        HONE_CHECK(o[i] >= o[i - 1], InputError, "{}: {}{} decreases at index {}", file, where, what, i);
    };
    monotonic(s.example_offsets, s.tokens(), "example_offsets");
    monotonic(s.sequence_offsets, s.examples(), "sequence_offsets");
    for (std::size_t i = 0; i < s.input_ids.size(); ++i)
      HONE_CHECK(s.input_ids[i] >= 0 && s.input_ids[i] < m.vocab_size, InputError,
                 "{}: {}input_ids[{}] = {} is outside the vocabulary (size {})", file, where, i, s.input_ids[i],
                 m.vocab_size);
    if (m.preference) check_pairs(s, file, name);
    st.splits[name] = std::move(s);
  }
  return st;
}

const TokenSplit& require_split(const TokenStore& store, const fs::path& path, const std::string& name) {
  const auto it = store.splits.find(name);
  HONE_CHECK(it != store.splits.end() && it->second.sequences() > 0, InputError,
             "{}: no '{}' split (or it is empty)", path.string(), name);
  return it->second;
}

void check_tokenizer(const TokenStore& store, const fs::path& store_path, const Tokenizer& tokenizer,
                     const std::string& model) {
  const std::string fp = tokenizer.fingerprint();
  HONE_CHECK(store.meta.tokenizer_fingerprint == fp, InputError,
             Hint{"tokenize the data again with this model: hone tokenize DIR -o FILE.h5 --model MODEL"},
             "{}: the token store was made with tokenizer {} ({}), but {} has tokenizer {}", store_path.string(),
             store.meta.tokenizer_fingerprint.substr(0, 16), store.meta.model, model, fp.substr(0, 16));
}

}  // namespace hone::data
