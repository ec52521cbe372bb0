// hone report: compare a recipe's models side by side (from hone eval reports), with their
// training runs and exported files: report.md, report.json and a self-contained report.html.
#include "command.h"
#include "core/error.h"
#include "report/report.h"

#include <fmt/format.h>

#include <iostream>

namespace hone::tools {

namespace {

// "NAME=PATH" -> (NAME, PATH).
std::pair<std::string, fs::path> name_and_path(const std::string& s, const char* option) {
  const auto eq = s.find('=');
  HONE_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < s.size(), UsageError, "{} '{}': expected NAME=PATH", option, s);
  return {s.substr(0, eq), fs::path(s.substr(eq + 1))};
}

}  // namespace

Run register_report(CLI::App& root) {
  struct Options {
    ReportOptions r;
    std::vector<std::string> evals, runs, exports;
    std::string base, out;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("report", "Compare evaluated models, their training and exports in one report");
  add_config_options(*cmd);
  cmd->add_option("--eval", o->evals, "Report of hone eval (repeatable; its models in order)")->required();
  cmd->add_option("--run", o->runs, "MODEL=DIR: the lora-train or distill run that trained an evaluated model (repeatable)");
  cmd->add_option("--export", o->exports,
                  "[MODEL:]FORMAT=PATH: an output of hone export, of the evaluated model MODEL (repeatable)");
  cmd->add_option("--base-model", o->base, "The base model the adapters apply to (for the serve commands)");
  cmd->add_option("--title", o->r.title, "Title of the report")->capture_default_str();
  cmd->add_option("--chat-template", o->r.chat_template,
                  "The Jinja chat template training used, for the serve commands of a GGUF LoRA adapter");
  cmd->add_option("-o,--out", o->out, "Directory for report.md, report.json and report.html")->required();
  return [o] {
    ReportOptions r = o->r;
    for (const auto& e : o->evals) r.evals.emplace_back(e);
    for (const auto& s : o->runs) r.runs.push_back(name_and_path(s, "--run"));
    for (const auto& s : o->exports) {
      auto [name, path] = name_and_path(s, "--export");
      ReportExport e{name, path, ""};
      if (const auto colon = name.find(':'); colon != std::string::npos) {
        e.model = name.substr(0, colon);
        e.format = name.substr(colon + 1);
        HONE_CHECK(!e.model.empty(), UsageError, "--export '{}': expected [MODEL:]FORMAT=PATH", s);
      }
      HONE_CHECK(e.format == "peft" || e.format == "hf" || e.format == "gguf" || e.format == "gguf-lora", UsageError,
                 "--export {}: the format must be peft, hf, gguf or gguf-lora", s);
      r.exports.push_back(std::move(e));
    }
    r.base_model = o->base;
    r.out = o->out;
    std::cout << write_report(r);
    std::cout << fmt::format("report: {}\n", (r.out / "report.html").string());
  };
}

}  // namespace hone::tools
