// Fuzz target: GGUF files (lib/core/gguf.cpp): the header, metadata of every value type, tensor
// infos, dequantisation of every tensor of a type hone reads (lib/core/ggml_types.cpp,
// ggml_quants.cpp), the tokenizer built from tokenizer.ggml.* (lib/text/vocab_gguf.cpp) and the
// model configuration read from <arch>.* keys (lib/model/config.cpp, family_*.cpp).
//
// Seeds: the first 64 KiB of the SmolLM2 and Gemma 3 GGUFs (header and the start of their
// metadata), small complete copies of both (every metadata key, arrays cut to their first
// entries, a few real tensors cut to two rows), one tensor of each GGML type, and metadata of
// every value type.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <vector>

#include "core/gguf.h"
#include "fuzz_target.h"
#include "model/config.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

namespace {

using hone::GGMLType;
using hone::GGUFType;
using hone::GGUFValue;

// Tensors larger than this are not dequantised (a fuzzed 2^46-weight claim must still be
// rejected by the reader, which the run does, but need not be materialised).
constexpr std::int64_t kMaxDequantized = 1 << 20;

void exercise_tensors(const hone::GGUFFile& g) {
  std::vector<float> out;
  for (const hone::GGUFTensorInfo& t : g.tensors()) {
    (void)g.tensor(t.name).shape();
    if (t.numel() > kMaxDequantized) continue;
    out.assign(static_cast<std::size_t>(t.numel()), 0.0f);
    try {
      g.dequantize(t, out.data());  // InputError for a type hone cannot dequantise
    } catch (const hone::InputError&) {
    }
  }
}

void exercise_tokenizer(const hone::GGUFFile& g) {
  if (g.find("tokenizer.ggml.model") == nullptr) return;
  const auto tok = hone::Tokenizer::from_gguf(g);
  const std::string text = "Hello, world! <|im_start|>user\n¿Qué tal? 12345 <start_of_turn>\t  x\xF0\x9F\x98\x80";
  for (bool special : {false, true}) {
    const auto ids = tok->encode(text, special, special);
    (void)tok->decode(ids, special);
  }
  (void)tok->stop_ids();
}

void exercise_config(const hone::GGUFFile& g) {
  if (g.find("general.architecture") == nullptr) return;
  const hone::ModelConfig c = hone::load_gguf_config(g);
  (void)c.parameter_count();
  (void)c.to_hf_json();
}

}  // namespace

HONE_FUZZ_TARGET(gguf) {
  const auto path = hone::fuzz::input_file(data, size, "model.gguf");
  const hone::GGUFFile g = hone::GGUFFile::open(path);
  for (const auto& kv : g.metadata()) (void)kv.second.to_string();
  exercise_tensors(g);
  // Each reader on top of the file rejects on its own; one rejection must not hide the others.
  for (auto step : {exercise_tokenizer, exercise_config}) {
    try {
      step(g);
    } catch (const hone::InputError&) {
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------- seeds

namespace {

std::string file_prefix(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

// A small complete GGUF from a real one: every metadata key, arrays cut to their first `k`
// entries (merges: those whose parts and result are among the kept tokens), and the first two rows
// of token_embd.weight and of one tensor of each type the model holds.
void write_mini(const std::string& model, const hone::fs::path& out, std::size_t k) {
  const hone::GGUFFile g = hone::GGUFFile::open(model);
  hone::GGUFWriter w(g.alignment());
  std::set<std::string> kept;
  if (const GGUFValue* t = g.find("tokenizer.ggml.tokens"))
    for (const auto& item : std::get<GGUFValue::Array>(t->v).items) {
      if (kept.size() == k) break;
      kept.insert(std::get<std::string>(item.v));
    }
  for (const auto& [key, value] : g.metadata()) {
    if (key == "general.alignment" || key.find(".vocab_size") != std::string::npos) continue;
    GGUFValue v = value;
    if (auto* arr = std::get_if<GGUFValue::Array>(&v.v)) {
      if (key == "tokenizer.ggml.merges") {
        std::vector<GGUFValue> merges;
        for (const auto& m : arr->items) {
          const auto& s = std::get<std::string>(m.v);
          const auto sp = s.find(' ', 1);
          if (sp == std::string::npos) continue;
          const std::string a = s.substr(0, sp), b = s.substr(sp + 1);
          if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(m);
        }
        arr->items = std::move(merges);
      } else if (arr->items.size() > k) {
        arr->items.resize(k);
      }
    }
    w.set(key, std::move(v));
  }
  std::set<GGMLType> types;
  for (const auto& t : g.tensors()) {
    const bool embedding = t.name == "token_embd.weight";
    if (t.ne.size() != 2 || (!embedding && !types.insert(t.type).second)) continue;
    const std::size_t row = hone::ggml_row_bytes(t.type, t.ne[0]);
    const std::byte* src = t.data;
    w.add_tensor(t.name, t.type, {2, t.ne[0]}, [src, row](std::byte* dst) { std::memcpy(dst, src, 2 * row); });
  }
  w.write(out);
}

// One block of every GGML type (random bytes), and one metadata value of every type.
void write_types(const hone::fs::path& out) {
  hone::GGUFWriter w;
  w.set("u8", {GGUFType::kU8, std::uint64_t{200}});
  w.set("i8", {GGUFType::kI8, std::int64_t{-100}});
  w.set("u16", {GGUFType::kU16, std::uint64_t{60000}});
  w.set("i16", {GGUFType::kI16, std::int64_t{-30000}});
  w.set("u32", GGUFValue::u32(4000000000u));
  w.set("i32", GGUFValue::i32(-2000000000));
  w.set("f32", GGUFValue::f32(1.5f));
  w.set("bool", GGUFValue::boolean(true));
  w.set("string", GGUFValue::str("gguf ☃"));
  w.set("u64", GGUFValue::u64(~std::uint64_t{0}));
  w.set("i64", {GGUFType::kI64, std::int64_t{-1}});
  w.set("f64", {GGUFType::kF64, 2.25});
  w.set("array.u32", GGUFValue::array(GGUFType::kU32, {GGUFValue::u32(1), GGUFValue::u32(2)}));
  w.set("array.string", GGUFValue::array(GGUFType::kString, {GGUFValue::str("a"), GGUFValue::str("b c")}));
  w.set("array.array", GGUFValue::array(GGUFType::kArray, {GGUFValue::array(GGUFType::kI32, {GGUFValue::i32(-1)})}));
  std::mt19937 rng(7);
  for (std::uint32_t id = 0; id < 64; ++id) {
    const auto traits = hone::ggml_type_traits(id);
    if (!traits) continue;
    std::vector<std::byte> bytes(traits->type_size);
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    w.add_tensor(std::string(traits->name), static_cast<GGMLType>(id), {traits->block_size},
                 [bytes](std::byte* dst) { std::memcpy(dst, bytes.data(), bytes.size()); });
  }
  w.write(out);
}

}  // namespace

HONE_FUZZ_SEEDS(gguf) {
  for (const std::string& model : {std::string(HONE_MODEL_GGUF), std::string(HONE_GEMMA_GGUF)}) {
    if (!hone::fs::exists(model)) continue;
    const std::string stem = hone::fs::path(model).stem().string();
    seeds.add(stem + ".head.gguf", file_prefix(model, 64 * 1024));
    write_mini(model, seeds.dir() / (stem + ".mini.gguf"), 1024);
  }
  write_types(seeds.dir() / "types.gguf");
  hone::GGUFWriter empty;
  empty.write(seeds.dir() / "empty.gguf");
}
