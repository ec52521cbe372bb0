// hone: one binary, one subcommand per stage of the pipeline. Parses the global options, hands
// the rest to the subcommand's registration (tools/<command>.cpp), and is the only place that
// catches errors: it logs them and maps them to the exit codes documented in README.md.
#include <spdlog/spdlog.h>

#include <iostream>
#include <new>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"

namespace hone::tools {

void add_config_options(CLI::App& cmd) {
  cmd.set_config("--config", "", "Read options from a TOML file (command-line flags override it)");
  cmd.add_flag("--print-config", "Print the effective configuration as TOML and exit");
}

void not_implemented(const std::string& command, int issue) {
  HONE_THROW(NotImplementedError, Hint{"see the issue tracker; the options above are the planned interface"},
             "hone {} is not built yet (issue #{})", command, issue);
}

}  // namespace hone::tools

int main(int argc, char** argv) {
  using namespace hone;
  CLI::App app{"hone: turn a small language model into a task specialist (LoRA fine-tuning, distillation)", "hone"};
  app.set_version_flag("--version", [] { return version_string(); });
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.get_formatter()->column_width(36);

  LogOptions log;
  int verbose = 0;
  bool quiet = false;
  std::string log_format = "text";
  app.add_flag("-v,--verbose", verbose, "More log output (-vv for trace)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
  app.add_option("--log-format", log_format, "Log line format on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  struct Entry {
    CLI::App* app;
    tools::Run run;
  };
  std::vector<Entry> commands;
  auto add = [&](tools::Run (*reg)(CLI::App&)) {
    tools::Run run = reg(app);
    commands.push_back({app.get_subcommands({}).back(), std::move(run)});
  };
  add(tools::register_ingest);
  add(tools::register_tokenize);
  add(tools::register_lora_train);
  add(tools::register_distill);
  add(tools::register_eval);
  add(tools::register_export);
  add(tools::register_generate);
  add(tools::register_info);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return static_cast<int>(ExitCode::kUsage);
  }

  log.verbosity = quiet ? -1 : verbose;
  log.format = log_format == "json" ? LogFormat::kJson : LogFormat::kText;
  init_logging(log);

  for (const auto& c : commands) {
    if (!c.app->parsed()) continue;
    if (c.app->get_option("--print-config")->as<bool>()) {
      std::cout << c.app->config_to_str(/*default_also=*/true, /*write_description=*/true);
      return 0;
    }
    try {
      c.run();
      return 0;
    } catch (const Error& e) {
      spdlog::error("{}: {}", e.kind(), e.message());
      if (!e.hint().empty()) spdlog::error("hint: {}", e.hint());
      spdlog::debug("raised at {}", e.where());
      return static_cast<int>(e.exit_code());
    } catch (const std::bad_alloc&) {
      spdlog::error("out of memory");
      return static_cast<int>(ExitCode::kRuntime);
    } catch (const std::exception& e) {
      spdlog::error("internal error: {}", e.what());
      return static_cast<int>(ExitCode::kRuntime);
    }
  }
  return static_cast<int>(ExitCode::kUsage);
}
