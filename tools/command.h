// The frame every subcommand plugs into: one registration function per tools/<command>.cpp.
// A tool file registers its options (each bound to a field of a typed options struct, with its
// help text and default shown by --help) and returns the one call into lib/ that does the work.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace hone::tools {

using Run = std::function<void()>;

// Adds `--config FILE.toml` (every option is also a config key; the command line overrides the
// file) and `--print-config` (print the effective configuration as TOML and exit) to `cmd`.
void add_config_options(CLI::App& cmd);

Run register_info(CLI::App& root);
Run register_ingest(CLI::App& root);
Run register_tokenize(CLI::App& root);
Run register_lora_train(CLI::App& root);
Run register_distill(CLI::App& root);
Run register_cache_teacher(CLI::App& root);
Run register_eval(CLI::App& root);
Run register_classify(CLI::App& root);
Run register_export(CLI::App& root);
Run register_generate(CLI::App& root);
Run register_report(CLI::App& root);

}  // namespace hone::tools
