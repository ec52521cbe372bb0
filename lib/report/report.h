// `hone report`: one page that compares the models of a recipe side by side (from `hone eval`
// reports), with their training runs (run.json, metrics.jsonl) and the exported files with the
// command that serves each: report.md, report.json and a self-contained report.html (inline SVG
// charts, no scripts, no external files). No LibTorch: it reads what the other commands wrote.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/fs.h"

namespace hone {

struct ReportOptions {
  std::string title = "hone report";
  std::vector<fs::path> evals;  // `hone eval --report` files; their models, in order
  // (model name, run directory of lora-train or distill): training time, steps and loss curve.
  std::vector<std::pair<std::string, fs::path>> runs;
  // (format, path) of exports: peft, hf, gguf, gguf-lora (as `hone export --format`).
  std::vector<std::pair<std::string, fs::path>> exports;
  fs::path base_model;  // the base the adapters apply to (for the serve commands)
  // The chat template the models were trained with, for the serve commands of outputs that do not
  // carry it (a GGUF LoRA adapter, served with the base's template otherwise).
  fs::path chat_template;
  fs::path out;         // directory: report.md, report.json, report.html
};

// Writes the three files (atomically) and returns the markdown.
std::string write_report(const ReportOptions& options);

}  // namespace hone
