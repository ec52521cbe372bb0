// `hone export`: a base model (plus a LoRA adapter) as files other tools load:
//   peft       adapter_config.json + adapter_model.safetensors, as HF PEFT writes them
//   hf         a merged HF checkpoint (config.json, model.safetensors, generation_config.json, tokenizer files)
//   gguf       a merged GGUF model for llama.cpp (f32, f16, bf16, q8_0), tokenizer and chat template included
//   gguf-lora  a GGUF LoRA adapter for llama.cpp (general.type = adapter), used with the base GGUF
// The chat template written is the one training used (recorded in the adapter), so that the served
// model formats its prompts as the trained one did.
// With a calibrated eval report (`routing`), the model's routing rule is written beside it as
// routing.json. Every check (adapter against base, tokenizer, format against what it can hold, the
// report) runs before the first byte is written; outputs are written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"

namespace hone {

enum class ExportFormat { kPeft, kHf, kGguf, kGgufLora };

// "peft", "hf", "gguf", "gguf-lora".
std::string_view to_string(ExportFormat format);

// The stored weight type of an export.
enum class ExportDtype {
  kAuto,  // f16 for gguf, f32 for the others
  kF32,
  kF16,
  kBF16,
  kQ8_0,  // gguf and gguf-lora only
};
std::string_view to_string(ExportDtype dtype);  // "auto", "f32", "f16", "bf16", "q8_0"

struct ExportOptions {
  fs::path model;    // base: .gguf file or HF directory
  fs::path adapter;  // PEFT adapter directory (required for peft and gguf-lora)
  ExportFormat format = ExportFormat::kGguf;
  fs::path out;      // directory (peft, hf) or file (gguf, gguf-lora)
  ExportDtype dtype = ExportDtype::kAuto;
  bool overwrite = false;  // replace an existing output
  // A Jinja file to write as the chat template; default: the one the adapter was trained with,
  // else the base model's. It goes into every output that holds one (tokenizer_config.json and
  // chat_template.jinja, GGUF tokenizer.chat_template, chat_template.jinja beside a PEFT adapter).
  fs::path chat_template;
  // A `hone eval --report` file of a calibrated run: the confidence threshold and temperature of
  // `routing_model` are written beside the export as routing.json (export/export_routing.h).
  fs::path routing;
  std::string routing_model;  // the report's model to route ("": its cascade's first, else its only one)
};

struct ExportResult {
  std::vector<fs::path> files;  // final paths
  std::uint64_t bytes = 0;
  std::string dtype;            // the weight type written
};

ExportResult export_model(const ExportOptions& options);

}  // namespace hone
