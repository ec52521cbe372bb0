#include "model/adapter.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/matmul.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_file.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "model/decoder.h"
#include "model/names.h"
#include "text/tokenizer.h"

namespace hone {

using nlohmann::json;

double LoraAdapterConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

std::int64_t LoraAdapter::parameter_count() const {
  std::int64_t n = 0;
  for (const LoraFactors& f : factors) n += f.a.numel() + f.b.numel();
  return n;
}

LoraAdapterConfig load_lora_config(const fs::path& dir) {
  const fs::path path = dir / "adapter_config.json";
  HONE_CHECK(fs::exists(path), InputError, Hint{"a PEFT adapter directory holds adapter_config.json and adapter_model.safetensors"},
             "{}: no adapter_config.json", dir.string());
  const std::string src = path.string();
  const json j = read_json_object(path);
  const std::string peft_type = json_value<std::string>(j, "peft_type", "", src);
  HONE_CHECK(peft_type == "LORA", InputError, "{}: peft_type is '{}', hone applies LORA adapters", src, peft_type);
  HONE_CHECK(j.contains("r") && j["r"].is_number_integer() && j["r"].get<std::int64_t>() > 0, InputError,
             "{}: 'r' must be a positive integer, got {}", src, j.contains("r") ? j["r"].dump() : "nothing");
  HONE_CHECK(j.contains("lora_alpha") && j["lora_alpha"].is_number(), InputError,
             "{}: 'lora_alpha' must be a number, got {}", src,
             j.contains("lora_alpha") ? j["lora_alpha"].dump() : "nothing");
  HONE_CHECK(
      !json_value<bool>(j, "use_dora", false, src), InputError,
      Hint{"DoRA's magnitude vectors cannot be expressed as a LoRA delta; merge it with PEFT's merge_and_unload"},
      "{}: DoRA adapters (use_dora) are not supported yet", src);
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    HONE_CHECK(!j.contains(key) || j[key].is_null() || j[key].empty(), InputError,
               "{}: per-module '{}' is not supported", src, key);
  HONE_CHECK(!j.contains("modules_to_save") || j["modules_to_save"].is_null() || j["modules_to_save"].empty(),
             InputError, "{}: modules_to_save {} cannot be merged as a LoRA delta", src, j["modules_to_save"].dump());
  LoraAdapterConfig c;
  c.r = j["r"].get<std::int64_t>();
  c.alpha = j["lora_alpha"].get<double>();
  c.dropout = json_value<double>(j, "lora_dropout", 0.0, src);
  c.use_rslora = json_value<bool>(j, "use_rslora", false, src);
  // PEFT also accepts one string here (a regular expression, or "all-linear"): then the adapter's
  // tensors alone say which modules it adapts.
  if (!(j.contains("target_modules") && j["target_modules"].is_string()))
    c.target_modules = json_value<std::vector<std::string>>(j, "target_modules", {}, src);
  if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
    const json& l = j["layers_to_transform"];
    // A layer index is a non-negative integer within int64 (get<std::int64_t> of a larger one wraps).
    const auto is_index = [](const json& x) {
      return x.is_number_unsigned() && x.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX);
    };
    HONE_CHECK(is_index(l) || (l.is_array() && std::all_of(l.begin(), l.end(), is_index)), InputError,
               "{}: 'layers_to_transform' must be a layer index or a list of them, got {}", src, l.dump());
    if (l.is_array())
      for (const auto& x : l) c.layers_to_transform.push_back(x.get<std::int64_t>());
    else
      c.layers_to_transform.push_back(l.get<std::int64_t>());
    std::sort(c.layers_to_transform.begin(), c.layers_to_transform.end());
  }
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base_model = j["base_model_name_or_path"].get<std::string>();
  return c;
}

std::string peft_module_name(const std::string& weight) {
  const std::string suffix = ".weight";
  return "base_model.model." + weight.substr(0, weight.size() - suffix.size());
}

LoraAdapter read_lora_adapter(const fs::path& dir, const ModelConfig& base, const std::string& base_name) {
  LoraAdapter adapter;
  adapter.dir = dir;
  adapter.config = load_lora_config(dir);
  const LoraAdapterConfig& cfg = adapter.config;
  const fs::path file = dir / "adapter_model.safetensors";
  HONE_CHECK(fs::exists(file), InputError, "{}: no adapter_model.safetensors", dir.string());
  const SafetensorsFile st = SafetensorsFile::open(file);
  const std::string src = file.string();
  if (auto it = st.metadata().find(kAdapterTokenizerKey); it != st.metadata().end()) adapter.tokenizer_fingerprint = it->second;
  if (auto it = st.metadata().find(kAdapterChatTemplateKey); it != st.metadata().end()) adapter.chat_template = it->second;

  // The base's linear layers, in model order: PEFT module name -> (weight name, [out, in]).
  std::map<std::string, std::pair<std::string, std::vector<std::int64_t>>> linears;
  std::vector<std::string> order;
  for (const WeightSpec& w : expected_weights(base)) {
    const bool linear = w.name.rfind("model.layers.", 0) == 0 && w.shape.size() == 2 &&
                        w.name.size() > 12 && w.name.compare(w.name.size() - 12, 12, "_proj.weight") == 0;
    if (!linear) continue;
    linears[peft_module_name(w.name)] = {w.name, w.shape};
    order.push_back(peft_module_name(w.name));
  }

  std::map<std::string, LoraFactors> found;
  for (const TensorView& v : st.tensors()) {
    const std::string& name = v.name;
    const bool is_a = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_A.weight") == 0;
    const bool is_b = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_B.weight") == 0;
    HONE_CHECK(is_a || is_b, InputError,
               "{}: tensor '{}' is not a LoRA factor (expected <module>.lora_A.weight / .lora_B.weight)", src, name);
    const std::string module = name.substr(0, name.size() - 14);
    auto lin = linears.find(module);
    HONE_CHECK(lin != linears.end(), InputError, Hint{"PEFT names factors base_model.model.model.layers.N.<proj>.lora_A.weight"},
               "{}: tensor '{}' names no linear layer of this {}-layer model ({})", src, name, base.num_hidden_layers,
               base_name);
    const std::string leaf = module.substr(module.rfind('.') + 1);
    // PEFT's rule: an entry names a module by its last name parts ("down_proj", or the full path
    // "model.layers.0.mlp.down_proj" that PEFT saves for target_modules="all-linear").
    const auto targets = [&](const std::string& entry) {
      return module.size() > entry.size() && module.compare(module.size() - entry.size(), entry.size(), entry) == 0 &&
             module[module.size() - entry.size() - 1] == '.';
    };
    HONE_CHECK(cfg.target_modules.empty() ||
                   std::any_of(cfg.target_modules.begin(), cfg.target_modules.end(), targets),
               InputError, "{}: tensor '{}' adapts '{}', which adapter_config.json's target_modules [{}] does not list",
               src, name, leaf, fmt::join(cfg.target_modules, ", "));
    if (!cfg.layers_to_transform.empty()) {
      const std::string after = lin->second.first.substr(std::string("model.layers.").size());
      const std::int64_t layer = std::stoll(after.substr(0, after.find('.')));
      HONE_CHECK(std::binary_search(cfg.layers_to_transform.begin(), cfg.layers_to_transform.end(), layer), InputError,
                 "{}: tensor '{}' adapts layer {}, which adapter_config.json's layers_to_transform [{}] does not list",
                 src, name, layer, fmt::join(cfg.layers_to_transform, ", "));
    }
    HONE_CHECK(v.dtype == DType::kF32 || v.dtype == DType::kF16 || v.dtype == DType::kBF16, InputError,
               "{}: tensor '{}' is {}, expected F32, F16 or BF16", src, name, dtype_name(v.dtype));
    const std::int64_t out = lin->second.second[0], in = lin->second.second[1];
    const std::vector<std::int64_t> expected = is_a ? std::vector<std::int64_t>{cfg.r, in} : std::vector<std::int64_t>{out, cfg.r};
    HONE_CHECK(v.shape == expected, InputError,
               "{}: tensor '{}' has shape [{}], expected [{}] (r={} and the base model's layer) — adapter for another base?",
               src, name, fmt::join(v.shape, ", "), fmt::join(expected, ", "), cfg.r);
    LoraFactors& f = found[module];
    f.weight = lin->second.first;
    (is_a ? f.a : f.b) = to_tensor(v, st.mapping()).to(at::kCPU, at::kFloat, false, /*copy=*/true);
  }
  HONE_CHECK(!found.empty(), InputError, "{}: holds no LoRA factors", src);
  for (const auto& [module, f] : found)
    HONE_CHECK(f.a.defined() && f.b.defined(), InputError, "{}: module '{}' has lora_{} but not lora_{}", src, module,
               f.a.defined() ? "A" : "B", f.a.defined() ? "B" : "A");
  for (const std::string& module : order)
    if (auto it = found.find(module); it != found.end()) adapter.factors.push_back(std::move(it->second));
  return adapter;
}

void check_adapter_tokenizer(const LoraAdapter& adapter, const Tokenizer& tokenizer) {
  HONE_CHECK(adapter.tokenizer_fingerprint.empty() || adapter.tokenizer_fingerprint == tokenizer.fingerprint(),
             InputError, Hint{"an adapter only works with the base (and tokenizer) it was trained on"},
             "{}: the adapter was trained with tokenizer {}, but {} has tokenizer {}", adapter.dir.string(),
             adapter.tokenizer_fingerprint.substr(0, 16), tokenizer.source(), tokenizer.fingerprint().substr(0, 16));
}

void merge_lora_adapter(std::map<std::string, at::Tensor>& weights, const LoraAdapter& adapter) {
  c10::InferenceMode guard;
  const double s = adapter.config.scale();
  for (const LoraFactors& f : adapter.factors) {
    at::Tensor& w = weights.at(f.weight);
    at::Tensor delta = at::matmul(f.b.to(w.device()), f.a.to(w.device())) * s;  // [out, in], float32
    w.add_(delta.to(w.scalar_type()));
  }
}

void merge_lora_adapter(Decoder& model, const fs::path& adapter_dir) {
  merge_lora_adapter(model, read_lora_adapter(adapter_dir, model.config(), "the base model"));
}

void merge_lora_adapter(Decoder& model, const LoraAdapter& adapter) {
  std::map<std::string, at::Tensor> weights;
  for (std::size_t l = 0; l < model.layers().size(); ++l)
    for (auto& [path, lin] : model.layers()[l].linears())
      weights[fmt::format("model.layers.{}.{}.weight", l, path)] = lin->weight;  // shares storage
  merge_lora_adapter(weights, adapter);
}

std::string peft_adapter_config_json(const LoraAdapterConfig& c) {
  json j = {{"alpha_pattern", json::object()},
            {"auto_mapping", nullptr},
            {"base_model_name_or_path", c.base_model},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"layer_replication", nullptr},
            {"layers_pattern", nullptr},
            {"layers_to_transform", c.layers_to_transform.empty() ? json(nullptr) : json(c.layers_to_transform)},
            {"lora_alpha", c.alpha},
            {"lora_bias", false},
            {"lora_dropout", c.dropout},
            {"modules_to_save", nullptr},
            {"peft_type", "LORA"},
            {"r", c.r},
            {"rank_pattern", json::object()},
            {"revision", nullptr},
            {"target_modules", c.target_modules},
            {"task_type", "CAUSAL_LM"},
            {"use_dora", false},
            {"use_rslora", c.use_rslora}};
  return j.dump(2) + "\n";
}

}  // namespace hone
