// What training updates: LoRA factors attached to the decoder's linear layers (HF PEFT's
// initialisation and names), or every weight of the model (--full, also used for distillation
// students). Parameters are float32 leaves that require grad; the frozen base keeps its dtype.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class Decoder;

struct LoraOptions {
  std::int64_t r = 16;
  double alpha = 32.0;
  double dropout = 0.05;
  // Module names as PEFT's target_modules lists them ("q_proj", ..., "down_proj"; phi3:
  // "qkv_proj", "o_proj", "gate_up_proj", "down_proj"); empty: every linear module of the model.
  std::vector<std::string> targets;
  bool rslora = false;  // scale alpha / sqrt(r) instead of alpha / r
  // Decoder layers that get factors (PEFT's layers_to_transform), ascending; empty: every layer.
  // Layers below the lowest one listed run without autograd: no activations kept, no backward.
  std::vector<std::int64_t> layers;
  double scale() const;
};

// "q,k,v,o,gate,up,down" (short or full names, any subset; phi3's qkv and gate_up too) -> PEFT
// module names, "all-linear" -> empty (every module). UsageError for a name no family has.
std::vector<std::string> parse_lora_targets(const std::string& spec);

// The modules of `model` that `requested` (PEFT names; empty: all) selects, in the model's order.
// UsageError naming the model's modules when it lacks one (q_proj on phi3, qkv_proj on llama).
std::vector<std::string> lora_target_modules(const Decoder& model, const std::vector<std::string>& requested);

// "20-29", "0,2,4-6" or "all" -> ascending, distinct layer indices (empty for "all"). UsageError
// for anything else; attach_lora checks the indices against the model.
std::vector<std::int64_t> parse_lora_layers(const std::string& spec);

struct TrainableParam {
  std::string name;  // PEFT tensor name (LoRA) or HF tensor name (--full)
  at::Tensor tensor; // the decoder's own tensor (updated in place)
  bool decay = true; // weight decay applies (not to norms and biases)
  double lr_scale = 1.0;  // multiplies the scheduled learning rate (LoRA+: lora_B gets the ratio)
};

// Attaches freshly initialised factors to every targeted linear layer: A [r, in] Kaiming-uniform
// (a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), as PEFT's init_lora_weights=True), B [out, r]
// zero. The draws come from a generator seeded with `seed`, in a fixed order (layer, module).
std::vector<TrainableParam> attach_lora(Decoder& model, const LoraOptions& options, std::uint64_t seed);

// Makes every weight of `model` a trainable float32 parameter (tied embedding/head shared); with
// `freeze_embeddings`, all but the token embedding and the output head.
std::vector<TrainableParam> full_parameters(Decoder& model, bool freeze_embeddings = false);

// Copies tensors saved by write_parameters / write_peft_adapter into `params` (names and shapes
// must match exactly: InputError naming the tensor and the file otherwise).
void load_parameters(const fs::path& file, const std::vector<TrainableParam>& params);

// Writes `params` to one safetensors file (float32), atomically.
void write_parameters(const fs::path& file, const std::vector<TrainableParam>& params);

// Writes a PEFT adapter directory's two files (adapter_config.json, adapter_model.safetensors),
// recording the base's tokenizer fingerprint and the chat template of the training data (when
// given) in the safetensors metadata.
void write_peft_adapter(const fs::path& dir, const LoraOptions& options, const std::vector<TrainableParam>& params,
                        const std::string& base_model, const std::string& tokenizer_fingerprint = "",
                        const std::string& chat_template = "");

// Writes a full model as an HF directory, atomically (a temporary directory renamed into place):
// config.json, model.safetensors and, when `tokenizer_source` is given, the HF tokenizer files of
// that model (so that the directory loads on its own; skipped with a warning when its tokenizer
// cannot be written as tokenizer.json), with `chat_template` as their chat template when it is given
// (the one the training data were rendered with, which may not be the source model's).
// The floating-point weights are written in `dtype` (float32, bfloat16 or float16).
void write_full_model(const fs::path& dir, const Decoder& model, const fs::path& tokenizer_source = {},
                      std::int64_t model_max_length = 0, c10::ScalarType dtype = c10::ScalarType::Float,
                      const std::string& chat_template = "");

}  // namespace hone
