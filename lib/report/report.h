// `hone report`: one page that compares the models of a recipe side by side (from `hone eval`
// reports), with their training runs (run.json, metrics.jsonl), the exported files with the
// command that serves each, and each model's sizes on disk side by side (as evaluated and as
// exported), and where the eval reports measured it, each model's confidence and a cascade of two
// models (report/selective_charts.h), and where an eval report compared its models with a baseline
// or gated them, the feedback round (report/gate_section.h): report.md, report.json and a
// self-contained report.html
// (inline SVG charts, no scripts, no external files). No LibTorch: it reads what the other
// commands wrote.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/fs.h"

namespace hone {

// An output of `hone export` (or a model directory another command wrote, such as a distilled
// student's OUT/model), and the evaluated model whose weights it holds.
struct ReportExport {
  std::string format;  // peft, hf, gguf, gguf-lora (as `hone export --format`)
  fs::path path;
  std::string model;   // the name of an evaluated model ("": none; it then has no column in the sizes)
};

struct ReportOptions {
  std::string title = "hone report";
  // `hone eval --report` files; their models, in order. One may hold a cascade: its report's rows
  // for models an earlier report gave are left out.
  std::vector<fs::path> evals;
  // (model name, run directory of lora-train or distill): training time, steps and loss curve.
  std::vector<std::pair<std::string, fs::path>> runs;
  // The exports: listed with the commands that serve them, and sized beside their models.
  std::vector<ReportExport> exports;
  fs::path base_model;  // the base the adapters apply to (for the serve commands)
  // The chat template the models were trained with, for the serve commands of outputs that do not
  // carry it (a GGUF LoRA adapter, served with the base's template otherwise).
  fs::path chat_template;
  fs::path out;         // directory: report.md, report.json, report.html
};

// Writes the three files (atomically) and returns the markdown.
std::string write_report(const ReportOptions& options);

}  // namespace hone
