#include "export/export.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/gguf.h"
#include <spdlog/spdlog.h>
#include "core/safetensors.h"
#include "export/export_routing.h"
#include "model/adapter.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/family.h"
#include "model/loader.h"
#include "model/names.h"
#include "text/tokenizer.h"
#include "text/chat_template.h"
#include "text/tokenizer_export.h"

namespace hone {

using nlohmann::json;

std::string_view to_string(ExportFormat f) {
  switch (f) {
    case ExportFormat::kPeft: return "peft";
    case ExportFormat::kHf: return "hf";
    case ExportFormat::kGguf: return "gguf";
    case ExportFormat::kGgufLora: return "gguf-lora";
  }
  return "?";
}

std::string_view to_string(ExportDtype d) {
  switch (d) {
    case ExportDtype::kAuto: return "auto";
    case ExportDtype::kF32: return "f32";
    case ExportDtype::kF16: return "f16";
    case ExportDtype::kBF16: return "bf16";
    case ExportDtype::kQ8_0: return "q8_0";
  }
  return "?";
}

namespace {

ModelConfig read_config(const fs::path& model) {
  std::error_code ec;
  HONE_CHECK(fs::exists(model, ec), InputError, "{}: no such file or directory", model.string());
  if (is_gguf_path(model)) return load_gguf_config(GGUFFile::open(model));
  HONE_CHECK(fs::exists(model / "config.json"), InputError,
             Hint{"--model is a .gguf file or an HF model directory"}, "{}: no config.json", model.string());
  return load_hf_config(model / "config.json");
}

// The rows of `weight` (canonical name) as llama.cpp stores them: permuted where this family's Q/K
// are, norms shifted where its norms are (family.h).
at::Tensor gguf_layout(const ModelConfig& c, const std::string& weight, const at::Tensor& rows) {
  const FamilyTraits& family = family_traits(c.family);
  const double norm_shift = family.decoder.gguf_norm_shift;
  if (norm_shift != 0.0 && is_norm_weight(weight)) return rows + norm_shift;
  if (!family.gguf_qk_permuted) return rows;
  if (weight.find("self_attn.q_proj.") != std::string::npos) return gguf_qk_permute(rows, c.num_attention_heads, true);
  if (weight.find("self_attn.k_proj.") != std::string::npos) return gguf_qk_permute(rows, c.num_key_value_heads, true);
  return rows;
}

struct WeightType {
  std::string name;  // f32 | f16 | bf16 | q8_0
  GGMLType ggml;
  std::uint32_t file_type;  // general.file_type (llama_ftype)
};

WeightType weight_type(const std::string& dtype) {
  if (dtype == "f32") return {"f32", GGMLType::kF32, 0};
  if (dtype == "f16") return {"f16", GGMLType::kF16, 1};
  if (dtype == "q8_0") return {"q8_0", GGMLType::kQ8_0, 7};
  if (dtype == "bf16") return {"bf16", GGMLType::kBF16, 32};
  HONE_THROW(UsageError, Hint{"--dtype is one of f32, f16, bf16, q8_0, auto"}, "unknown --dtype '{}'", dtype);
}

// The type a tensor is stored in: vectors (norms, biases) stay float32 and rows that do not fill
// whole q8_0 blocks fall back to f16, as llama.cpp's converter does.
GGMLType tensor_type(const WeightType& w, const std::vector<std::int64_t>& shape) {
  if (shape.size() < 2) return GGMLType::kF32;
  if (w.ggml == GGMLType::kQ8_0 && shape.back() % 32 != 0) return GGMLType::kF16;
  return w.ggml;
}

std::uint64_t total_bytes(const std::vector<fs::path>& files) {
  std::uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

c10::ScalarType scalar_type(const std::string& dtype) {
  if (dtype == "f16") return at::kHalf;
  if (dtype == "bf16") return at::kBFloat16;
  return at::kFloat;
}

DType file_dtype(const std::string& dtype) {
  if (dtype == "f16") return DType::kF16;
  if (dtype == "bf16") return DType::kBF16;
  return DType::kF32;
}

// The general.* keys: architecture, file type ("model" or "adapter"), name, weight type.
void set_general(GGUFWriter& w, const std::string& arch, const char* type, const fs::path& out, const WeightType& wt) {
  w.set("general.architecture", GGUFValue::str(arch));
  w.set("general.type", GGUFValue::str(type));
  w.set("general.name", GGUFValue::str(out.stem().string()));
  w.set("general.file_type", GGUFValue::u32(wt.file_type));
  if (wt.ggml == GGMLType::kQ8_0) w.set("general.quantization_version", GGUFValue::u32(2));
}

void add_arch_metadata(GGUFWriter& w, const ModelConfig& c, const std::string& arch, const std::string& src) {
  auto key = [&](const std::string& k) { return arch + "." + k; };
  auto u32 = [](std::int64_t v) { return GGUFValue::u32(static_cast<std::uint32_t>(v)); };
  w.set(key("vocab_size"), u32(c.vocab_size));
  w.set(key("context_length"), u32(c.max_position_embeddings));
  w.set(key("embedding_length"), u32(c.hidden_size));
  w.set(key("feed_forward_length"), u32(c.intermediate_size));
  w.set(key("block_count"), u32(c.num_hidden_layers));
  w.set(key("attention.head_count"), u32(c.num_attention_heads));
  w.set(key("attention.head_count_kv"), u32(c.num_key_value_heads));
  w.set(key("attention.layer_norm_rms_epsilon"), GGUFValue::f32(static_cast<float>(c.rms_norm_eps)));
  w.set(key("rope.freq_base"), GGUFValue::f32(static_cast<float>(c.rope_theta)));
  w.set(key("rope.dimension_count"), u32(c.rotary_dim()));
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {
    w.set(key("attention.key_length"), u32(c.head_dim));
    w.set(key("attention.value_length"), u32(c.head_dim));
  }
  if (c.rope_scaling.type == "linear") {
    w.set(key("rope.scaling.type"), GGUFValue::str("linear"));
    w.set(key("rope.scaling.factor"), GGUFValue::f32(static_cast<float>(c.rope_scaling.factor)));
  }
  family_traits(c.family).write_gguf_keys(c, arch, src, w);
}

// ---------------------------------------------------------------------------- formats

void export_peft(const ExportOptions& o, const LoraAdapter& adapter, const std::string& chat_template,
                 const std::string& dtype, AtomicDir& dir) {
  LoraAdapterConfig cfg = adapter.config;
  cfg.base_model = o.model.string();
  std::vector<at::Tensor> keep;
  std::vector<TensorWrite> writes;
  for (const LoraFactors& f : adapter.factors) {
    const std::string module = peft_module_name(f.weight);
    for (const auto& [suffix, t] : {std::pair{".lora_A.weight", f.a}, std::pair{".lora_B.weight", f.b}}) {
      at::Tensor c = t.to(scalar_type(dtype)).contiguous();
      keep.push_back(c);
      writes.push_back({module + suffix, file_dtype(dtype), c.sizes().vec(), c.data_ptr(), static_cast<std::size_t>(c.nbytes())});
    }
  }
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  if (!adapter.tokenizer_fingerprint.empty()) metadata[kAdapterTokenizerKey] = adapter.tokenizer_fingerprint;
  if (!chat_template.empty()) metadata[kAdapterChatTemplateKey] = chat_template;
  write_safetensors(dir.path() / "adapter_model.safetensors", writes, metadata);
  write_file_atomic(dir.path() / "adapter_config.json", peft_adapter_config_json(cfg));
  if (!chat_template.empty()) write_file_atomic(dir.path() / "chat_template.jinja", chat_template);
}

void export_hf(const ExportOptions& o, ModelWeights& m, const Tokenizer& tokenizer, const std::string& dtype,
               AtomicDir& dir) {
  ModelConfig c = m.config;
  c.torch_dtype = dtype == "f16" ? "float16" : dtype == "bf16" ? "bfloat16" : "float32";
  // One model in memory: each weight is converted in place of its float32 original.
  std::vector<TensorWrite> writes;
  for (const WeightSpec& spec : expected_weights(c)) {
    at::Tensor& t = m.tensors.at(spec.name);
    t = t.to(scalar_type(dtype)).contiguous();
    writes.push_back({spec.name, file_dtype(dtype), t.sizes().vec(), t.data_ptr(), static_cast<std::size_t>(t.nbytes())});
  }
  write_safetensors_sharded(dir.path(), writes, std::uint64_t{5} << 30, {{"format", "pt"}});
  write_file_atomic(dir.path() / "config.json", c.to_hf_json());
  json gen = json::object();
  if (c.bos_token_id) gen["bos_token_id"] = *c.bos_token_id;
  std::vector<std::int64_t> eos(c.eos_token_ids.begin(), c.eos_token_ids.end());
  for (std::int32_t id : tokenizer.stop_ids())
    if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  if (!eos.empty()) gen["eos_token_id"] = eos;
  if (c.pad_token_id) gen["pad_token_id"] = *c.pad_token_id;
  gen["transformers_version"] = "4.57.0";
  write_file_atomic(dir.path() / "generation_config.json", gen.dump(2) + "\n");
  write_hf_tokenizer_files(o.model, dir.path(), c.max_position_embeddings);
  if (!tokenizer.chat_template().empty()) write_hf_chat_template(dir.path(), tokenizer.chat_template());
}

void export_gguf(const ExportOptions& o, ModelWeights& m, const Tokenizer& tokenizer, const WeightType& wt) {
  const ModelConfig& c = m.config;
  const std::string arch(family_traits(c.family).gguf_arch);
  if (c.sliding_window && c.sliding_layers.empty())
    spdlog::warn("{}: llama.cpp's '{}' architecture has no sliding attention window; the GGUF attends to the whole context",
              o.out.string(), arch);
  GGUFWriter w;
  set_general(w, arch, "model", o.out, wt);
  add_arch_metadata(w, c, arch, o.model.string());
  for (auto& [key, value] : tokenizer_gguf_metadata(o.model)) w.set(key, std::move(value));
  if (!tokenizer.chat_template().empty()) w.set("tokenizer.chat_template", GGUFValue::str(tokenizer.chat_template()));

  c10::InferenceMode guard;
  for (const WeightSpec& spec : expected_weights(c)) {
    at::Tensor& t = m.tensors.at(spec.name);
    t = gguf_layout(c, spec.name, t.to(at::kFloat)).contiguous();  // replaces the original: one model in memory
    w.add_tensor_f32(spec.gguf_name, tensor_type(wt, spec.shape), spec.shape, t.data_ptr<float>());
  }
  at::Tensor freqs = m.rope_freq_factors;
  if (!freqs.defined() && c.rope_scaling.type == "llama3") {
    ModelConfig plain = c;
    plain.rope_scaling = {};
    freqs = (rope_inv_freq(plain) / rope_inv_freq(c)).to(at::kFloat).contiguous();
  }
  if (freqs.defined()) {
    freqs = freqs.to(at::kCPU, at::kFloat).contiguous();
    w.add_tensor_f32("rope_freqs.weight", GGMLType::kF32, {freqs.numel()}, freqs.data_ptr<float>());
  }
  w.write(o.out);
}

void export_gguf_lora(const ExportOptions& o, const ModelConfig& c, const LoraAdapter& adapter, const WeightType& wt) {
  const std::string arch(family_traits(c.family).gguf_arch);
  GGUFWriter w;
  set_general(w, arch, "adapter", o.out, wt);
  w.set("adapter.type", GGUFValue::str("lora"));
  // llama.cpp scales by alpha / r; rsLoRA's alpha / sqrt(r) is the same with alpha * sqrt(r).
  const double r = static_cast<double>(adapter.config.r);
  const double alpha = adapter.config.use_rslora ? adapter.config.alpha * std::sqrt(r) : adapter.config.alpha;
  w.set("adapter.lora.alpha", GGUFValue::f32(static_cast<float>(alpha)));
  std::vector<at::Tensor> keep;
  for (const LoraFactors& f : adapter.factors) {
    const std::string name = *hf_to_gguf_name(c, f.weight);
    // A multiplies the input, so only B's rows (the layer's outputs) follow the q/k permutation.
    at::Tensor a = f.a.contiguous(), b = gguf_layout(c, f.weight, f.b).contiguous();
    keep.push_back(a);
    keep.push_back(b);
    w.add_tensor_f32(name + ".lora_a", tensor_type(wt, a.sizes().vec()), a.sizes().vec(), a.data_ptr<float>());
    w.add_tensor_f32(name + ".lora_b", tensor_type(wt, b.sizes().vec()), b.sizes().vec(), b.data_ptr<float>());
  }
  w.write(o.out);
}

}  // namespace

ExportResult export_model(const ExportOptions& o) {
  const std::string fmt_name(to_string(o.format));
  const bool needs_adapter = o.format == ExportFormat::kPeft || o.format == ExportFormat::kGgufLora;
  HONE_CHECK(!needs_adapter || !o.adapter.empty(), UsageError, Hint{"pass the adapter directory lora-train wrote"},
             "--format {} needs --adapter", fmt_name);
  std::string dtype(to_string(o.dtype));
  if (o.dtype == ExportDtype::kAuto) dtype = o.format == ExportFormat::kGguf ? "f16" : "f32";
  const WeightType wt = weight_type(dtype);
  HONE_CHECK((o.format != ExportFormat::kPeft && o.format != ExportFormat::kHf) || wt.ggml != GGMLType::kQ8_0, UsageError,
             Hint{"q8_0 is a GGUF type; use --format gguf for it"}, "--format {} holds f32, f16 or bf16 weights, not q8_0",
             fmt_name);
  std::error_code ec;
  HONE_CHECK(o.overwrite || !fs::exists(o.out, ec), UsageError, Hint{"pass --overwrite to replace it"}, "{} exists",
             o.out.string());

  // Checks first: the base, its tokenizer, the adapter against both.
  const ModelConfig config = read_config(o.model);
  config.validate(o.model.string());
  const auto tokenizer = Tokenizer::load(o.model);
  LoraAdapter adapter;
  if (!o.adapter.empty()) {
    adapter = read_lora_adapter(o.adapter, config, o.model.string());
    check_adapter_tokenizer(adapter, *tokenizer);
  }
  select_chat_template(*tokenizer, o.chat_template, adapter.chat_template);
  if (!tokenizer->chat_template().empty()) ChatTemplate::from_tokenizer(*tokenizer);  // parses: refused before writing
  HONE_CHECK(!o.routing.empty() || o.routing_model.empty(), UsageError, Hint{"give the eval report with --routing"},
             "--routing-model {} needs --routing", o.routing_model);
  std::optional<Routing> routing;
  if (!o.routing.empty()) routing = export_routing(o);
  const fs::path parent = o.out.parent_path();
  if (!parent.empty()) fs::create_directories(parent);

  ExportResult result;
  result.dtype = dtype;
  switch (o.format) {
    case ExportFormat::kPeft: {
      AtomicDir dir(o.out);
      export_peft(o, adapter, tokenizer->chat_template(), dtype, dir);
      if (routing) write_file_atomic(dir.path() / kRoutingJson, routing_json(*routing));
      dir.commit();
      result.files = {o.out / "adapter_config.json", o.out / "adapter_model.safetensors"};
      if (!tokenizer->chat_template().empty()) result.files.push_back(o.out / "chat_template.jinja");
      if (routing) result.files.push_back(o.out / kRoutingJson);
      break;
    }
    case ExportFormat::kGgufLora:
      export_gguf_lora(o, config, adapter, wt);
      result.files = {o.out};
      break;
    case ExportFormat::kHf:
    case ExportFormat::kGguf: {
      ModelWeights m = load_model_weights(o.model);
      if (m.rope_freq_factors.defined() && m.config.rope_scaling.type.empty())
        HONE_CHECK(o.format == ExportFormat::kGguf, InputError,
                   "{}: rope_freqs.weight holds rope scaling that config.json cannot express (no rope_scaling type)",
                   o.model.string());
      if (!o.adapter.empty()) merge_lora_adapter(m.tensors, adapter);
      if (o.format == ExportFormat::kGguf) {
        export_gguf(o, m, *tokenizer, wt);
        result.files = {o.out};
      } else {
        AtomicDir dir(o.out);
        export_hf(o, m, *tokenizer, dtype, dir);
        if (routing) write_file_atomic(dir.path() / kRoutingJson, routing_json(*routing));
        for (const auto& e : fs::directory_iterator(dir.path())) result.files.push_back(o.out / e.path().filename());
        dir.commit();
      }
      break;
    }
  }
  if (routing && (o.format == ExportFormat::kGguf || o.format == ExportFormat::kGgufLora)) {
    // Beside the model file, written after it: a failed export leaves no routing without its model.
    const fs::path path = routing_path(o.format, o.out);
    write_file_atomic(path, routing_json(*routing));
    result.files.push_back(path);
  } else if (o.format == ExportFormat::kGguf || o.format == ExportFormat::kGgufLora) {
    // An --overwrite of a file keeps the routing beside it, which another model's report wrote.
    std::error_code exists_ec;
    if (const fs::path stale = routing_path(o.format, o.out); fs::exists(stale, exists_ec))
      spdlog::warn("{} is left from an earlier export and may not fit this model (no --routing given)",
                   stale.string());
  }
  std::sort(result.files.begin(), result.files.end());
  result.bytes = total_bytes(result.files);
  return result;
}

}  // namespace hone
