// Loads a model's configuration and weights, under their canonical names, from a GGUF file
// (dequantised) or from an HF model directory (config.json + safetensors, sharded or not).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "core/fs.h"
#include "model/config.h"

namespace hone {

struct LoadOptions {
  c10::Device device = c10::kCPU;       // where the weights live
  c10::ScalarType dtype = c10::kFloat;  // weight type: float32, or bfloat16/float16 for a frozen base
};

struct ModelWeights {
  ModelConfig config;
  std::map<std::string, at::Tensor> tensors;  // canonical (HF) names, see model/names.h
  // llama.cpp stores Llama 3.1 rope scaling as per-frequency divisors (`rope_freqs.weight`,
  // [head_dim / 2]); undefined when the file has none.
  at::Tensor rope_freq_factors;
  fs::path source;
};

// `path` is a .gguf file or an HF model directory. Every expected weight must be present with
// the shape the configuration implies; otherwise InputError names the tensor, its shape and the
// expected one.
ModelWeights load_model_weights(const fs::path& path, const LoadOptions& options = {});

// llama.cpp's converter permutes the rows of Q and K of llama-architecture models so that its
// rotary kernel can rotate adjacent pairs (convert_hf_to_gguf.py, LlamaModel.permute); hone keeps
// the HF layout. `to_gguf` applies that permutation to rows of the HF layout; otherwise it is undone.
at::Tensor gguf_qk_permute(const at::Tensor& w, std::int64_t n_head, bool to_gguf);

// True for a path hone would load as GGUF (by extension or magic bytes).
bool is_gguf_path(const fs::path& path);

}  // namespace hone
