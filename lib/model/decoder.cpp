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
#include <ATen/ops/gelu.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/family.h"
#include "model/fused.h"
#include "model/names.h"
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
  if (fused)
    return {{"self_attn.qkv_proj", &qkv_proj}, {"self_attn.o_proj", &o_proj}, {"mlp.gate_up_proj", &gate_up_proj},
            {"mlp.down_proj", &down_proj}};
  return {{"self_attn.q_proj", &q_proj}, {"self_attn.k_proj", &k_proj}, {"self_attn.v_proj", &v_proj},
          {"self_attn.o_proj", &o_proj}, {"mlp.gate_proj", &gate_proj}, {"mlp.up_proj", &up_proj},
          {"mlp.down_proj", &down_proj}};
}

at::Tensor& DecoderLayer::norm(NormRole role) {
  switch (role) {
    case NormRole::kAttnIn: return input_norm;
    case NormRole::kAttnOut: return attn_out_norm;
    case NormRole::kMlpIn: return mlp_norm;
    case NormRole::kMlpOut: return mlp_out_norm;
    case NormRole::kQ: return q_norm;
    case NormRole::kK: return k_norm;
  }
  HONE_THROW(RuntimeError, "unknown norm role");
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

// x [B, heads, T, d], cos/sin [B, 1, T, r]: the first r channels rotate, the others pass (partial rotary).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t r = cos.size(-1);
  if (r == x.size(-1)) return x * cos + rotate_half(x) * sin;
  const at::Tensor rot = x.narrow(-1, 0, r);
  return at::cat({rot * cos + rotate_half(rot) * sin, x.narrow(-1, r, x.size(-1) - r)}, -1);
}

}  // namespace

at::Tensor rope_inv_freq(const ModelConfig& c, const at::Tensor& freq_factors, bool long_context) {
  const std::int64_t dim = c.rotary_dim();
  // 1 / theta^(2i/d), computed as transformers does: int64 arange cast to float32.
  const at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "longrope" && !freq_factors.defined()) {  // _compute_longrope_parameters: 1 / (ext * base^e)
    const std::vector<double>& f = long_context ? s.long_factor : s.short_factor;
    const at::Tensor ext = at::tensor(std::vector<float>(f.begin(), f.end()), at::kFloat);
    return 1.0 / (ext * at::pow(c.rope_theta, exponent));
  }
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, exponent);
  if (freq_factors.defined()) return inv / freq_factors.to(inv.device(), at::kFloat);
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

Decoder::Decoder(ModelWeights w) : config_(std::move(w.config)), traits_(&family_traits(config_.family).decoder) {
  auto take = [&](const std::string& name) {
    auto it = w.tensors.find(name);
    HONE_CHECK(it != w.tensors.end(), InputError, "{}: missing tensor '{}'", w.source.string(), name);
    return it->second;
  };
  embed_ = take("model.embed_tokens.weight");
  final_norm_ = take("model.norm.weight");
  lm_head_ = config_.tie_word_embeddings ? embed_ : take("lm_head.weight");
  const std::vector<LayerLinear> specs = layer_linears(config_);
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    DecoderLayer layer;
    layer.fused = traits_->fused_projections;
    for (const LayerNormName& n : traits_->layer_norms) layer.norm(n.role) = take(fmt::format("{}{}.weight", p, n.hf));
    const auto modules = layer.linears();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      modules[i].second->weight = take(p + specs[i].hf + ".weight");
      if (specs[i].biased) modules[i].second->bias = take(p + specs[i].hf + ".bias");
    }
    layers_.push_back(std::move(layer));
  }
  inv_freq_ = rope_inv_freq(config_, w.rope_freq_factors).to(embed_.device());
  if (config_.rope_scaling.type == "longrope")
    inv_freq_long_ = rope_inv_freq(config_, {}, /*long_context=*/true).to(embed_.device());
  if (config_.rope_local_theta > 0) {
    ModelConfig local = config_;  // sliding layers: their own base, no scaling
    local.rope_theta = config_.rope_local_theta;
    local.rope_scaling = {};
    inv_freq_local_ = rope_inv_freq(local).to(embed_.device());
  }
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
    for (const LayerNormName& n : traits_->layer_norms) out[fmt::format("{}{}.weight", p, n.hf)] = L.norm(n.role);
    for (const auto& [name, lin] : L.linears()) {
      out[p + name + ".weight"] = lin->weight;
      if (lin->bias.defined()) out[p + name + ".bias"] = lin->bias;
    }
  }
  return out;
}

at::Tensor Decoder::norm(const at::Tensor& x, const at::Tensor& w) const {
  if (!traits_->norm_unit_offset) return rms_norm(x, w, config_.rms_norm_eps);
  // Gemma3RMSNorm: (x / rms(x)) * (1 + w), all in float32, then cast back.
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + config_.rms_norm_eps);
  return (normed * (w.to(at::kFloat) + 1.0)).to(x.scalar_type());
}

at::Tensor Decoder::attention(const DecoderLayer& L, const at::Tensor& x, const AttentionInputs& a, KVCache* cache,
                              int layer_index) const {
  const std::int64_t B = x.size(0), T = x.size(1), hd = config_.head_dim;
  const std::int64_t nh = config_.num_attention_heads, nkv = config_.num_key_value_heads;
  // [B, T, heads * hd] -> [B, T, heads, hd] (per-head norms) -> [B, heads, T, hd]
  at::Tensor q, k, v;
  if (L.fused) {
    const at::Tensor qkv = L.qkv_proj.forward(x, training_);
    q = qkv.narrow(-1, 0, nh * hd);
    k = qkv.narrow(-1, nh * hd, nkv * hd);
    v = qkv.narrow(-1, (nh + nkv) * hd, nkv * hd);
  } else {
    q = L.q_proj.forward(x, training_);
    k = L.k_proj.forward(x, training_);
    v = L.v_proj.forward(x, training_);
  }
  q = q.view({B, T, nh, hd});
  k = k.view({B, T, nkv, hd});
  if (L.q_norm.defined()) q = norm(q, L.q_norm);
  if (L.k_norm.defined()) k = norm(k, L.k_norm);
  q = apply_rope(q.transpose(1, 2), a.cos, a.sin);
  k = apply_rope(k.transpose(1, 2), a.cos, a.sin);
  v = v.view({B, T, nkv, hd}).transpose(1, 2);
  if (cache != nullptr) std::tie(k, v) = cache->append(layer_index, k, v);
  const double scale = config_.query_pre_attn_scalar > 0 ? std::pow(config_.query_pre_attn_scalar, -0.5)
                                                         : 1.0 / std::sqrt(static_cast<double>(hd));

  at::Tensor out;  // [B, nh, T, hd]
  if (attention_impl_ == AttentionImpl::kSdpa) {
    out = at::scaled_dot_product_attention(q, k, v, a.mask.defined() ? std::optional<at::Tensor>(a.mask) : std::nullopt,
                                           /*dropout_p=*/0.0, /*is_causal=*/a.causal, scale, /*enable_gqa=*/nh != nkv);
  } else {
    // Reference: every query head group shares its key/value head (grouped-query attention).
    const std::int64_t rep = nh / nkv;
    at::Tensor kr = k.repeat_interleave(rep, 1), vr = v.repeat_interleave(rep, 1);
    at::Tensor scores = at::matmul(q, kr.transpose(-1, -2)) * scale;  // [B, nh, T, S]
    at::Tensor allowed = a.mask;
    if (a.causal) allowed = at::ones({T, k.size(2)}, q.options().dtype(at::kBool)).tril();
    if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -INFINITY);
    out = at::matmul(at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type()), vr);
  }
  return L.o_proj.forward(out.transpose(1, 2).reshape({B, T, nh * hd}), training_);
}

at::Tensor Decoder::mlp(const DecoderLayer& L, const at::Tensor& h) const {
  at::Tensor gate, up;
  if (L.fused) {
    const at::Tensor gu = L.gate_up_proj.forward(h, training_);
    const std::int64_t ff = config_.intermediate_size;
    gate = gu.narrow(-1, 0, ff);
    up = gu.narrow(-1, ff, ff);
  } else {
    gate = L.gate_proj.forward(h, training_);
    up = L.up_proj.forward(h, training_);
  }
  const at::Tensor act = traits_->mlp_activation == MlpActivation::kGeluTanh ? at::gelu(gate, "tanh") * up : swiglu(gate, up);
  return L.down_proj.forward(act, training_);
}

at::Tensor Decoder::layer_forward(const DecoderLayer& L, const at::Tensor& x_in, const AttentionInputs& a,
                                  KVCache* cache, int layer_index) const {
  at::Tensor attn = attention(L, norm(x_in, L.input_norm), a, cache, layer_index);
  if (L.attn_out_norm.defined()) attn = norm(attn, L.attn_out_norm);
  const at::Tensor x = x_in + attn;
  at::Tensor m = mlp(L, norm(x, L.mlp_norm));
  if (L.mlp_out_norm.defined()) m = norm(m, L.mlp_out_norm);
  return x + m;
}

namespace {

// The boolean mask [B|1, 1, T, S] (true = attend) of one pass, or none where is_causal (or
// nothing, for one new token over a cache) says everything. `window` > 0 limits each query to the
// last `window` positions. An explicit in.attention_mask replaces the causal, document, padding and
// window masks (tree-shaped scoring over a short prompt).
AttentionInputs attention_mask(const ForwardInput& in, std::int64_t past, std::int64_t window, c10::Device dev) {
  const std::int64_t B = in.input_ids.size(0), T = in.input_ids.size(1), S = past + T;
  const bool slides = window > 0 && S > window;
  AttentionInputs a;
  if (in.attention_mask.defined()) {
    HONE_CHECK(in.attention_mask.dim() == 3 && in.attention_mask.size(1) == T && in.attention_mask.size(2) == S,
               UsageError, "attention_mask must be [B, {}, {}]", T, S);
    a.mask = in.attention_mask.to(dev, at::kBool).unsqueeze(1);  // [B, 1, T, S]
    return a;
  }
  const bool plain = !in.document_ids.defined() && !in.key_mask.defined() && !slides;
  if (plain && past == 0) {
    a.causal = T > 1;
    return a;
  }
  if (plain && T == 1) return a;  // one new token attends to everything cached
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(dev);
  at::Tensor qpos = at::arange(past, S, long_opts).unsqueeze(1), kpos = at::arange(0, S, long_opts).unsqueeze(0);
  at::Tensor mask = (kpos <= qpos);  // [T, S]
  if (slides) mask = mask & (kpos > qpos - window);
  mask = mask.unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
  if (in.document_ids.defined()) {
    at::Tensor d = in.document_ids.to(dev);
    mask = mask & (d.unsqueeze(2) == d.unsqueeze(1)).unsqueeze(1);  // [B, 1, T, T]
  }
  if (in.key_mask.defined()) mask = mask & in.key_mask.to(dev, at::kBool).view({B, 1, 1, S});
  a.mask = mask;
  return a;
}

// cos/sin [B, 1, T, rotary_dim] of positions `pos` [B, T]: freqs = pos * inv_freq, duplicated over
// the halves, times the attention factor (longrope) in float32 before the cast.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& pos, const at::Tensor& inv_freq, c10::ScalarType dtype,
                                               double attention_factor = 1.0) {
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq;
  at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
  if (attention_factor == 1.0) return {emb.cos().to(dtype), emb.sin().to(dtype)};
  return {(emb.cos() * attention_factor).to(dtype), (emb.sin() * attention_factor).to(dtype)};
}

}  // namespace

std::pair<AttentionInputs, AttentionInputs> Decoder::attention_inputs(const ForwardInput& in, std::int64_t past) const {
  const std::int64_t B = in.input_ids.size(0), T = in.input_ids.size(1);
  const auto dev = embed_.device();
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(dev);
  at::Tensor pos = in.position_ids.defined() ? in.position_ids.to(dev)
                                             : at::arange(past, past + T, long_opts).unsqueeze(0).expand({B, T});
  AttentionInputs global = attention_mask(in, past, 0, dev);
  // longrope: the long factors for a pass whose positions reach past the original context (as
  // transformers decides per forward call).
  const at::Tensor* inv_freq = &inv_freq_;
  if (inv_freq_long_.defined()) {
    const std::int64_t last = in.position_ids.defined() ? pos.max().item<std::int64_t>() : past + T - 1;
    if (last + 1 > config_.rope_scaling.original_max_position_embeddings) inv_freq = &inv_freq_long_;
  }
  std::tie(global.cos, global.sin) = rope_cos_sin(pos, *inv_freq, dtype(), config_.rope_attention_factor());
  if (!config_.sliding_window) return {global, global};
  // Sliding layers: the global mask too while the window covers every position.
  const std::int64_t window = *config_.sliding_window;
  AttentionInputs local = past + T > window ? attention_mask(in, past, window, dev) : global;
  local.cos = global.cos;
  local.sin = global.sin;
  if (inv_freq_local_.defined()) std::tie(local.cos, local.sin) = rope_cos_sin(pos, inv_freq_local_, dtype());
  return {global, local};
}

at::Tensor Decoder::forward_hidden(const ForwardInput& in) const {
  HONE_CHECK(in.input_ids.dim() == 2, UsageError, "input_ids must be [batch, time], got {} dimensions",
             in.input_ids.dim());
  const std::int64_t T = in.input_ids.size(1);
  const std::int64_t past = in.cache ? in.cache->length() : 0, S = past + T;
  if (in.cache) {
    HONE_CHECK(S <= in.cache->capacity(), UsageError, "KV cache of {} positions cannot hold {}", in.cache->capacity(), S);
    HONE_CHECK(!in.document_ids.defined(), UsageError, "packed documents cannot be used with a KV cache");
  }
  const auto [global, local] = attention_inputs(in, past);

  at::Tensor x = at::embedding(embed_, in.input_ids.to(embed_.device()));  // [B, T, hidden]
  if (traits_->embed_scaled)  // sqrt(hidden) rounded to the weights' dtype, as Gemma3TextScaledWordEmbedding
    x = x * at::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), x.options().dtype(at::kFloat))
                .to(x.scalar_type());
  if (in.embedding_output) *in.embedding_output = x;
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
    const AttentionInputs& a = config_.layer_slides(static_cast<std::int64_t>(l)) ? local : global;
    const int li = static_cast<int>(l);
    if (l < first_trainable) {
      at::NoGradGuard frozen;
      x = layer_forward(*L, x, a, in.cache, li);
      if (in.layer_outputs) in.layer_outputs->push_back(x);
      continue;
    }
    // The checkpointed segments must be reached by the backward pass even when the embedding is
    // frozen: their input then becomes a (detached) leaf that asks for its gradient.
    if (checkpoint && !x.requires_grad()) x = x.detach().requires_grad_(true);
    if (checkpoint) {
      x = checkpoint_segment([this, L, a, li](const at::Tensor& h) { return layer_forward(*L, h, a, nullptr, li); }, x);
    } else {
      x = layer_forward(*L, x, a, in.cache, li);
    }
    if (in.layer_outputs) in.layer_outputs->push_back(x);
  }
  if (in.cache) in.cache->commit(T);
  return norm(x, final_norm_);
}

bool layer_requires_grad(const DecoderLayer& L) {
  for (const at::Tensor* t : {&L.input_norm, &L.attn_out_norm, &L.mlp_norm, &L.mlp_out_norm, &L.q_norm, &L.k_norm})
    if (t->defined() && t->requires_grad()) return true;
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
