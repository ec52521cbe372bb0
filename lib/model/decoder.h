// The decoder-only transformer shared by every family (family.h):
//   x = embed(ids)                                   (gemma3: * sqrt(hidden))
//   per layer:  a = attention(rope(qn(q_proj(rms(x)))), rope(kn(k_proj(rms(x)))), v_proj(rms(x)))
//               x += [rms](o_proj(a))                (gemma3 normalises the attention output)
//               x += [rms](down_proj(act(gate_proj(rms(x))) * up_proj(rms(x))))
//   logits = lm_head(rms(x))                         (lm_head = embed_tokens when tied)
// qn/kn are per-head RMSNorms (qwen3, gemma3), act is SiLU or GELU-tanh (gemma3), rms scales by w
// or by (1 + w) (gemma3), and phi3 computes q/k/v and gate/up each with one fused projection: the
// family's DecoderTraits. ModelConfig records the rest: q/k/v biases (qwen2), rope scaling
// (llama3, longrope) and partial rotary (phi3), sliding windows on all (mistral, phi3) or on some
// layers with their own RoPE base (gemma3), the query scale, tied or separate output head.
// The model knows nothing about training: it is a function of its weights and its inputs.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/loader.h"

namespace hone {

class KVCache;

enum class AttentionImpl {
  kSdpa,       // at::scaled_dot_product_attention (flash / memory-efficient kernels)
  kReference,  // explicit softmax(q k^T / sqrt(d) + mask) v, kept to test the fast path against
};

// y = x W^T + b, plus a LoRA branch when lora_a is defined (as HF PEFT's lora.Linear computes it):
//   y += lora_scale * ((dropout(x) A^T) B^T)
// Dropout is applied only in training mode (Decoder::set_training).
struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor lora_a;  // [r, in] or undefined
  at::Tensor lora_b;  // [out, r]
  at::Tensor packed;  // weight in oneDNN's layout after Decoder::pack_for_cpu_inference (weight then undefined)
  double lora_scale = 0.0;
  double lora_dropout = 0.0;
  at::Tensor forward(const at::Tensor& x, bool training = false) const;
};

struct DecoderLayer {
  at::Tensor input_norm;      // [hidden] before attention
  at::Tensor q_norm, k_norm;  // [head_dim] per-head query/key norms (qwen3, gemma3), or undefined
  Linear q_proj, k_proj, v_proj, o_proj;
  Linear qkv_proj;            // [q; k; v] rows in one projection instead of q/k/v_proj (fused)
  at::Tensor attn_out_norm;   // [hidden] on the attention output (gemma3), or undefined
  at::Tensor mlp_norm;        // [hidden] before the MLP
  Linear gate_proj, up_proj, down_proj;
  Linear gate_up_proj;        // [gate; up] rows in one projection instead of gate/up_proj (fused)
  at::Tensor mlp_out_norm;    // [hidden] on the MLP output (gemma3), or undefined
  bool fused = false;         // the family's fused_projections: qkv_proj and gate_up_proj are used

  // The norm of this role (the member above, defined or not).
  at::Tensor& norm(NormRole role);
  const at::Tensor& norm(NormRole role) const { return const_cast<DecoderLayer*>(this)->norm(role); }

  // The linear modules in use under their HF/PEFT paths inside the layer, in the order of
  // layer_linears (names.h): "self_attn.q_proj", ..., "mlp.down_proj", or the four fused ones.
  std::vector<std::pair<std::string, Linear*>> linears();
  std::vector<std::pair<std::string, const Linear*>> linears() const;
};

struct DecoderTraits;
// Per-layer attention inputs: rotary cos/sin [B, 1, T, hd] and the mask (see forward_hidden).
struct AttentionInputs {
  at::Tensor cos, sin;
  at::Tensor mask;      // [B|1, 1, T, S] bool (true = attend), or undefined
  bool causal = false;  // is_causal alone says everything
};

// Whether any of the layer's tensors (norms, weights, biases, LoRA factors) requires grad.
bool layer_requires_grad(const DecoderLayer& L);

// Inputs of one forward pass. Only input_ids is required.
struct ForwardInput {
  at::Tensor input_ids;     // [B, T] int64
  at::Tensor position_ids;  // [B, T] int64; default: past length + arange(T)
  // [B, T] int64: packed sequences; a token attends only to earlier tokens of the same document.
  at::Tensor document_ids;
  // [B, past + T] bool: false marks padding keys (left-padded batches); default: all valid.
  at::Tensor key_mask;
  // [B, T, past + T] bool: an explicit attention pattern (true = attend) that replaces the causal,
  // document and key masks (tree-shaped scoring of many continuations of one prompt).
  at::Tensor attention_mask;
  KVCache* cache = nullptr;  // appends this step's keys/values and attends over the cached ones
  // Activation checkpointing: keep only each layer's input and recompute the layer in the
  // backward pass (used when gradients are recorded; replays the layer's dropout masks).
  bool checkpoint_layers = false;
  // When set, receives each layer's output [B, T, hidden] in layer order: the residual stream
  // before the final norm (differentiable when gradients are recorded; distillation matches a
  // student's layers to its teacher's with it).
  std::vector<at::Tensor>* layer_outputs = nullptr;
  // When set, receives the embedding output [B, T, hidden]: the input of layer 0 (scaled as the
  // family scales it), so that with layer_outputs every layer's input and output are known.
  at::Tensor* embedding_output = nullptr;
};

class Decoder {
 public:
  Decoder(ModelWeights weights);

  const ModelConfig& config() const { return config_; }
  // [B, T] ids -> [B, T, hidden] final-normed hidden states.
  at::Tensor forward_hidden(const ForwardInput& in) const;
  // [..., hidden] -> [..., vocab] logits (float32 when the weights are).
  at::Tensor logits(const at::Tensor& hidden) const;
  at::Tensor forward(const ForwardInput& in) const { return logits(forward_hidden(in)); }

  // longrope: a pass whose positions reach past this length rotates with the long factors, so
  // keys cached before it no longer fit (generation re-encodes there, as transformers does);
  // 0 when the rotation does not depend on the length.
  std::int64_t rope_switch_length() const {
    return inv_freq_long_.defined() ? config_.rope_scaling.original_max_position_embeddings : 0;
  }

  void set_attention_impl(AttentionImpl impl) { attention_impl_ = impl; }
  // Training mode turns on the LoRA dropout.
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  // The output head [vocab, hidden] (the embedding when tied).
  const at::Tensor& lm_head() const { return lm_head_; }
  at::Tensor& mutable_lm_head() { return lm_head_; }
  at::Tensor& mutable_embed_tokens() { return embed_; }
  at::Tensor& mutable_final_norm() { return final_norm_; }
  std::vector<DecoderLayer>& layers() { return layers_; }
  const std::vector<DecoderLayer>& layers() const { return layers_; }
  const at::Tensor& embed_tokens() const { return embed_; }
  // Every weight under its canonical name (views of the decoder's own tensors).
  std::map<std::string, at::Tensor> named_weights() const;
  c10::Device device() const { return embed_.device(); }
  c10::ScalarType dtype() const { return embed_.scalar_type(); }

  // For inference on the CPU in float32: moves every linear layer's weight, and the output head,
  // into oneDNN's blocked layout (model/packed_linear.h), which small passes multiply faster.
  // Afterwards the decoder only runs forward passes: the layers' dense weights are released and
  // named_weights() refuses. Returns false, and changes nothing, where it cannot (another device
  // or dtype, weights that require grad, a libtorch without oneDNN).
  bool pack_for_cpu_inference();
  bool packed() const { return lm_head_packed_.defined(); }

 private:
  at::Tensor attention(const DecoderLayer& layer, const at::Tensor& x, const AttentionInputs& a, KVCache* cache,
                       int layer_index) const;
  at::Tensor layer_forward(const DecoderLayer& layer, const at::Tensor& x, const AttentionInputs& a, KVCache* cache,
                           int layer_index) const;
  at::Tensor mlp(const DecoderLayer& layer, const at::Tensor& h) const;
  // RMSNorm as the family computes it (w or 1 + w).
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight) const;
  // Global (full-attention) and local (sliding) attention inputs for one pass.
  std::pair<AttentionInputs, AttentionInputs> attention_inputs(const ForwardInput& in, std::int64_t past) const;

  ModelConfig config_;
  at::Tensor embed_;      // [vocab, hidden]
  at::Tensor final_norm_; // [hidden]
  at::Tensor lm_head_;    // [vocab, hidden] (== embed_ when tied)
  at::Tensor lm_head_packed_;  // lm_head_ in oneDNN's layout, after pack_for_cpu_inference
  at::Tensor inv_freq_;   // [rotary_dim / 2] float32 rotary frequencies, scaling applied
  at::Tensor inv_freq_long_;   // longrope's for passes beyond the original context, or undefined
  at::Tensor inv_freq_local_;  // of the sliding layers, when they have their own base (gemma3)
  const DecoderTraits* traits_;
  std::vector<DecoderLayer> layers_;
  AttentionImpl attention_impl_ = AttentionImpl::kSdpa;
  bool training_ = false;
};

// Keys and values of past positions, per layer, in preallocated buffers [B, kv_heads, max_len, head_dim].
class KVCache {
 public:
  KVCache(const ModelConfig& config, std::int64_t batch, std::int64_t max_len, c10::Device device,
          c10::ScalarType dtype);
  std::int64_t length() const { return length_; }
  std::int64_t capacity() const { return capacity_; }
  void reset() { length_ = 0; }
  // Writes this step's k/v ([B, kv_heads, T, head_dim]) after the cached ones and returns views
  // of all of them; `commit(T)` advances the length once every layer has appended.
  std::pair<at::Tensor, at::Tensor> append(int layer, const at::Tensor& k, const at::Tensor& v);
  void commit(std::int64_t steps);
  // Keeps only these batch rows, in this order (rows whose sequences are finished are dropped).
  void keep_rows(const std::vector<std::int64_t>& rows);
  // Enlarges the buffers to hold `capacity` positions (the cached ones are kept).
  void grow(std::int64_t capacity);

 private:
  std::vector<at::Tensor> k_, v_;
  std::int64_t length_ = 0;
  std::int64_t capacity_ = 0;
};

// Rotary inverse frequencies [rotary_dim / 2] for `config` (plain, linear, llama3-scaled, or
// longrope with its short factors, or its long ones when `long_context`; transformers'
// modeling_rope_utils), or base / `freq_factors` when a GGUF file supplies them.
at::Tensor rope_inv_freq(const ModelConfig& config, const at::Tensor& freq_factors = {}, bool long_context = false);

// Loads a .gguf file or an HF model directory.
Decoder load_decoder(const fs::path& path, const LoadOptions& options = {});

}  // namespace hone
