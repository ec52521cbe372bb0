// hone ingest INPUT... -o DIR: validated, canonical examples with deterministic splits (issue #4).
#include "command.h"

namespace hone::tools {

Run register_ingest(CLI::App& root) {
  struct Options {
    std::vector<std::string> inputs;  // JSONL, JSON, CSV/TSV, TXT (optionally .gz)
    std::string out;                  // output directory
    std::string format = "auto";      // record format
    std::string split = "0.9,0.05,0.05";
    std::string on_error = "fail";
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("ingest", "Validate raw data (JSONL/CSV/TXT) into canonical train/valid/test splits");
  add_config_options(*cmd);
  cmd->add_option("inputs", o->inputs, "Input files")->required();
  cmd->add_option("-o,--out", o->out, "Output directory")->required();
  cmd->add_option("--format", o->format, "Record format")
      ->check(CLI::IsMember({"auto", "text", "prompt-completion", "alpaca", "chat", "classification"}))
      ->capture_default_str();
  cmd->add_option("--split", o->split, "Train,valid,test fractions")->capture_default_str();
  cmd->add_option("--on-error", o->on_error, "Stop at the first bad record, or skip and log it")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  return [o] { (void)o; not_implemented("ingest", 4); };  // `o` owns the bound option values
}

}  // namespace hone::tools
