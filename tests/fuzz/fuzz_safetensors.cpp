// Fuzz target: one safetensors file (lib/core/safetensors.cpp): the header length, the JSON
// header, every tensor entry and the data block. Whatever the reader accepts must keep its
// promises: each tensor's bytes lie inside the file and match its shape and dtype, and every byte
// of every tensor is read (ASan catches a view past the mapping).
//
// Seeds: files written by hone's own writer (every dtype, metadata, empty shapes, zero-size
// tensors, a scalar) and an empty header.
#include <cstring>
#include <random>
#include <vector>

#include "core/safetensors.h"
#include "fuzz_target.h"

HONE_FUZZ_TARGET(safetensors) {
  const auto path = hone::fuzz::input_file(data, size, "model.safetensors");
  const hone::SafetensorsFile f = hone::SafetensorsFile::open(path);
  const auto* begin = f.mapping()->data();
  const auto* end = begin + f.mapping()->size();
  std::uint8_t checksum = 0;
  for (const hone::TensorView& t : f.tensors()) {
    HONE_FUZZ_INVARIANT(&f.get(t.name) == &t);
    std::uint64_t numel = 1;
    for (std::int64_t d : t.shape) {
      HONE_FUZZ_INVARIANT(d >= 0);
      numel *= static_cast<std::uint64_t>(d);
    }
    HONE_FUZZ_INVARIANT(numel == static_cast<std::uint64_t>(t.numel()));
    HONE_FUZZ_INVARIANT(numel * hone::dtype_size(t.dtype) == t.nbytes);
    HONE_FUZZ_INVARIANT(t.data >= begin && t.nbytes <= static_cast<std::size_t>(end - t.data));
    for (std::size_t i = 0; i < t.nbytes; ++i) checksum ^= static_cast<std::uint8_t>(t.data[i]);
  }
  for (const auto& kv : f.metadata()) checksum ^= static_cast<std::uint8_t>(kv.second.size());
  return checksum & 0;
}

HONE_FUZZ_SEEDS(safetensors) {
  std::mt19937 rng(11);
  std::vector<std::uint8_t> bytes(4096);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  const hone::DType all[] = {hone::DType::kBool, hone::DType::kU8,  hone::DType::kI8,  hone::DType::kI16,
                             hone::DType::kU16,  hone::DType::kF16, hone::DType::kBF16, hone::DType::kI32,
                             hone::DType::kU32,  hone::DType::kF32, hone::DType::kF64, hone::DType::kI64,
                             hone::DType::kU64,  hone::DType::kF8E4M3, hone::DType::kF8E5M2};
  std::vector<hone::TensorWrite> every;
  for (hone::DType d : all) {
    const std::int64_t n = 3;
    every.push_back({"t." + std::string(hone::dtype_name(d)), d, {n}, bytes.data(), n * hone::dtype_size(d)});
  }
  hone::write_safetensors(seeds.dir() / "dtypes.safetensors", every, {{"format", "pt"}, {"hone.note", "x"}});
  hone::write_safetensors(seeds.dir() / "shapes.safetensors",
                          {{"scalar", hone::DType::kF32, {}, bytes.data(), 4},
                           {"empty", hone::DType::kF16, {0, 5}, bytes.data(), 0},
                           {"model.layers.0.self_attn.q_proj.weight", hone::DType::kBF16, {4, 8}, bytes.data(), 64},
                           {"m", hone::DType::kF32, {2, 1, 3, 1}, bytes.data(), 24}});
  hone::write_safetensors(seeds.dir() / "none.safetensors", {});
}
