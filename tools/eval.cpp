// hone eval: perplexity, classification accuracy/F1, exact match, format validity, latency (issue #6).
#include "command.h"

namespace hone::tools {

Run register_eval(CLI::App& root) {
  struct Options {
    std::vector<std::string> models;    // one or more models, evaluated side by side
    std::vector<std::string> adapters;  // adapter per model (optional)
    std::string data;                   // ingested directory or token store
    std::string report;                 // JSON report path
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("eval", "Measure a model (and adapter) on a data set");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->models, "Model(s) to evaluate")->required();
  cmd->add_option("--adapter", o->adapters, "Adapter directory for each --model");
  cmd->add_option("--data", o->data, "Ingested directory or token store")->required();
  cmd->add_option("--report", o->report, "Write the JSON report here");
  return [o] { (void)o; not_implemented("eval", 6); };  // `o` owns the bound option values
}

}  // namespace hone::tools
