#include "model/loader.h"

#include <ATen/TensorOperators.h>

#include "core/error.h"
#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "model/family.h"
#include "model/names.h"

namespace hone {
namespace {

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace

at::Tensor gguf_qk_permute(const at::Tensor& w, std::int64_t n_head, bool to_gguf) {
  const std::int64_t rows = w.size(0);
  std::vector<std::int64_t> shape = {n_head, to_gguf ? 2 : rows / n_head / 2, to_gguf ? rows / n_head / 2 : 2};
  for (std::int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

namespace {

ModelWeights load_gguf(const fs::path& path, const LoadOptions& o) {
  const GGUFFile g = GGUFFile::open(path);
  ModelWeights m;
  m.source = path;
  m.config = load_gguf_config(g);
  const ModelConfig& c = m.config;
  const FamilyTraits& family = family_traits(c.family);
  const bool permuted = family.gguf_qk_permuted;
  if (const GGUFValue* tokens = g.find("tokenizer.ggml.tokens"); tokens && tokens->type == GGUFType::kArray) {
    const auto n = static_cast<std::int64_t>(std::get<GGUFValue::Array>(tokens->v).items.size());
    HONE_CHECK(n <= c.vocab_size, InputError,
               "{}: the tokenizer has {} tokens but 'token_embd.weight' has only {} rows (vocab/embedding mismatch)",
               path.string(), n, c.vocab_size);
  }
  for (const WeightSpec& spec : expected_weights(c)) {
    const std::string& gname = spec.gguf_name;
    HONE_CHECK(g.has_tensor(gname), InputError, "{}: missing tensor '{}' (the model's config needs it)",
               path.string(), gname);
    const GGUFTensorInfo& info = g.tensor(gname);
    HONE_CHECK(info.shape() == spec.shape, InputError, "{}: tensor '{}' has shape {}, expected {} from the metadata",
               path.string(), gname, shape_str(info.shape()), shape_str(spec.shape));
    at::Tensor t = to_tensor_f32(g, info, o.device);
    if (permuted && spec.name.find("self_attn.q_proj") != std::string::npos) t = gguf_qk_permute(t, c.num_attention_heads, false);
    if (permuted && spec.name.find("self_attn.k_proj") != std::string::npos) t = gguf_qk_permute(t, c.num_key_value_heads, false);
    const double norm_shift = family.decoder.gguf_norm_shift;
    if (norm_shift != 0.0 && is_norm_weight(spec.name)) t = t - norm_shift;
    m.tensors[spec.name] = t.to(o.dtype);
  }
  if (g.has_tensor("rope_freqs.weight")) {
    const GGUFTensorInfo& info = g.tensor("rope_freqs.weight");
    HONE_CHECK(info.numel() == c.head_dim / 2, InputError, "{}: tensor 'rope_freqs.weight' has {} values, expected {}",
               path.string(), info.numel(), c.head_dim / 2);
    m.rope_freq_factors = to_tensor_f32(g, info, o.device);
  }
  return m;
}

ModelWeights load_hf_dir(const fs::path& dir, const LoadOptions& o) {
  ModelWeights m;
  m.source = dir;
  HONE_CHECK(fs::exists(dir / "config.json"), InputError,
             Hint{"an HF model directory holds config.json and model.safetensors (or shards with an index)"},
             "{}: no config.json", dir.string());
  m.config = load_hf_config(dir / "config.json");
  const SafetensorsCheckpoint ck = SafetensorsCheckpoint::open(dir);
  for (const WeightSpec& spec : expected_weights(m.config)) {
    HONE_CHECK(ck.contains(spec.name), InputError, "{}: missing tensor '{}' (config.json needs it)", dir.string(),
               spec.name);
    const TensorView& v = ck.get(spec.name);
    HONE_CHECK(v.shape == spec.shape, InputError, "{}: tensor '{}' has shape {}, expected {} from config.json",
               dir.string(), spec.name, shape_str(v.shape), shape_str(spec.shape));
    HONE_CHECK(v.dtype == DType::kF32 || v.dtype == DType::kF16 || v.dtype == DType::kBF16, InputError,
               "{}: tensor '{}' is {}, expected F32, F16 or BF16", dir.string(), spec.name, dtype_name(v.dtype));
    // Copy out of the mapping: the model must not keep every shard's file mapped and shared.
    m.tensors[spec.name] = to_tensor(v, ck.mapping(spec.name)).to(o.device, o.dtype, false, /*copy=*/true);
  }
  return m;
}

}  // namespace

bool is_gguf_path(const fs::path& path) { return path.extension() == ".gguf" || file_starts_with(path, "GGUF"); }

ModelWeights load_model_weights(const fs::path& path, const LoadOptions& o) {
  HONE_CHECK(fs::exists(path), InputError, "{}: no such file or directory", path.string());
  if (fs::is_directory(path)) return load_hf_dir(path, o);
  HONE_CHECK(is_gguf_path(path), InputError, Hint{"pass a .gguf file or an HF model directory"},
             "{}: not a GGUF file or a model directory", path.string());
  return load_gguf(path, o);
}

}  // namespace hone
