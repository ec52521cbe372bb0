// The report's sizes on disk: what type a model file stores its weights in, and the table that puts
// each model's forms (as evaluated, and each export of it) side by side. No LibTorch.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "report/table.h"

namespace hone {

// The type most of the weights of `path` are stored in, by element count over its matrices (norms
// and biases, kept f32 by every exporter, do not count): a .gguf file's GGML type ("q8_0", "f16",
// "q4_1"), or the safetensors dtype of a directory's *.safetensors files ("bf16", "f32": an HF
// model or a PEFT adapter). "" when `path` holds neither or cannot be read.
std::string stored_weights(const fs::path& path);

// The sizes of the evaluated models (`models`: the report's rows, with eval's "bytes", "model" and
// "adapter") and of the exports attributed to them (`exports`: objects with "model", "format",
// "weights", "bytes"), one row per form:
//   [{"stored_as": "evaluated", "bytes": {"base": n, "tuned": n, ...}},
//    {"stored_as": "gguf q8_0", "bytes": {"student": n}}, ...]
// "evaluated" is what `hone eval` loaded (the model, plus the adapter's weights); the export rows
// follow in the order their forms first appear. Exports of no named model are left out.
nlohmann::ordered_json size_rows(const nlohmann::ordered_json& models, const nlohmann::ordered_json& exports);

// The rows as a table: "stored as", then one column of MiB per evaluated model.
Table size_table(const nlohmann::ordered_json& models, const nlohmann::ordered_json& sizes);

// One sentence saying what each model's "evaluated" size counts, e.g. "tuned: models/x.gguf (q4_1)
// and the adapter runs/lora (f32)"; "" when the eval reports name no model paths.
std::string evaluated_sizes_line(const nlohmann::ordered_json& models);

}  // namespace hone
