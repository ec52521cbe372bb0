#include "core/gguf.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "core/safetensors.h"
#include "helpers.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

// ---------------------------------------------------------------------------- hand-made files

// Little-endian byte builder for crafting GGUF files, valid or not.
struct Bytes {
  std::string s;
  template <class T>
  Bytes& put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& x) {
    put<std::uint64_t>(x.size());
    s += x;
    return *this;
  }
  Bytes& pad(std::size_t a) {
    s.append((a - s.size() % a) % a, '\0');
    return *this;
  }
};

// Parts of a one-tensor file that the malformed cases vary.
struct Spec {
  std::uint32_t magic = 0x46554747;
  std::uint32_t version = 3;
  std::uint64_t n_tensors = 1;
  std::uint64_t n_kv = 2;
  std::uint64_t key_len = 0;  // 0: the real length
  std::uint32_t n_dims = 2;
  std::uint64_t ne0 = 32;
  std::uint32_t type = 0;     // F32
  std::uint64_t offset = 0;
  std::uint64_t array_len = 3;
  std::size_t data_bytes = 32 * 2 * 4;
  bool duplicate_key = false;
};

std::string build(const Spec& sp) {
  Bytes b;
  b.put(sp.magic).put(sp.version).put(sp.n_tensors).put(sp.n_kv);
  const std::string key = "general.architecture";
  b.put<std::uint64_t>(sp.key_len ? sp.key_len : key.size());
  b.s += key;
  b.put<std::uint32_t>(8).str("llama");
  b.str(sp.duplicate_key ? key : "test.list").put<std::uint32_t>(9).put<std::uint32_t>(5).put<std::uint64_t>(sp.array_len);
  for (std::uint64_t i = 0; i < std::min<std::uint64_t>(sp.array_len, 3); ++i) b.put<std::int32_t>(static_cast<std::int32_t>(i));
  b.str("w").put(sp.n_dims);
  for (std::uint32_t d = 0; d < sp.n_dims; ++d) b.put<std::uint64_t>(d == 0 ? sp.ne0 : 2);
  b.put(sp.type).put(sp.offset);
  b.pad(32);
  b.s.append(sp.data_bytes, '\x01');
  return b.s;
}

TEST(GGUF, HandMadeFileParses) {
  TempDir dir;
  test::write_bytes(dir / "ok.gguf", build({}));
  auto g = GGUFFile::open(dir / "ok.gguf");
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_array("test.list").items.size(), 3u);
  EXPECT_EQ(g.tensor("w").shape(), (std::vector<std::int64_t>{2, 32}));
  EXPECT_HONE_ERROR(g.get_uint("general.architecture"), InputError,
                    "metadata 'general.architecture' should be a non-negative integer, is string");
  EXPECT_HONE_ERROR(g.tensor("nope"), InputError, "missing tensor 'nope'");
}

struct Malformed {
  const char* name;
  Spec spec;
  const char* expected;
};
Spec with(void (*f)(Spec&)) {
  Spec s;
  f(s);
  return s;
}

// gtest prints a parameter through PrintTo: the case name, not the struct's bytes.
void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

class GGUFMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(GGUFMalformed, RejectedWithAClearMessage) {
  TempDir dir;
  const auto& m = GetParam();
  test::write_bytes(dir / "bad.gguf", build(m.spec));
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "bad.gguf"), InputError, m.expected);
  try {
    GGUFFile::open(dir / "bad.gguf");
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find("bad.gguf"), std::string::npos) << "message must name the file";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GGUFMalformed,
    ::testing::Values(
        Malformed{"bad_magic", with([](Spec& s) { s.magic = 0x12345678; }), "not a GGUF file (magic 0x12345678)"},
        Malformed{"version_1", with([](Spec& s) { s.version = 1; }), "GGUF version 1 is not supported"},
        Malformed{"absurd_kv_count", with([](Spec& s) { s.n_kv = 1ULL << 60; }), "metadata count 1152921504606846976 cannot fit"},
        Malformed{"absurd_tensor_count", with([](Spec& s) { s.n_tensors = 1ULL << 40; }), "tensor count 1099511627776 cannot fit"},
        Malformed{"absurd_string_length", with([](Spec& s) { s.key_len = 1ULL << 50; }),
                  "truncated at byte 32: metadata key #0 needs 1125899906842624 bytes"},
        Malformed{"absurd_array_length", with([](Spec& s) { s.array_len = 1ULL << 40; }),
                  "metadata 'test.list': array of 1099511627776 i32 elements cannot fit"},
        Malformed{"duplicate_key", with([](Spec& s) { s.duplicate_key = true; }),
                  "metadata key 'general.architecture' appears twice"},
        Malformed{"too_many_dims", with([](Spec& s) { s.n_dims = 5; }), "tensor 'w' has 5 dimensions (expected 1 to 4)"},
        Malformed{"unknown_type", with([](Spec& s) { s.type = 99; }), "tensor 'w' has unknown GGML type 99"},
        Malformed{"row_not_block_multiple", with([](Spec& s) { s.type = 8; s.ne0 = 33; }),
                  "tensor 'w': row length 33 is not a multiple of the Q8_0 block size 32"},
        Malformed{"misaligned_offset", with([](Spec& s) { s.offset = 4; }),
                  "tensor 'w': offset 4 is not a multiple of the alignment 32"},
        Malformed{"truncated_data", with([](Spec& s) { s.data_bytes = 100; }),
                  "tensor 'w': data [0, 256) runs past the end of the file's data section (100 bytes; truncated file?)"},
        Malformed{"zero_dim", with([](Spec& s) { s.ne0 = 0; }), "tensor 'w' has an impossible dimension 0"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(GGUF, TruncatedHeaderNamesTheOffset) {
  TempDir dir;
  std::string bytes = build({});
  test::write_bytes(dir / "cut.gguf", bytes.substr(0, 60));
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "cut.gguf"), InputError,
                    "cut.gguf: truncated at byte 56: metadata 'general.architecture' length needs 8 bytes, 4 remain");
  test::write_bytes(dir / "tiny.gguf", "GG");
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "tiny.gguf"), InputError, "2 bytes is too short for a GGUF file");
}

TEST(GGUF, OverlappingTensorsAreRejected) {
  TempDir dir;
  GGUFWriter w;
  std::vector<float> x(32, 1.0f);
  w.add_tensor_f32("a", GGMLType::kF32, {32}, x.data());
  w.add_tensor_f32("b", GGMLType::kF32, {32}, x.data());
  w.write(dir / "two.gguf");
  // Point b's offset (the last 8 bytes before the padding of the tensor infos) at a's data.
  std::string bytes = test::read_bytes(dir / "two.gguf");
  const std::size_t b_info = bytes.rfind(std::string("\x01\0\0\0\0\0\0\0b", 9));
  ASSERT_NE(b_info, std::string::npos);
  const std::size_t b_offset = b_info + 9 + 4 + 8 + 4;
  const std::uint64_t b_expected = 128;  // a's 32 floats
  ASSERT_EQ(std::memcmp(bytes.data() + b_offset, &b_expected, 8), 0) << "layout assumption";
  std::uint64_t zero = 0;
  std::memcpy(bytes.data() + b_offset, &zero, 8);
  test::write_bytes(dir / "two.gguf", bytes);
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "two.gguf"), InputError, "tensors 'a' and 'b' overlap in the data section");
}

// ---------------------------------------------------------------------------- writer round trip

GGUFWriter example_writer(std::vector<float>& w) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  w.resize(64 * 4);
  for (auto& x : w) x = dist(rng);
  GGUFWriter g;
  g.set("general.architecture", GGUFValue::str("llama"));
  g.set("general.name", GGUFValue::str("tiny ünïcode"));
  g.set("t.u8", {GGUFType::kU8, std::uint64_t{200}});
  g.set("t.i8", {GGUFType::kI8, std::int64_t{-100}});
  g.set("t.u16", {GGUFType::kU16, std::uint64_t{60000}});
  g.set("t.i16", {GGUFType::kI16, std::int64_t{-30000}});
  g.set("t.u32", GGUFValue::u32(4000000000u));
  g.set("t.i32", GGUFValue::i32(-2000000000));
  g.set("t.u64", GGUFValue::u64(1ULL << 60));
  g.set("t.i64", {GGUFType::kI64, std::int64_t{-(1LL << 60)}});
  g.set("t.f32", GGUFValue::f32(0.125f));
  g.set("t.f64", {GGUFType::kF64, 1e-300});
  g.set("t.bool", GGUFValue::boolean(true));
  g.set("t.strings", GGUFValue::array(GGUFType::kString, {GGUFValue::str("a"), GGUFValue::str(""), GGUFValue::str("Ġc")}));
  g.set("t.floats", GGUFValue::array(GGUFType::kF32, {GGUFValue::f32(1.5f), GGUFValue::f32(-2.0f)}));
  g.add_tensor_f32("f32", GGMLType::kF32, {4, 64}, w.data());
  g.add_tensor_f32("f16", GGMLType::kF16, {4, 64}, w.data());
  g.add_tensor_f32("bf16", GGMLType::kBF16, {4, 64}, w.data());
  g.add_tensor_f32("q8_0", GGMLType::kQ8_0, {4, 64}, w.data());
  g.add_tensor_f32("q4_0", GGMLType::kQ4_0, {2, 2, 64}, w.data());
  g.add_tensor_f32("q4_1", GGMLType::kQ4_1, {256}, w.data());
  return g;
}

TEST(GGUF, WriterRoundTripsEveryValueTypeAndTensorType) {
  TempDir dir;
  std::vector<float> w;
  example_writer(w).write(dir / "rt.gguf");
  auto g = GGUFFile::open(dir / "rt.gguf");
  EXPECT_EQ(g.get_string("general.name"), "tiny ünïcode");
  EXPECT_EQ(g.find("t.u8")->type, GGUFType::kU8);
  EXPECT_EQ(g.get_uint("t.u8"), 200u);
  EXPECT_EQ(std::get<std::int64_t>(g.find("t.i8")->v), -100);
  EXPECT_EQ(g.get_uint("t.u16"), 60000u);
  EXPECT_EQ(std::get<std::int64_t>(g.find("t.i16")->v), -30000);
  EXPECT_EQ(g.get_uint("t.u32"), 4000000000u);
  EXPECT_EQ(std::get<std::int64_t>(g.find("t.i32")->v), -2000000000);
  EXPECT_EQ(g.get_uint("t.u64"), 1ULL << 60);
  EXPECT_EQ(std::get<std::int64_t>(g.find("t.i64")->v), -(1LL << 60));
  EXPECT_EQ(g.get_float("t.f32"), 0.125);
  EXPECT_EQ(g.get_float("t.f64"), 1e-300);
  EXPECT_TRUE(g.get_bool("t.bool"));
  EXPECT_EQ(std::get<std::string>(g.get_array("t.strings").items[2].v), "Ġc");
  EXPECT_EQ(g.tensors().size(), 6u);
  EXPECT_EQ(g.tensor("q4_0").shape(), (std::vector<std::int64_t>{2, 2, 64}));
  for (const auto& t : g.tensors()) {
    EXPECT_EQ(t.offset % 32, 0u);
    std::vector<float> back(static_cast<std::size_t>(t.numel()));
    g.dequantize(t, back.data());
    float tol = t.type == GGMLType::kF32 ? 0.0f : t.type == GGMLType::kQ4_0 || t.type == GGMLType::kQ4_1 ? 0.05f : 3e-3f;
    for (std::size_t i = 0; i < back.size(); ++i) ASSERT_NEAR(back[i], w[i], tol) << t.name << "[" << i << "]";
  }
}

// A file holding a type hone knows but cannot dequantise (IQ4_NL) opens; dequantising that tensor
// is an InputError naming the file, the tensor, the type and the types hone reads.
TEST(GGUF, TensorOfATypeHoneCannotDequantiseIsAClearError) {
  TempDir dir;
  GGUFWriter g;
  g.add_tensor("blk.0.ffn_down.weight", GGMLType::kIQ4_NL, {2, 64}, [](std::byte* dst) { std::memset(dst, 0, 4 * 18); });
  g.write(dir / "iq.gguf");
  auto f = GGUFFile::open(dir / "iq.gguf");
  const auto& t = f.tensor("blk.0.ffn_down.weight");
  EXPECT_EQ(t.type, GGMLType::kIQ4_NL);
  std::vector<float> out(128);
  EXPECT_HONE_ERROR(f.dequantize(t, out.data()), InputError,
                    (dir / "iq.gguf").string() + ": tensor 'blk.0.ffn_down.weight': cannot dequantise GGML type IQ4_NL "
                    "(hone reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
}

// ---------------------------------------------------------------------------- resource bounds

// Claims of a short file are rejected before anything is allocated for them: a header that
// promises 2^60 entries, a string or an array longer than the file.
TEST(GGUF, AbsurdClaimsOfATinyFileAreRejectedAtOnce) {
  TempDir dir;
  test::write_bytes(dir / "magic.gguf", "GGUF");
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "magic.gguf"), InputError,
                    "magic.gguf: truncated at byte 4: version needs 4 bytes, 0 remain");
  const auto header = [](std::uint64_t n_tensors, std::uint64_t n_kv) {
    return Bytes{}.put<std::uint32_t>(0x46554747).put<std::uint32_t>(3).put(n_tensors).put(n_kv);
  };
  test::write_bytes(dir / "kv.gguf", header(0, 1ULL << 60).s);
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "kv.gguf"), InputError,
                    "kv.gguf: metadata count 1152921504606846976 cannot fit in a 24-byte file");
  test::write_bytes(dir / "tensors.gguf", header(1ULL << 60, 0).s);
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "tensors.gguf"), InputError,
                    "tensors.gguf: tensor count 1152921504606846976 cannot fit in a 24-byte file");
  test::write_bytes(dir / "string.gguf", header(0, 1).put<std::uint64_t>(1ULL << 60).put<std::uint64_t>(0).s);
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "string.gguf"), InputError,
                    "string.gguf: truncated at byte 32: metadata key #0 needs 1152921504606846976 bytes, 8 remain");
  test::write_bytes(dir / "array.gguf", header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(8)
                                            .put<std::uint64_t>(1ULL << 60).s);
  EXPECT_HONE_ERROR(GGUFFile::open(dir / "array.gguf"), InputError,
                    "array.gguf: at byte 41: metadata 'a': array of 1152921504606846976 string elements cannot fit "
                    "in the 0 bytes left");
}

// A claim the file could hold is still rejected above the documented limits (gguf.h). The files
// are sparse: their size makes the claim fit, and nothing past the header is ever read.
TEST(GGUF, ClaimsAboveTheLimitsAreRejectedEvenWhenTheFileIsLargeEnough) {
  TempDir dir;
  const auto sparse = [&](const std::string& name, const Bytes& head, std::uint64_t size) {
    test::write_bytes(dir / name, head.s);
    fs::resize_file(dir / name, size);
    return dir / name;
  };
  const auto header = [](std::uint64_t n_tensors, std::uint64_t n_kv) {
    return Bytes{}.put<std::uint32_t>(0x46554747).put<std::uint32_t>(3).put(n_tensors).put(n_kv);
  };
  EXPECT_HONE_ERROR(GGUFFile::open(sparse("tensors.gguf", header(kGGUFMaxTensors + 1, 0), 64 << 20)), InputError,
                    "tensor count 1048577 is above hone's limit of 1048576");
  EXPECT_HONE_ERROR(GGUFFile::open(sparse("kv.gguf", header(0, kGGUFMaxMetadata + 1), 64 << 20)), InputError,
                    "metadata count 1048577 is above hone's limit of 1048576");
  const Bytes array = header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(0).put(kGGUFMaxArrayLength + 1);
  EXPECT_HONE_ERROR(GGUFFile::open(sparse("array.gguf", array, 32 << 20)), InputError,
                    "at byte 41: metadata 'a': array of 16777217 elements is above hone's limit of 16777216");
  const Bytes string = header(0, 1).str("a").put<std::uint32_t>(8).put(kGGUFMaxStringLength + 1);
  EXPECT_HONE_ERROR(GGUFFile::open(sparse("string.gguf", string, 300 << 20)), InputError,
                    "at byte 37: metadata 'a' is 268435457 bytes long, above hone's limit of 268435456");
}

TEST(GGUF, WriterRejectsBadTensors) {
  GGUFWriter g;
  std::vector<float> x(40);
  EXPECT_HONE_ERROR(g.add_tensor_f32("odd", GGMLType::kQ8_0, {40}, x.data()), UsageError,
                    "tensor 'odd': row length 40 is not a multiple of the Q8_0 block size");
  g.add_tensor_f32("a", GGMLType::kF32, {40}, x.data());
  EXPECT_HONE_ERROR(g.add_tensor_f32("a", GGMLType::kF32, {40}, x.data()), RuntimeError, "tensor 'a' added twice");
}

// ---------------------------------------------------------------------------- the real peer

TEST(GGUFPeer, GgufPyReadsWhatHoneWrites) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  TempDir dir;
  std::vector<float> w;
  example_writer(w).write(dir / "rt.gguf");
  auto r = test::run_python("gguf_peer.py", {"read", (dir / "rt.gguf").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  const json& m = j["metadata"];
  EXPECT_EQ(m["general.name"]["value"], "tiny ünïcode");
  EXPECT_EQ(m["t.u8"]["type"], "uint8");
  EXPECT_EQ(m["t.i16"]["value"], -30000);
  EXPECT_EQ(m["t.u64"]["value"], 1ULL << 60);
  EXPECT_EQ(m["t.f64"]["value"], 1e-300);
  EXPECT_EQ(m["t.bool"]["value"], true);
  EXPECT_EQ(m["t.strings"]["value"], json({"a", "", "Ġc"}));
  EXPECT_EQ(m["t.floats"]["value"], json({1.5, -2.0}));
  auto g = GGUFFile::open(dir / "rt.gguf");
  ASSERT_EQ(j["tensors"].size(), g.tensors().size());
  for (std::size_t i = 0; i < g.tensors().size(); ++i) {
    const auto& t = g.tensors()[i];
    const json& p = j["tensors"][i];
    EXPECT_EQ(p["name"], t.name);
    EXPECT_EQ(p["type"], std::string(ggml_type_name(t.type)));
    EXPECT_EQ(p["shape"], json(t.shape()));
    std::vector<float> back(static_cast<std::size_t>(t.numel()));
    g.dequantize(t, back.data());
    double sum = 0;
    for (float v : back) sum += v;
    EXPECT_NEAR(p["sum"].get<double>(), sum, 1e-9) << t.name;
    EXPECT_EQ(p["first"][0].get<double>(), static_cast<double>(back[0])) << t.name;
  }
}

// Dequantisation of the real SmolLM2 Q4_1 file (Q4_1, Q8_0 and F32 tensors) equals gguf-py's.
TEST(GGUFPeer, SmolLM2DequantisationEqualsGgufPy) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "no virtualenv or model (run scripts/setup.sh)";
  TempDir dir;
  auto r = test::run_python("gguf_peer.py", {"dequant", test::model_path(), (dir / "ref.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ref = SafetensorsFile::open(dir / "ref.safetensors");
  auto g = GGUFFile::open(test::model_path());
  ASSERT_EQ(ref.tensors().size(), g.tensors().size());
  std::map<GGMLType, int> checked;
  for (const auto& t : g.tensors()) {
    const auto& rt = ref.get(t.name);
    ASSERT_EQ(rt.shape, t.shape()) << t.name;
    std::vector<float> mine(static_cast<std::size_t>(t.numel()));
    g.dequantize(t, mine.data());
    const float* theirs = reinterpret_cast<const float*>(rt.data);
    float max_diff = 0;
    for (std::size_t i = 0; i < mine.size(); ++i) max_diff = std::max(max_diff, std::fabs(mine[i] - theirs[i]));
    EXPECT_EQ(max_diff, 0.0f) << t.name << " (" << ggml_type_name(t.type) << ")";
    checked[t.type]++;
  }
  EXPECT_GT(checked[GGMLType::kQ4_1], 0);
  EXPECT_GT(checked[GGMLType::kQ8_0], 0);
  EXPECT_GT(checked[GGMLType::kF32], 0);
}

}  // namespace
}  // namespace hone
