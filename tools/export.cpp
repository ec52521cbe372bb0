// hone export: PEFT adapter, merged HF checkpoint, GGUF model or GGUF LoRA adapter.
#include <spdlog/spdlog.h>

#include <iostream>

#include "command.h"
#include "export/export.h"
#include "options.h"

namespace hone::tools {

Run register_export(CLI::App& root) {
  struct Options {
    std::string model;    // base model
    std::string adapter;  // adapter directory (optional for gguf/hf conversion)
    ExportFormat format = ExportFormat::kGguf;
    std::string out;
    ExportDtype dtype = ExportDtype::kAuto;
    bool overwrite = false;
    std::string chat_template;  // Jinja file written as the chat template
    std::string routing;        // calibrated eval report: its routing rule goes beside the export
    std::string routing_model;  // the report's model to route ("": its cascade's first, else its only one)
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("export", "Write files that transformers/PEFT, vLLM and llama.cpp load");
  cmd->footer(
      "Formats:\n"
      "  peft       OUT/adapter_config.json + adapter_model.safetensors (PeftModel.from_pretrained, vLLM --lora-modules)\n"
      "  hf         OUT/ merged checkpoint: config.json, model.safetensors, generation_config.json, tokenizer files\n"
      "  gguf       OUT.gguf merged model for llama.cpp / Ollama (tokenizer and chat template inside)\n"
      "  gguf-lora  OUT.gguf LoRA adapter for llama.cpp (llama-cli -m BASE.gguf --lora OUT.gguf)\n"
      "--dtype auto: f16 for gguf, f32 otherwise; q8_0 only for gguf and gguf-lora.\n"
      "--routing: OUT/routing.json (peft, hf), or OUT's stem + .routing.json beside a .gguf file.");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Base model (.gguf or HF directory)")->required();
  cmd->add_option("--adapter", o->adapter, "Adapter directory to export or merge (required for peft, gguf-lora)");
  add_choice(*cmd, "--format", o->format,
             {ExportFormat::kPeft, ExportFormat::kHf, ExportFormat::kGguf, ExportFormat::kGgufLora}, "Output format")
      ->default_str("")
      ->required();
  cmd->add_option("-o,--out", o->out, "Output file (gguf, gguf-lora) or directory (peft, hf)")->required();
  add_choice(*cmd, "--dtype", o->dtype,
             {ExportDtype::kAuto, ExportDtype::kF32, ExportDtype::kF16, ExportDtype::kBF16, ExportDtype::kQ8_0},
             "Weight type: f32, f16, bf16, q8_0 or auto");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing output")->capture_default_str();
  cmd->add_option("--chat-template", o->chat_template,
                  "Jinja chat template file to write (default: the adapter's training template, else the model's)");
  cmd->add_option("--routing", o->routing,
                  "routing.json to write beside the export, from this eval report of a calibrated run (hone eval "
                  "--calibrate --target-accuracy)");
  cmd->add_option("--routing-model", o->routing_model,
                  "The model of the --routing report to route (default: its cascade's first, else its only one)");
  return [o] {
    ExportOptions e;
    e.model = o->model;
    e.adapter = o->adapter;
    e.format = o->format;
    e.out = o->out;
    e.dtype = o->dtype;
    e.overwrite = o->overwrite;
    e.chat_template = o->chat_template;
    e.routing = o->routing;
    e.routing_model = o->routing_model;
    const ExportResult r = export_model(e);
    for (const auto& f : r.files) std::cout << f.string() << "\n";
    spdlog::info("wrote {} ({}, {}, {:.1f} MiB)", o->out, to_string(o->format), r.dtype, static_cast<double>(r.bytes) / (1 << 20));
  };
}

}  // namespace hone::tools
