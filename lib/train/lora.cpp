#include "train/lora.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "model/adapter.h"
#include "model/config.h"
#include "model/family.h"
#include "model/decoder.h"
#include "text/tokenizer_export.h"

namespace hone {

using nlohmann::json;

double LoraOptions::scale() const {
  return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

namespace {

// Every module name some family has (the fused ones are phi3's), in the order adapters list them.
const std::vector<std::string>& known_modules() {
  static const std::vector<std::string> m{"q_proj",   "k_proj",    "v_proj",       "qkv_proj", "o_proj",
                                          "gate_proj", "up_proj", "gate_up_proj", "down_proj"};
  return m;
}

std::string module_name(const std::string& path) { return path.substr(path.find('.') + 1); }

}  // namespace

std::vector<std::string> lora_target_modules(const Decoder& model, const std::vector<std::string>& requested) {
  std::vector<std::string> present;
  for (const auto& [path, lin] : model.layers().front().linears()) present.push_back(module_name(path));
  if (requested.empty()) return present;
  for (const std::string& name : requested)
    HONE_CHECK(std::find(present.begin(), present.end(), name) != present.end(), UsageError,
               Hint{fmt::format("this model's modules: {}", fmt::join(present, ", "))},
               "--targets names '{}', which a {} model does not have", name, family_name(model.config().family));
  std::vector<std::string> out;
  for (const std::string& m : present)
    if (std::find(requested.begin(), requested.end(), m) != requested.end()) out.push_back(m);
  return out;
}

std::vector<std::string> parse_lora_targets(const std::string& spec) {
  if (spec == "all-linear" || spec == "all") return {};
  std::set<std::string> chosen;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string name = spec.substr(start, comma - start);
    start = comma + 1;
    if (name.empty()) continue;
    if (name.size() < 5 || name.compare(name.size() - 5, 5, "_proj") != 0) name += "_proj";
    bool known = false;
    for (const std::string& m : known_modules()) known = known || m == name;
    HONE_CHECK(known, UsageError, Hint{"choose from q,k,v,o,gate,up,down (phi3: qkv,o,gate_up,down) or all-linear"},
               "--targets: unknown module '{}'", name);
    chosen.insert(name);
  }
  HONE_CHECK(!chosen.empty(), UsageError, "--targets names no module");
  std::vector<std::string> out;
  for (const std::string& m : known_modules())
    if (chosen.count(m)) out.push_back(m);
  return out;
}

std::vector<std::int64_t> parse_lora_layers(const std::string& spec) {
  if (spec.empty() || spec == "all") return {};
  auto number = [&](const std::string& text) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    HONE_CHECK(used == text.size() && !text.empty() && v >= 0, UsageError,
               Hint{"give layer indices and ranges, e.g. 20-29 or 0,2,4-6, or all"},
               "--lora-layers '{}': '{}' is not a layer index", spec, text);
    return static_cast<std::int64_t>(v);
  };
  std::set<std::int64_t> chosen;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    const std::size_t dash = item.find('-');
    if (dash == std::string::npos) {
      chosen.insert(number(item));
      continue;
    }
    const std::int64_t lo = number(item.substr(0, dash)), hi = number(item.substr(dash + 1));
    HONE_CHECK(lo <= hi, UsageError, "--lora-layers '{}': the range {} runs backwards", spec, item);
    for (std::int64_t l = lo; l <= hi; ++l) chosen.insert(l);
  }
  return {chosen.begin(), chosen.end()};
}

std::vector<TrainableParam> attach_lora(Decoder& model, const LoraOptions& o, std::uint64_t seed) {
  HONE_CHECK(o.r > 0, UsageError, "--rank must be positive, got {}", o.r);
  const auto n_layers = static_cast<std::int64_t>(model.layers().size());
  for (const std::int64_t l : o.layers)
    HONE_CHECK(l >= 0 && l < n_layers, UsageError, "--lora-layers names layer {}, but the model has layers 0 to {}", l,
               n_layers - 1);
  const std::set<std::int64_t> layers(o.layers.begin(), o.layers.end());
  HONE_CHECK(o.dropout >= 0 && o.dropout < 1, UsageError, "--lora-dropout must be in [0, 1), got {}", o.dropout);
  const std::vector<std::string> resolved = lora_target_modules(model, o.targets);
  const std::set<std::string> targets(resolved.begin(), resolved.end());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  std::vector<TrainableParam> params;
  for (std::size_t l = 0; l < model.layers().size(); ++l) {
    if (!layers.empty() && !layers.count(static_cast<std::int64_t>(l))) continue;
    for (auto& [path, lin] : model.layers()[l].linears()) {
      if (!targets.count(module_name(path))) continue;
      const std::int64_t out = lin->weight.size(0), in = lin->weight.size(1);
      HONE_CHECK(o.r <= std::min(in, out), UsageError, "--rank {} exceeds layer {} {} ({} x {})", o.r, l, path, out, in);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform_(a=sqrt(5))
      at::Tensor a = at::empty({o.r, in}, cpu).uniform_(-bound, bound, gen).to(lin->weight.device());
      at::Tensor b = at::zeros({out, o.r}, cpu.device(lin->weight.device()));
      lin->lora_a = a.requires_grad_(true);
      lin->lora_b = b.requires_grad_(true);
      lin->lora_scale = o.scale();
      lin->lora_dropout = o.dropout;
      const std::string base = fmt::format("base_model.model.model.layers.{}.{}", l, path);
      params.push_back({base + ".lora_A.weight", lin->lora_a, true});
      params.push_back({base + ".lora_B.weight", lin->lora_b, true});
    }
  }
  HONE_CHECK(!params.empty(), UsageError, "no linear layer matches --targets");
  return params;
}

std::vector<TrainableParam> full_parameters(Decoder& model, bool freeze_embeddings) {
  // Own, contiguous float32 copies (weights may be views of a mapped file or of a GGUF buffer).
  auto own = [](at::Tensor& t) {
    t = t.to(at::kFloat).clone().contiguous().requires_grad_(true);
    return t;
  };
  std::vector<TrainableParam> params;
  const bool tied = model.config().tie_word_embeddings;
  if (!freeze_embeddings) {
    params.push_back({"model.embed_tokens.weight", own(model.mutable_embed_tokens()), true});
    if (tied)
      model.mutable_lm_head() = model.mutable_embed_tokens();
    else
      params.push_back({"lm_head.weight", own(model.mutable_lm_head()), true});
  }
  params.push_back({"model.norm.weight", own(model.mutable_final_norm()), false});
  for (std::size_t l = 0; l < model.layers().size(); ++l) {
    DecoderLayer& L = model.layers()[l];
    const std::string p = fmt::format("model.layers.{}.", l);
    for (const LayerNormName& n : family_traits(model.config().family).decoder.layer_norms)
      params.push_back({fmt::format("{}{}.weight", p, n.hf), own(L.norm(n.role)), false});
    for (auto& [path, lin] : L.linears()) {
      params.push_back({p + path + ".weight", own(lin->weight), true});
      if (lin->bias.defined()) params.push_back({p + path + ".bias", own(lin->bias), false});
    }
  }
  return params;
}

void load_parameters(const fs::path& file, const std::vector<TrainableParam>& params) {
  HONE_CHECK(fs::exists(file), InputError, "{}: no such file", file.string());
  const SafetensorsFile st = SafetensorsFile::open(file);
  const std::string src = file.string();
  std::set<std::string> expected;
  for (const TrainableParam& p : params) expected.insert(p.name);
  for (const TensorView& v : st.tensors())
    HONE_CHECK(expected.count(v.name), InputError, "{}: tensor '{}' is not a parameter of this run", src, v.name);
  at::NoGradGuard no_grad;
  for (const TrainableParam& p : params) {
    HONE_CHECK(st.contains(p.name), InputError, "{}: missing tensor '{}'", src, p.name);
    const TensorView& v = st.get(p.name);
    HONE_CHECK(v.shape == p.tensor.sizes().vec(), InputError, "{}: tensor '{}' has shape [{}], expected [{}]", src,
               p.name, fmt::join(v.shape, ", "), fmt::join(p.tensor.sizes(), ", "));
    p.tensor.copy_(to_tensor(v, st.mapping()));
  }
}

namespace {

// `named`'s tensors on the CPU, contiguous, their floating-point ones in `dtype` (float32, bfloat16
// or float16); `keep` holds the converted tensors alive until they are written.
std::vector<TensorWrite> tensor_writes(const std::vector<std::pair<std::string, at::Tensor>>& named,
                                       std::vector<at::Tensor>& keep, c10::ScalarType dtype = at::kFloat) {
  const DType stored = dtype == at::kBFloat16 ? DType::kBF16 : dtype == at::kHalf ? DType::kF16 : DType::kF32;
  std::vector<TensorWrite> out;
  for (const auto& [name, t] : named) {
    at::Tensor c = t.detach().to(at::kCPU, dtype).contiguous();
    HONE_CHECK(dtype != at::kHalf || !c.is_floating_point() || at::isfinite(c).all().item<bool>(), UsageError,
               Hint{"save it in bf16 or f32"}, "tensor {} has values beyond float16's range (65504)", name);
    keep.push_back(c);
    out.push_back({name, stored, c.sizes().vec(), c.data_ptr(), static_cast<std::size_t>(c.nbytes())});
  }
  return out;
}

// The module names the factors adapt, in known_modules() order ("...self_attn.q_proj.lora_A.weight").
std::vector<std::string> adapted_modules(const std::vector<TrainableParam>& params) {
  std::set<std::string> seen;
  for (const TrainableParam& p : params) {
    const std::size_t end = p.name.rfind(".lora_");
    if (end == std::string::npos) continue;
    seen.insert(p.name.substr(p.name.rfind('.', end - 1) + 1, end - p.name.rfind('.', end - 1) - 1));
  }
  std::vector<std::string> out;
  for (const std::string& m : known_modules())
    if (seen.count(m)) out.push_back(m);
  return out;
}

}  // namespace

void write_parameters(const fs::path& file, const std::vector<TrainableParam>& params) {
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const TrainableParam& p : params) named.emplace_back(p.name, p.tensor);
  std::vector<at::Tensor> keep;
  write_safetensors(file, tensor_writes(named, keep));
}

void write_peft_adapter(const fs::path& dir, const LoraOptions& o, const std::vector<TrainableParam>& params,
                        const std::string& base_model, const std::string& tokenizer_fingerprint,
                        const std::string& chat_template) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const TrainableParam& p : params) named.emplace_back(p.name, p.tensor);
  std::vector<at::Tensor> keep;
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  if (!tokenizer_fingerprint.empty()) metadata[kAdapterTokenizerKey] = tokenizer_fingerprint;
  if (!chat_template.empty()) metadata[kAdapterChatTemplateKey] = chat_template;
  write_safetensors(dir / "adapter_model.safetensors", tensor_writes(named, keep), metadata);
  LoraAdapterConfig c;
  c.r = o.r;
  c.alpha = o.alpha;
  c.dropout = o.dropout;
  c.use_rslora = o.rslora;
  c.target_modules = adapted_modules(params);
  c.layers_to_transform = o.layers;
  c.base_model = base_model;
  write_file_atomic(dir / "adapter_config.json", peft_adapter_config_json(c));
}

void write_full_model(const fs::path& dir, const Decoder& model, const fs::path& tokenizer_source,
                      std::int64_t model_max_length, c10::ScalarType dtype, const std::string& chat_template) {
  HONE_CHECK(dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf, UsageError,
             "{}: a model is saved in f32, bf16 or f16", dir.string());
  AtomicDir out(dir);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& [name, t] : model.named_weights()) named.emplace_back(name, t);
  std::vector<at::Tensor> keep;
  write_safetensors(out.path() / "model.safetensors", tensor_writes(named, keep, dtype), {{"format", "pt"}});
  ModelConfig config = model.config();
  config.torch_dtype = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  write_file_atomic(out.path() / "config.json", config.to_hf_json());
  if (!tokenizer_source.empty()) {
    try {
      write_hf_tokenizer_files(tokenizer_source, out.path(), model_max_length);
      if (!chat_template.empty()) write_hf_chat_template(out.path(), chat_template);
    } catch (const Error& e) {
      spdlog::warn("{}: no tokenizer files written ({}); load it with the tokenizer of {}", dir.string(), e.what(),
                   tokenizer_source.string());
    }
  }
  out.commit();
}

}  // namespace hone
