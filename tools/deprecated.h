// Old option spellings, accepted for one release: rewritten into the current ones on the command
// line and in --config files, each with a warning that names the new spelling.
//   lora-train, distill   --precision fp32|bf16|auto|fast   ->  --dtype f32|bf16|auto|fast
//   distill               --topk                            ->  --top-k
//   ingest                --split TRAIN,VALID,TEST          ->  --split-ratios
//   distill --cache-teacher ...                             ->  cache-teacher ... (--eval-batch-size
//                                                               becomes --batch-size; the training
//                                                               options it ignored are dropped)
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace hone::tools {

// Rewrites `args` (the arguments of `command`, its name excluded) in place and may change
// `command` (distill --cache-teacher). `apps` finds a command's CLI11 app by name. Returns the
// deprecation warnings, to log once logging is set up.
std::vector<std::string> rewrite_deprecated(std::string& command, std::vector<std::string>& args,
                                            const std::function<const CLI::App*(const std::string&)>& apps);

// A TOML reader for `cmd`'s --config that renames the old keys of `command` (and, for a command
// rewritten from distill --cache-teacher, drops the keys cache-teacher does not have), appending a
// warning to `warnings` for each.
std::shared_ptr<CLI::Config> deprecating_config(const std::string& command, bool from_distill, const CLI::App& cmd,
                                                std::shared_ptr<std::vector<std::string>> warnings);

}  // namespace hone::tools
