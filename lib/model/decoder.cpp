#include "model/decoder.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/where.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/dropout.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/fused.h"
#include "model/packed_linear.h"

namespace hone {

// ---------------------------------------------------------------------------- layers

at::Tensor Linear::forward(const at::Tensor& x, bool training) const {
  at::Tensor y = packed.defined() ? packed_linear(x, packed, bias)
                                  : at::linear(x, weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt);
  if (!lora_a.defined()) return y;
  const at::Tensor& xd = training && lora_dropout > 0 ? at::dropout(x, lora_dropout, /*train=*/true) : x;
  return y + at::linear(at::linear(xd, lora_a), lora_b) * lora_scale;
}

std::vector<std::pair<std::string, Linear*>> DecoderLayer::linears() {
  return {{"self_attn.q_proj", &q_proj}, {"self_attn.k_proj", &k_proj}, {"self_attn.v_proj", &v_proj},
          {"self_attn.o_proj", &o_proj}, {"mlp.gate_proj", &gate_proj}, {"mlp.up_proj", &up_proj},
          {"mlp.down_proj", &down_proj}};
}

std::vector<std::pair<std::string, const Linear*>> DecoderLayer::linears() const {
  std::vector<std::pair<std::string, const Linear*>> out;
  for (const auto& [name, lin] : const_cast<DecoderLayer*>(this)->linears()) out.emplace_back(name, lin);
  return out;
}

namespace {

// rotate_half(x) = cat(-x2, x1) over the last dimension's halves.
at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

// x [B, heads, T, d], cos/sin [B, 1, T, d]
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

}  // namespace

at::Tensor rope_inv_freq(const ModelConfig& c, const at::Tensor& freq_factors) {
  const std::int64_t dim = c.head_dim;
  // 1 / theta^(2i/d), computed as transformers does: int64 arange cast to float32.
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim));
  if (freq_factors.defined()) return inv / freq_factors.to(inv.device(), at::kFloat);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") return inv / s.factor;
  if (s.type == "llama3") {  // _compute_llama3_parameters
    const double old_len = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
    at::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    at::Tensor medium = (wavelen < high_wavelen).logical_not() & (wavelen > low_wavelen).logical_not();
    return at::where(medium, smoothed, scaled);
  }
  return inv;
}

// ---------------------------------------------------------------------------- decoder

Decoder::Decoder(ModelWeights w) : config_(std::move(w.config)) {
  auto take = [&](const std::string& name) {
    auto it = w.tensors.find(name);
    HONE_CHECK(it != w.tensors.end(), InputError, "{}: missing tensor '{}'", w.source.string(), name);
    return it->second;
  };
  auto linear = [&](const std::string& prefix, bool bias) {
    Linear lin;
    lin.weight = take(prefix + ".weight");
    if (bias) lin.bias = take(prefix + ".bias");
    return lin;
  };
  embed_ = take("model.embed_tokens.weight");
  final_norm_ = take("model.norm.weight");
  lm_head_ = config_.tie_word_embeddings ? embed_ : take("lm_head.weight");
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    DecoderLayer layer;
    layer.input_norm = take(p + "input_layernorm.weight");
    layer.q_proj = linear(p + "self_attn.q_proj", config_.attention_bias);
    layer.k_proj = linear(p + "self_attn.k_proj", config_.attention_bias);
    layer.v_proj = linear(p + "self_attn.v_proj", config_.attention_bias);
    layer.o_proj = linear(p + "self_attn.o_proj", false);
    layer.post_attn_norm = take(p + "post_attention_layernorm.weight");
    layer.gate_proj = linear(p + "mlp.gate_proj", false);
    layer.up_proj = linear(p + "mlp.up_proj", false);
    layer.down_proj = linear(p + "mlp.down_proj", false);
    layers_.push_back(std::move(layer));
  }
  inv_freq_ = rope_inv_freq(config_, w.rope_freq_factors).to(embed_.device());
}

std::map<std::string, at::Tensor> Decoder::named_weights() const {
  HONE_CHECK(!packed(), UsageError, "the decoder's weights were packed for inference; it has no dense weights to name");
  std::map<std::string, at::Tensor> out;
  out["model.embed_tokens.weight"] = embed_;
  out["model.norm.weight"] = final_norm_;
  if (!config_.tie_word_embeddings) out["lm_head.weight"] = lm_head_;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    const DecoderLayer& L = layers_[l];
    out[p + "input_layernorm.weight"] = L.input_norm;
    out[p + "post_attention_layernorm.weight"] = L.post_attn_norm;
    for (const auto& [name, lin] : L.linears()) {
      out[p + name + ".weight"] = lin->weight;
      if (lin->bias.defined()) out[p + name + ".bias"] = lin->bias;
    }
  }
  return out;
}

at::Tensor Decoder::attention(const DecoderLayer& L, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& mask, bool causal, KVCache* cache, int layer_index) const {
  const std::int64_t B = x.size(0), T = x.size(1), hd = config_.head_dim;
  const std::int64_t nh = config_.num_attention_heads, nkv = config_.num_key_value_heads;
  // [B, T, heads * hd] -> [B, heads, T, hd]
  at::Tensor q = L.q_proj.forward(x, training_).view({B, T, nh, hd}).transpose(1, 2);
  at::Tensor k = L.k_proj.forward(x, training_).view({B, T, nkv, hd}).transpose(1, 2);
  at::Tensor v = L.v_proj.forward(x, training_).view({B, T, nkv, hd}).transpose(1, 2);
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  if (cache != nullptr) std::tie(k, v) = cache->append(layer_index, k, v);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  at::Tensor out;  // [B, nh, T, hd]
  if (attention_impl_ == AttentionImpl::kSdpa) {
    out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
                                           /*dropout_p=*/0.0, /*is_causal=*/causal, scale, /*enable_gqa=*/nh != nkv);
  } else {
    // Reference: every query head group shares its key/value head (grouped-query attention).
    const std::int64_t rep = nh / nkv;
    at::Tensor kr = k.repeat_interleave(rep, 1), vr = v.repeat_interleave(rep, 1);
    at::Tensor scores = at::matmul(q, kr.transpose(-1, -2)) * scale;  // [B, nh, T, S]
    at::Tensor allowed = mask;
    if (causal) allowed = at::ones({T, k.size(2)}, q.options().dtype(at::kBool)).tril();
    if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -INFINITY);
    out = at::matmul(at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type()), vr);
  }
  return L.o_proj.forward(out.transpose(1, 2).reshape({B, T, nh * hd}), training_);
}

at::Tensor Decoder::layer_forward(const DecoderLayer& L, const at::Tensor& x_in, const at::Tensor& cos,
                                  const at::Tensor& sin, const at::Tensor& mask, bool causal, KVCache* cache,
                                  int layer_index) const {
  at::Tensor x = x_in + attention(L, rms_norm(x_in, L.input_norm, config_.rms_norm_eps), cos, sin, mask, causal, cache,
                                  layer_index);
  at::Tensor h = rms_norm(x, L.post_attn_norm, config_.rms_norm_eps);
  return x + L.down_proj.forward(swiglu(L.gate_proj.forward(h, training_), L.up_proj.forward(h, training_)), training_);
}

at::Tensor Decoder::forward_hidden(const ForwardInput& in) const {
  HONE_CHECK(in.input_ids.dim() == 2, UsageError, "input_ids must be [batch, time], got {} dimensions",
             in.input_ids.dim());
  const std::int64_t B = in.input_ids.size(0), T = in.input_ids.size(1);
  const std::int64_t past = in.cache ? in.cache->length() : 0, S = past + T;
  if (in.cache) {
    HONE_CHECK(S <= in.cache->capacity(), UsageError, "KV cache of {} positions cannot hold {}", in.cache->capacity(), S);
    HONE_CHECK(!in.document_ids.defined(), UsageError, "packed documents cannot be used with a KV cache");
  }
  const auto dev = embed_.device();
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(dev);

  at::Tensor pos = in.position_ids.defined() ? in.position_ids.to(dev)
                                             : at::arange(past, S, long_opts).unsqueeze(0).expand({B, T});
  // cos/sin [B, 1, T, hd]: freqs = pos * inv_freq, duplicated over the two halves.
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq_;
  at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
  at::Tensor cos = emb.cos().to(dtype()), sin = emb.sin().to(dtype());

  // The mask: is_causal alone when it says everything; an explicit boolean mask [B|1, 1, T, S]
  // (true = attend) for cached steps, packed documents, padding or a sliding window.
  const bool window = config_.sliding_window.has_value() && S > *config_.sliding_window;
  at::Tensor mask;
  bool causal = false;
  if (in.attention_mask.defined()) {
    HONE_CHECK(in.attention_mask.dim() == 3 && in.attention_mask.size(1) == T && in.attention_mask.size(2) == S,
               UsageError, "attention_mask must be [B, {}, {}]", T, S);
    mask = in.attention_mask.to(dev, at::kBool).unsqueeze(1);  // [B, 1, T, S]
  } else if (!in.document_ids.defined() && !in.key_mask.defined() && !window && past == 0) {
    causal = T > 1;
  } else if (!in.document_ids.defined() && !in.key_mask.defined() && !window && T == 1) {
    // one new token attends to everything cached: no mask
  } else {
    at::Tensor qpos = at::arange(past, S, long_opts).unsqueeze(1), kpos = at::arange(0, S, long_opts).unsqueeze(0);
    mask = (kpos <= qpos);  // [T, S]
    if (window) mask = mask & (kpos > qpos - *config_.sliding_window);
    mask = mask.unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
    if (in.document_ids.defined()) {
      at::Tensor d = in.document_ids.to(dev);
      mask = mask & (d.unsqueeze(2) == d.unsqueeze(1)).unsqueeze(1);  // [B, 1, T, T]
    }
    if (in.key_mask.defined()) mask = mask & in.key_mask.to(dev, at::kBool).view({B, 1, 1, S});
  }

  at::Tensor x = at::embedding(embed_, in.input_ids.to(dev));  // [B, T, hidden]
  const bool checkpoint = in.checkpoint_layers && at::GradMode::is_enabled() && in.cache == nullptr;
  // With a frozen embedding, the layers below the lowest one holding a trainable tensor (LoRA on
  // the top layers only) run without autograd: nothing of theirs is kept for, or reached by, the
  // backward pass.
  std::size_t first_trainable = 0;
  if (at::GradMode::is_enabled() && !x.requires_grad()) {
    first_trainable = layers_.size();
    for (std::size_t l = 0; l < layers_.size() && first_trainable == layers_.size(); ++l)
      if (layer_requires_grad(layers_[l])) first_trainable = l;
  }
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayer* L = &layers_[l];
    if (l < first_trainable) {
      at::NoGradGuard frozen;
      x = layer_forward(*L, x, cos, sin, mask, causal, in.cache, static_cast<int>(l));
      if (in.layer_outputs) in.layer_outputs->push_back(x);
      continue;
    }
    // The checkpointed segments must be reached by the backward pass even when the embedding is
    // frozen: their input then becomes a (detached) leaf that asks for its gradient.
    if (checkpoint && !x.requires_grad()) x = x.detach().requires_grad_(true);
    if (checkpoint) {
      const int li = static_cast<int>(l);
      x = checkpoint_segment(
          [this, L, cos, sin, mask, causal, li](const at::Tensor& h) {
            return layer_forward(*L, h, cos, sin, mask, causal, nullptr, li);
          },
          x);
    } else {
      x = layer_forward(*L, x, cos, sin, mask, causal, in.cache, static_cast<int>(l));
    }
    if (in.layer_outputs) in.layer_outputs->push_back(x);
  }
  if (in.cache) in.cache->commit(T);
  return rms_norm(x, final_norm_, config_.rms_norm_eps);
}

bool layer_requires_grad(const DecoderLayer& L) {
  if (L.input_norm.requires_grad() || L.post_attn_norm.requires_grad()) return true;
  for (const auto& [path, lin] : L.linears())
    for (const at::Tensor* t : {&lin->weight, &lin->bias, &lin->lora_a, &lin->lora_b})
      if (t->defined() && t->requires_grad()) return true;
  return false;
}

at::Tensor Decoder::logits(const at::Tensor& hidden) const {
  return lm_head_packed_.defined() ? packed_linear(hidden, lm_head_packed_, at::Tensor()) : at::linear(hidden, lm_head_);
}

bool Decoder::pack_for_cpu_inference() {
  if (packed()) return true;
  if (!can_pack_linear(lm_head_)) return false;
  for (const DecoderLayer& L : layers_)
    for (const auto& [name, lin] : L.linears())
      if (!can_pack_linear(lin->weight)) return false;
  for (DecoderLayer& L : layers_)
    for (auto& [name, lin] : L.linears()) {
      lin->packed = pack_linear_weight(lin->weight);
      lin->weight = at::Tensor();
    }
  // lm_head_ itself is kept dense beside its packed copy: when tied it is the embedding, which is looked up.
  lm_head_packed_ = pack_linear_weight(lm_head_);
  return true;
}

// ---------------------------------------------------------------------------- KV cache

KVCache::KVCache(const ModelConfig& c, std::int64_t batch, std::int64_t max_len, c10::Device device,
                 c10::ScalarType dtype)
    : capacity_(max_len) {
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    k_.push_back(at::empty({batch, c.num_key_value_heads, max_len, c.head_dim}, opts));
    v_.push_back(at::empty({batch, c.num_key_value_heads, max_len, c.head_dim}, opts));
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int layer, const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t T = k.size(2);
  k_[layer].narrow(2, length_, T).copy_(k);
  v_[layer].narrow(2, length_, T).copy_(v);
  return {k_[layer].narrow(2, 0, length_ + T), v_[layer].narrow(2, 0, length_ + T)};
}

void KVCache::commit(std::int64_t steps) { length_ += steps; }

void KVCache::keep_rows(const std::vector<std::int64_t>& rows) {
  if (k_.empty()) return;
  const at::Tensor index = at::tensor(rows, at::kLong).to(k_[0].device());
  for (std::size_t l = 0; l < k_.size(); ++l) {
    k_[l] = k_[l].index_select(0, index);
    v_[l] = v_[l].index_select(0, index);
  }
}

void KVCache::grow(std::int64_t capacity) {
  if (capacity <= capacity_) return;
  for (std::size_t l = 0; l < k_.size(); ++l)
    for (at::Tensor* t : {&k_[l], &v_[l]}) {
      at::Tensor bigger = at::empty({t->size(0), t->size(1), capacity, t->size(3)}, t->options());
      bigger.narrow(2, 0, length_).copy_(t->narrow(2, 0, length_));
      *t = bigger;
    }
  capacity_ = capacity;
}

Decoder load_decoder(const fs::path& path, const LoadOptions& options) {
  return Decoder(load_model_weights(path, options));
}

}  // namespace hone
