#include "model/adapter.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/matmul.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "model/decoder.h"

namespace hone {

using nlohmann::json;

double LoraAdapterConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

LoraAdapterConfig load_lora_config(const fs::path& dir) {
  const fs::path path = dir / "adapter_config.json";
  HONE_CHECK(fs::exists(path), InputError, Hint{"a PEFT adapter directory holds adapter_config.json and adapter_model.safetensors"},
             "{}: no adapter_config.json", dir.string());
  const std::string src = path.string();
  json j = json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  HONE_CHECK(!j.is_discarded() && j.is_object(), InputError, "{}: not a JSON object", src);
  HONE_CHECK(j.value("peft_type", "") == "LORA", InputError, "{}: peft_type is '{}', hone applies LORA adapters", src,
             j.value("peft_type", ""));
  HONE_CHECK(j.contains("r") && j["r"].is_number_integer() && j["r"].get<std::int64_t>() > 0, InputError,
             "{}: 'r' must be a positive integer", src);
  HONE_CHECK(j.contains("lora_alpha") && j["lora_alpha"].is_number(), InputError, "{}: 'lora_alpha' must be a number", src);
  HONE_CHECK(!j.value("use_dora", false), InputError, "{}: DoRA adapters (use_dora) are not supported yet (issue #5)", src);
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    HONE_CHECK(!j.contains(key) || j[key].is_null() || j[key].empty(), InputError,
               "{}: per-module '{}' is not supported", src, key);
  HONE_CHECK(!j.contains("modules_to_save") || j["modules_to_save"].is_null() || j["modules_to_save"].empty(),
             InputError, "{}: modules_to_save {} cannot be merged as a LoRA delta", src, j["modules_to_save"].dump());
  LoraAdapterConfig c;
  c.r = j["r"].get<std::int64_t>();
  c.alpha = j["lora_alpha"].get<double>();
  c.use_rslora = j.value("use_rslora", false);
  if (j.contains("target_modules") && j["target_modules"].is_array())
    for (const auto& m : j["target_modules"]) c.target_modules.push_back(m.get<std::string>());
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base_model = j["base_model_name_or_path"].get<std::string>();
  return c;
}

namespace {

// "base_model.model.model.layers.3.self_attn.q_proj" -> the decoder's Linear, or nullptr.
Linear* find_linear(Decoder& model, const std::string& module) {
  const std::string prefix = "base_model.model.model.layers.";
  if (module.compare(0, prefix.size(), prefix) != 0) return nullptr;
  std::size_t dot = module.find('.', prefix.size());
  if (dot == std::string::npos) return nullptr;
  std::size_t layer = 0;
  try {
    layer = std::stoul(module.substr(prefix.size(), dot - prefix.size()));
  } catch (const std::exception&) {
    return nullptr;
  }
  if (layer >= model.layers().size()) return nullptr;
  const std::string path = module.substr(dot + 1);
  for (const auto& [name, lin] : model.layers()[layer].linears())
    if (name == path) return lin;
  return nullptr;
}

}  // namespace

void merge_lora_adapter(Decoder& model, const fs::path& dir) {
  const LoraAdapterConfig cfg = load_lora_config(dir);
  const fs::path file = dir / "adapter_model.safetensors";
  HONE_CHECK(fs::exists(file), InputError, "{}: no adapter_model.safetensors", dir.string());
  const SafetensorsFile st = SafetensorsFile::open(file);
  const std::string src = file.string();

  struct Pair {
    Linear* target;
    at::Tensor a, b;
  };
  std::map<std::string, Pair> pairs;  // module -> factors
  for (const TensorView& v : st.tensors()) {
    const std::string& name = v.name;
    const bool is_a = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_A.weight") == 0;
    const bool is_b = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_B.weight") == 0;
    HONE_CHECK(is_a || is_b, InputError,
               "{}: tensor '{}' is not a LoRA factor (expected <module>.lora_A.weight / .lora_B.weight)", src, name);
    const std::string module = name.substr(0, name.size() - 14);
    Linear* target = find_linear(model, module);
    HONE_CHECK(target != nullptr, InputError, Hint{"PEFT names factors base_model.model.model.layers.N.<proj>.lora_A.weight"},
               "{}: tensor '{}' names no linear layer of this {}-layer model", src, name, model.layers().size());
    HONE_CHECK(v.dtype == DType::kF32 || v.dtype == DType::kF16 || v.dtype == DType::kBF16, InputError,
               "{}: tensor '{}' is {}, expected F32, F16 or BF16", src, name, dtype_name(v.dtype));
    const std::int64_t out = target->weight.size(0), in = target->weight.size(1);
    const std::vector<std::int64_t> expected = is_a ? std::vector<std::int64_t>{cfg.r, in} : std::vector<std::int64_t>{out, cfg.r};
    HONE_CHECK(v.shape == expected, InputError,
               "{}: tensor '{}' has shape [{}], expected [{}] (r={} and the base model's layer) — adapter for another base?",
               src, name, fmt::join(v.shape, ", "), fmt::join(expected, ", "), cfg.r);
    Pair& p = pairs[module];
    p.target = target;
    (is_a ? p.a : p.b) = to_tensor(v, st.mapping()).to(target->weight.device(), at::kFloat, false, /*copy=*/true);
  }
  HONE_CHECK(!pairs.empty(), InputError, "{}: holds no LoRA factors", src);
  for (const auto& [module, p] : pairs)
    HONE_CHECK(p.a.defined() && p.b.defined(), InputError, "{}: module '{}' has lora_{} but not lora_{}", src, module,
               p.a.defined() ? "A" : "B", p.a.defined() ? "B" : "A");

  c10::InferenceMode guard;
  for (auto& [module, p] : pairs) {
    at::Tensor delta = at::matmul(p.b, p.a) * cfg.scale();  // [out, in], float32
    p.target->weight.add_(delta.to(p.target->weight.scalar_type()));
  }
}

}  // namespace hone
