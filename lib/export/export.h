// `hone export`: a base model (plus a LoRA adapter) as files other tools load:
//   peft       adapter_config.json + adapter_model.safetensors, as HF PEFT writes them
//   hf         a merged HF checkpoint (config.json, model.safetensors, generation_config.json, tokenizer files)
//   gguf       a merged GGUF model for llama.cpp (f32, f16, bf16, q8_0), tokenizer and chat template included
//   gguf-lora  a GGUF LoRA adapter for llama.cpp (general.type = adapter), used with the base GGUF
// The chat template written is the one training used (recorded in the adapter), so that the served
// model formats its prompts as the trained one did.
// Every check (adapter against base, tokenizer, format against what it can hold) runs before the
// first byte is written; outputs are written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

enum class ExportFormat { kPeft, kHf, kGguf, kGgufLora };

// "peft", "hf", "gguf", "gguf-lora"; UsageError otherwise.
ExportFormat parse_export_format(const std::string& name);

struct ExportOptions {
  fs::path model;    // base: .gguf file or HF directory
  fs::path adapter;  // PEFT adapter directory (required for peft and gguf-lora)
  ExportFormat format = ExportFormat::kGguf;
  fs::path out;      // directory (peft, hf) or file (gguf, gguf-lora)
  // f32 | f16 | bf16 | q8_0 | auto (gguf: f16; the others: f32)
  std::string dtype = "auto";
  bool overwrite = false;  // replace an existing output
  // A Jinja file to write as the chat template; default: the one the adapter was trained with,
  // else the base model's. It goes into every output that holds one (tokenizer_config.json and
  // chat_template.jinja, GGUF tokenizer.chat_template, chat_template.jinja beside a PEFT adapter).
  fs::path chat_template;
};

struct ExportResult {
  std::vector<fs::path> files;  // final paths
  std::uint64_t bytes = 0;
  std::string dtype;            // the weight type written
};

ExportResult export_model(const ExportOptions& options);

}  // namespace hone
