// Fuzz target: a PEFT adapter_config.json (load_lora_config, lib/model/adapter.cpp). adapter.cpp
// belongs to hone_model and includes ATen, so this target links LibTorch: each process pays
// LibTorch's start-up once (about a second), not each input. An accepted configuration must be
// one hone can apply: a positive rank, a finite scale, sorted non-negative layer indices, and
// written back as PEFT's adapter_config.json that reads again to the same values.
#include <cmath>

#include "fuzz_target.h"
#include "model/adapter.h"

#ifdef HONE_LIBFUZZER
// LibTorch's static registries are never freed, which LeakSanitizer would report at every exit.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

HONE_FUZZ_TARGET(adapter_config_json) {
  const auto path = hone::fuzz::input_file(data, size, "adapter_config.json");
  const hone::LoraAdapterConfig c = hone::load_lora_config(path.parent_path());
  HONE_FUZZ_INVARIANT(c.r > 0);
  (void)c.scale();
  for (std::size_t i = 0; i < c.layers_to_transform.size(); ++i)
    HONE_FUZZ_INVARIANT(c.layers_to_transform[i] >= 0 && (i == 0 || c.layers_to_transform[i - 1] <= c.layers_to_transform[i]));
  const std::string again = hone::peft_adapter_config_json(c);
  const auto copy = hone::fuzz::input_file(reinterpret_cast<const std::uint8_t*>(again.data()), again.size(),
                                           "adapter_config.json");
  const hone::LoraAdapterConfig d = hone::load_lora_config(copy.parent_path());
  HONE_FUZZ_INVARIANT(d.r == c.r && d.target_modules == c.target_modules &&
                      d.layers_to_transform == c.layers_to_transform && d.use_rslora == c.use_rslora);
  return 0;
}

HONE_FUZZ_SEEDS(adapter_config_json) {
  hone::LoraAdapterConfig c;
  c.r = 8;
  c.alpha = 16;
  c.dropout = 0.05;
  c.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  c.base_model = "HuggingFaceTB/SmolLM2-135M-Instruct";
  seeds.add("peft.json", hone::peft_adapter_config_json(c));
  c.use_rslora = true;
  c.layers_to_transform = {0, 3, 7};
  seeds.add("rslora-layers.json", hone::peft_adapter_config_json(c));
  seeds.add("regex-target.json",
            R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8.5, "target_modules": ".*\\.(q|v)_proj",)"
            R"( "layers_to_transform": 2, "use_dora": false, "rank_pattern": {}, "modules_to_save": null})");
  seeds.add("dora.json", R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_dora": true})");
}
