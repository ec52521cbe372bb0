// Fuzz target: the HDF5 token store reader (data/token_store.h, read_token_store and its
// validation). Structure-aware (fuzz_h5_file.h says why): the input describes an HDF5 file made of
// the groups, datasets and attributes a store has, with any types, shapes, values and links; it is
// written with the HDF5 C API and read by hone.
#include <map>

#include "data/token_store.h"
#include "fuzz_h5_file.h"
#include "fuzz_target.h"

namespace {

// The names read_token_store looks up, and a few it does not.
const std::vector<std::string>& store_names() {
  static const std::vector<std::string> names = {
      "train", "valid", "test", "input_ids", "loss_mask", "example_offsets", "sequence_offsets",
      "hone_token_store_version", "tokenizer_fingerprint", "vocab_size", "bos_id", "eos_id", "pad_id", "template",
      "chat_template", "max_len", "packed", "train_on_prompt", "preference", "manifest_sha256", "model", "extra"};
  return names;
}

// The program for a store as hone's reader sees it.
std::string describe_store(const hone::data::TokenStore& st) {
  using hone::fuzz::H5Type;
  hone::fuzz::H5Program p(store_names());
  const hone::data::TokenStoreMeta& m = st.meta;
  p.attr_int(0, "hone_token_store_version", hone::data::kTokenStoreVersion);
  p.attr_string(0, "tokenizer_fingerprint", m.tokenizer_fingerprint);
  p.attr_int(0, "vocab_size", m.vocab_size);
  p.attr_int(0, "bos_id", m.bos_id);
  p.attr_int(0, "eos_id", m.eos_id);
  p.attr_int(0, "pad_id", m.pad_id);
  p.attr_string(0, "template", m.template_name);
  p.attr_string(0, "chat_template", m.chat_template);
  p.attr_int(0, "max_len", m.max_len);
  p.attr_int(0, "packed", m.packed);
  p.attr_int(0, "train_on_prompt", m.train_on_prompt);
  p.attr_int(0, "preference", m.preference);
  p.attr_string(0, "manifest_sha256", m.manifest_sha256);
  p.attr_string(0, "model", m.model);
  for (const auto& [name, s] : st.splits) {
    const int g = p.group(0, name);
    const auto n = [](const auto& v) { return std::vector<hsize_t>{v.size()}; };
    p.dataset_ints(g, "input_ids", H5Type::kI32, n(s.input_ids), {s.input_ids.begin(), s.input_ids.end()});
    p.dataset_ints(g, "loss_mask", H5Type::kU8, n(s.loss_mask), {s.loss_mask.begin(), s.loss_mask.end()});
    p.dataset_ints(g, "example_offsets", H5Type::kI64, n(s.example_offsets), s.example_offsets);
    p.dataset_ints(g, "sequence_offsets", H5Type::kI64, n(s.sequence_offsets), s.sequence_offsets);
  }
  return p.str();
}

}  // namespace

HONE_FUZZ_TARGET(token_store) {
  const auto path = hone::fuzz::input_file(nullptr, 0, "store.h5");
  hone::fuzz::build_h5_file(data, size, store_names(), path);
  const hone::data::TokenStore st = hone::data::read_token_store(path);
  for (const auto& [name, split] : st.splits) {
    hone::data::split_sha256(split);
    hone::data::require_split(st, path, name);
  }
  return 0;
}

// Stores written by hone's writer and accepted by its reader: plain, packed, and preference pairs.
HONE_FUZZ_SEEDS(token_store) {
  using namespace hone::data;
  TokenStoreMeta m;
  m.tokenizer_fingerprint = "3f1c0e5b7d9a2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
  m.vocab_size = 100;
  m.bos_id = 1;
  m.eos_id = 2;
  m.template_name = "chat";
  m.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
  m.max_len = 16;
  m.manifest_sha256 = "00ff";
  m.model = "model.gguf";
  TokenSplit a;
  a.input_ids = {1, 5, 7, 2, 1, 9, 2};
  a.loss_mask = {0, 0, 1, 1, 0, 1, 1};
  a.example_offsets = {0, 4, 7};
  a.sequence_offsets = {0, 1, 2};
  TokenSplit packed = a;
  packed.sequence_offsets = {0, 2};
  const auto path = seeds.dir() / "store.h5.tmp";
  auto add = [&](const std::string& name, const TokenStoreMeta& meta, const std::map<std::string, TokenSplit>& s) {
    write_token_store(path, meta, s);
    const std::string program = describe_store(read_token_store(path));
    // The program must give a store the reader accepts too, or the fuzzer would start outside it.
    hone::fuzz::build_h5_file(reinterpret_cast<const std::uint8_t*>(program.data()), program.size(), store_names(),
                              path);
    read_token_store(path);
    seeds.add(name, program);
    std::filesystem::remove(path);
  };
  add("plain.bin", m, {{"train", a}, {"valid", a}});
  TokenStoreMeta pm = m;
  pm.packed = true;
  add("packed.bin", pm, {{"train", packed}, {"test", a}});
  TokenStoreMeta pref = m;
  pref.preference = true;
  add("preference.bin", pref, {{"train", a}});
}
