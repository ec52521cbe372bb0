// hone info FILE: a readable summary of a .gguf, .safetensors, HF model directory or .h5 file.
#include <iostream>

#include "command.h"
#include "inspect/info.h"

namespace hone::tools {

Run register_info(CLI::App& root) {
  struct Options {
    std::string path;      // file or directory to describe
    InfoOptions info;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("info", "Summarise a model, adapter or token-store file");
  add_config_options(*cmd);
  cmd->add_option("file", o->path, ".gguf, .safetensors, .h5 file or HF model directory")->required();
  cmd->add_flag("--all-metadata", o->info.all_metadata, "List every metadata key, arrays included")->capture_default_str();
  cmd->add_option("--tensors", o->info.max_tensors, "List up to N tensors with their type and shape")->capture_default_str();
  return [o] { std::cout << describe_file(o->path, o->info); };
}

}  // namespace hone::tools
