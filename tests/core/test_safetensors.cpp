#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "helpers.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

// A raw file: u64 header length, the header text as given, then `data`.
void write_raw(const fs::path& path, const std::string& header, const std::string& data, std::uint64_t claimed_len) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(claimed_len >> (8 * i));
  test::write_bytes(path, bytes + header + data);
}
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

TEST(Safetensors, WriteThenReadRoundTrips) {
  TempDir dir;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  const std::vector<std::uint16_t> b = {float_to_half(0.5f), float_to_half(-1.0f)};
  const std::vector<std::uint16_t> c = {float_to_bf16(2.0f)};
  const std::vector<std::int64_t> d = {-1, 1LL << 40, 3};
  write_safetensors(dir / "t.safetensors",
                    {{"a", DType::kF32, {2, 3}, a.data(), a.size() * 4},
                     {"b", DType::kF16, {2}, b.data(), 4},
                     {"c", DType::kBF16, {1, 1}, c.data(), 2},
                     {"d", DType::kI64, {3}, d.data(), 24}},
                    {{"format", "pt"}});
  auto f = SafetensorsFile::open(dir / "t.safetensors");
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto& ta = f.get("a");
  EXPECT_EQ(ta.dtype, DType::kF32);
  EXPECT_EQ(ta.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(ta.data, a.data(), 24), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ta.data) % 8, 0u) << "header is padded to 8 bytes";
  EXPECT_EQ(half_to_float(*reinterpret_cast<const std::uint16_t*>(f.get("b").data + 2)), -1.0f);
  EXPECT_EQ(std::memcmp(f.get("d").data, d.data(), 24), 0);
  EXPECT_HONE_ERROR(f.get("e"), InputError, "no tensor named 'e'");
}

TEST(Safetensors, ShardedCheckpointRoundTrips) {
  TempDir dir;
  std::vector<std::vector<float>> data;
  std::vector<TensorWrite> tensors;
  for (int i = 0; i < 5; ++i) data.emplace_back(100, static_cast<float>(i));
  for (int i = 0; i < 5; ++i)
    tensors.push_back({"layer." + std::to_string(i) + ".weight", DType::kF32, {10, 10}, data[i].data(), 400});
  write_safetensors_sharded(dir.path(), tensors, /*max_shard_bytes=*/900);
  EXPECT_TRUE(fs::exists(dir / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "model-00003-of-00003.safetensors"));
  auto ck = SafetensorsCheckpoint::open(dir.path());
  EXPECT_EQ(ck.shards().size(), 3u);
  EXPECT_EQ(ck.names().size(), 5u);
  EXPECT_EQ(ck.total_bytes(), 2000u);
  EXPECT_EQ(reinterpret_cast<const float*>(ck.get("layer.4.weight").data)[99], 4.0f);

  // An index that names a tensor its shard does not hold.
  json index = json::parse(test::read_bytes(dir / "model.safetensors.index.json"));
  index["weight_map"]["layer.9.weight"] = "model-00001-of-00003.safetensors";
  test::write_bytes(dir / "model.safetensors.index.json", index.dump());
  EXPECT_HONE_ERROR(SafetensorsCheckpoint::open(dir.path()), InputError,
                    "weight_map puts tensor 'layer.9.weight' in model-00001-of-00003.safetensors, which does not hold it");
  index["weight_map"]["layer.9.weight"] = "../elsewhere.safetensors";
  test::write_bytes(dir / "model.safetensors.index.json", index.dump());
  EXPECT_HONE_ERROR(SafetensorsCheckpoint::open(dir.path()), InputError, "points outside the checkpoint directory");
}

TEST(Safetensors, SingleShardWritesNoIndexAndEmptyDirIsAnError) {
  TempDir dir;
  const float x = 1.0f;
  write_safetensors_sharded(dir.path(), {{"x", DType::kF32, {1}, &x, 4}}, 1 << 20);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"model.safetensors"}));
  TempDir empty;
  EXPECT_HONE_ERROR(SafetensorsCheckpoint::open(empty.path()), InputError, "no safetensors weights in this directory");
}

// ---------------------------------------------------------------------------- malformed files

struct Malformed {
  const char* name;
  std::string header;
  std::string data;
  std::uint64_t claimed;  // 0: the header's real length
  const char* expected;
};

// gtest prints a parameter through PrintTo: the case name, not the struct's bytes.
void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

class SafetensorsMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(SafetensorsMalformed, RejectedWithAClearMessage) {
  TempDir dir;
  const auto& m = GetParam();
  const fs::path p = dir / "bad.safetensors";
  write_raw(p, m.header, m.data, m.claimed ? m.claimed : m.header.size());
  EXPECT_HONE_ERROR(SafetensorsFile::open(p), InputError, m.expected);
  try {
    SafetensorsFile::open(p);
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find("bad.safetensors"), std::string::npos) << "message must name the file";
  }
}

const std::string k8(8, '\0');
INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsMalformed,
    ::testing::Values(
        Malformed{"absurd_header_length", "{}", "", 1ULL << 62, "exceeds the format's limit"},
        Malformed{"header_past_eof", "{}", "", 5000, "header length 5000 runs past the end of the file"},
        Malformed{"not_json", "{\"a\": [", "", 0, "header is not valid JSON"},
        Malformed{"not_object", "[1,2]", "", 0, "header is not a JSON object"},
        Malformed{"unknown_dtype", R"({"w":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", k8, 0,
                  "tensor 'w': unknown dtype 'F12'"},
        Malformed{"offsets_out_of_range", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}})", k8, 0,
                  "tensor 'w': data_offsets [0, 800] run past the end of the data block (8 bytes)"},
        Malformed{"shape_dtype_mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", k8, 0,
                  "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"},
        Malformed{"overlap",
                  R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  k8, 0, "tensor 'b': data_offsets [4, 8] overlap the previous tensor"},
        Malformed{"gap", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", k8, 0,
                  "tensor 'a': data_offsets [4, 8] leave a gap of 4 bytes"},
        Malformed{"trailing_bytes", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", k8, 0,
                  "tensors cover 4 bytes but the data block holds 8"},
        Malformed{"negative_dim", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", k8, 0,
                  "tensor 'a': shape [-2] has a dimension that is not a non-negative integer"},
        Malformed{"huge_shape", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", k8, 0,
                  "needs more bytes than the file's data block"},
        Malformed{"missing_offsets", R"({"a":{"dtype":"F32","shape":[2]}})", k8, 0,
                  "tensor 'a': header entry lacks 'data_offsets'"},
        Malformed{"reversed_offsets", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", k8, 0,
                  "end before they begin"},
        Malformed{"bad_metadata", R"({"__metadata__":{"k":1}})", "", 0, "__metadata__ value of 'k' is not a string"},
        Malformed{"huge_dims_after_a_zero",
                  R"({"a":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", "", 0,
                  "tensor 'a': shape [0,18446744073709551615] has more than 281474976710656 elements"},
        Malformed{"nested_too_deep", R"({"a":{"dtype":"F32","shape":[[[1]]],"data_offsets":[0,4]}})", "", 0,
                  "header nests deeper than a safetensors header (3 levels)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Safetensors, FileShorterThanItsLengthField) {
  TempDir dir;
  test::write_bytes(dir / "short.safetensors", "abc");
  EXPECT_HONE_ERROR(SafetensorsFile::open(dir / "short.safetensors"), InputError,
                    "file is 3 bytes, too short for a safetensors header length");
}

// A header of many small values is rejected while it is parsed, before its document is built.
TEST(Safetensors, HeaderOfTooManyValuesIsRejected) {
  TempDir dir;
  std::string shape = "[";
  for (std::uint64_t i = 0; i <= kSafetensorsMaxValues; ++i) shape += i ? ",1" : "1";
  write_raw(dir / "long.safetensors", R"({"a":{"dtype":"F32","shape":)" + shape + R"(],"data_offsets":[0,4]}})",
            std::string(4, '\0'));
  EXPECT_HONE_ERROR(SafetensorsFile::open(dir / "long.safetensors"), InputError, "header holds more than 4194304 values");
}

TEST(Safetensors, IndexLargerThanAnIndexCanBeIsRejectedUnread) {
  TempDir dir;
  test::write_bytes(dir / "model.safetensors.index.json", "{}");
  fs::resize_file(dir / "model.safetensors.index.json", kSafetensorsMaxHeader + 1);  // sparse
  EXPECT_HONE_ERROR(SafetensorsCheckpoint::open(dir.path()), InputError,
                    "model.safetensors.index.json: 100000001 bytes is more than an index of shards can be");
}

// ---------------------------------------------------------------------------- the real peer

TEST(SafetensorsPeer, ReadsWhatThePythonPackageWrites) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  TempDir dir;
  auto r = test::run_python("safetensors_peer.py", {"write", (dir / "peer.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = SafetensorsFile::open(dir / "peer.safetensors");
  EXPECT_EQ(f.metadata().at("source"), "peer");
  const auto& a = f.get("a.f32");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_FLOAT_EQ(reinterpret_cast<const float*>(a.data)[11], 11.0f / 7);
  const auto& b = f.get("b.f16");
  EXPECT_EQ(b.dtype, DType::kF16);
  EXPECT_EQ(half_to_float(reinterpret_cast<const std::uint16_t*>(b.data)[0]), -2.5f);
  EXPECT_EQ(reinterpret_cast<const std::int64_t*>(f.get("c.i64").data)[2], 1LL << 40);
  EXPECT_TRUE(f.get("d.scalar").shape.empty());
}

TEST(SafetensorsPeer, PythonPackageReadsWhatHoneWrites) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  TempDir dir;
  const std::vector<float> a = {0.25f, -8.0f, 3.0f, 4.5f};
  const std::vector<std::uint16_t> b = {float_to_bf16(1.5f), float_to_bf16(-3.0f)};
  const std::vector<std::int64_t> c = {7, -9};
  write_safetensors(dir / "hone.safetensors",
                    {{"a", DType::kF32, {2, 2}, a.data(), 16}, {"b", DType::kBF16, {2}, b.data(), 4},
                     {"c", DType::kI64, {2}, c.data(), 16}},
                    {{"writer", "hone"}});
  auto r = test::run_python("safetensors_peer.py", {"check", (dir / "hone.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["__metadata__"]["writer"], "hone");
  EXPECT_EQ(j["a"]["shape"], json({2, 2}));
  EXPECT_EQ(j["a"]["values"], json({0.25, -8.0, 3.0, 4.5}));
  EXPECT_EQ(j["b"]["values"], json({1.5, -3.0}));
  EXPECT_EQ(j["c"]["dtype"], "torch.int64");
  EXPECT_EQ(j["b"]["dtype"], "torch.bfloat16");
  EXPECT_EQ(j["c"]["values"], json({7.0, -9.0}));
}

}  // namespace
}  // namespace hone
