// hone: one binary, one subcommand per stage of the pipeline. Parses the global options, hands
// the rest to the subcommand's registration (tools/<command>.cpp), and is the only place that
// catches errors: it logs them and maps them to the exit codes documented in README.md.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <new>
#include <vector>

#include "command.h"
#include "deprecated.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "train/dist_backend.h"

namespace hone::tools {

void add_config_options(CLI::App& cmd) {
  cmd.set_config("--config", "", "Read options from a TOML file (command-line flags override it)");
  cmd.allow_config_extras(CLI::config_extras_mode::error);  // an unknown key is an error, not ignored
  cmd.add_flag("--print-config", "Print the effective configuration as TOML and exit")->configurable(false);
}

}  // namespace hone::tools

namespace {

struct GlobalOptions {
  int verbose = 0;                 // -v debug, -vv trace
  bool quiet = false;              // warnings and errors only
  std::string log_format = "text";
};

// Global flags are accepted by the root and by every subcommand (before or after its name).
void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.add_flag("-v,--verbose", g.verbose, "More log output (-vv for trace)");
  app.add_flag("-q,--quiet", g.quiet, "Only warnings and errors");
  app.add_option("--log-format", g.log_format, "Log line format on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

// Edit distance (insertions, deletions, substitutions, adjacent transpositions) between a and b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The candidate nearest to `word`, if it is near enough to be a likely misspelling.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates)
    if (const std::size_t d = edit_distance(word, c); d < best_d) {
      best_d = d;
      best = c;
    }
  return best;
}

// Whether usage errors found before or while the options are parsed are logged as JSON: the
// command line asks for --log-format json (a config file's log-format applies once it is read).
bool json_usage_errors = false;

bool json_requested(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-format" && i + 1 < argc) json = std::string(argv[++i]) == "json";
    else if (a.rfind("--log-format=", 0) == 0) json = a.substr(a.find('=') + 1) == "json";
  }
  return json;
}

// A usage error and its hint (exit 2): "hone: usage error: ..." and "hint: ..." lines in text, or
// two JSON log lines; escaped either way (core/log.h), as the message quotes the command line or
// a config file.
int usage_error(const std::string& message, const std::string& hint) {
  if (json_usage_errors) {
    spdlog::error("usage error: {}", message);
    spdlog::error("hint: {}", hint);
  } else {
    std::cerr << "hone: usage error: " << hone::log_text(message) << "\nhint: " << hone::log_text(hint) << "\n";
  }
  return static_cast<int>(hone::ExitCode::kUsage);
}

// An unknown subcommand or option, named, with the nearest valid one (exit 2).
int unknown_word(const std::string& what, const std::string& word, const std::vector<std::string>& valid,
                 const std::string& help) {
  const std::string near = nearest(word, valid);
  return usage_error(fmt::format("unknown {}: '{}'", what, word),
                     near.empty() ? help : fmt::format("did you mean '{}'? ({})", near, help));
}

// The long names (--x) of `cmd`'s options.
std::vector<std::string> long_options(const CLI::App& cmd) {
  std::vector<std::string> out;
  for (const CLI::Option* o : cmd.get_options())
    for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
  return out;
}

// Maps a CLI11 parse outcome to an exit code: help and version (on stdout) are not errors.
int parse_exit(CLI::App& app, const CLI::ParseError& e, const std::string& hint) {
  return e.get_exit_code() == 0 ? app.exit(e) : usage_error(e.what(), hint);
}

struct Command {
  CLI::App* app;
  hone::tools::Run run;
};

const Command* find_command(const std::vector<Command>& commands, const std::string& name) {
  for (const auto& c : commands)
    if (c.app->get_name() == name) return &c;
  return nullptr;
}

// The subcommand named on the command line and its arguments (global flags before its name
// included, so that the subcommand parses them and reads its --config file before it checks
// required options). Null when none is named: the root then parses argv.
const Command* split_command(int argc, char** argv, const std::vector<Command>& commands,
                             std::vector<std::string>& args) {
  for (int i = 1; i < argc; ++i) {
    if (const Command* c = find_command(commands, argv[i])) {
      args.assign(argv + 1, argv + i);
      args.insert(args.end(), argv + i + 1, argv + argc);
      return c;
    }
    if (std::string(argv[i]) == "--log-format") ++i;  // the only global option that takes a separate value
    else if (argv[i][0] != '-') break;
  }
  return nullptr;
}

// The first argument that names neither a command nor an option, or "".
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--log-format") ++i;
    else if (argv[i][0] != '-') return argv[i];
  }
  return "";
}

// Usage error (2) for an unknown --option, named before CLI11 checks the required ones (which it
// does first); 0 when every option is known.
int check_options(const CLI::App& cmd, const std::vector<std::string>& args) {
  const std::vector<std::string> valid = long_options(cmd);
  for (const std::string& a : args) {
    const std::string name = a.substr(0, a.find('='));
    if (name.size() > 2 && name.rfind("--", 0) == 0 && std::find(valid.begin(), valid.end(), name) == valid.end())
      return unknown_word("option of hone " + cmd.get_name(), name, valid,
                          fmt::format("`hone {} --help` lists the options", cmd.get_name()));
  }
  return 0;
}

// Parses `args` into `cmd`: -1 when the command is to run, else the exit code (help: 0).
int parse_command(CLI::App& cmd, std::vector<std::string> args) {
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes the vector in reverse order
    cmd.parse(args);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::cout << cmd.help("hone");  // "Usage: hone <command> ..."
    return 0;
  } catch (const CLI::ConfigError& e) {
    // CLI11 says "INI was not able to parse KEY"; name the file and the command instead.
    const std::string what = e.what(), prefix = "INI was not able to parse ";
    const std::string key = what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
    const auto files = cmd.get_config_ptr()->results();
    return usage_error(fmt::format("{}: key '{}' is not an option of hone {}",
                                   files.empty() ? std::string("config") : files.back(), key, cmd.get_name()),
                       fmt::format("`hone {} --help` lists the options; their long names are the keys", cmd.get_name()));
  } catch (const CLI::ParseError& e) {
    return parse_exit(cmd, e, fmt::format("`hone {} --help` lists the options", cmd.get_name()));
  }
}

// Runs the command; errors are logged and mapped to the documented exit codes.
int run_command(const Command& c) {
  using hone::ExitCode;
  try {
    c.run();
    return 0;
  } catch (const hone::Error& e) {
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

}  // namespace

int main(int argc, char** argv) {
  using namespace hone;
  // A write past a file-size limit (RLIMIT_FSIZE) then fails with EFBIG, which the writers report
  // as an error (exit 1), instead of the signal ending the process with a core dump.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"hone: turn a small language model into a task specialist (LoRA fine-tuning, distillation)", "hone"};
  app.set_version_flag("--version", [] {
    const std::string nccl = nccl_built() ? "NCCL " + nccl_version() : "no NCCL";
    return version_string() + " [" + nccl + "; malloc: " HONE_MALLOC "; " + cpu_bf16_description() + "]";
  });
  app.require_subcommand(1);
  app.get_formatter()->column_width(36);
  GlobalOptions global;
  add_global_options(app, global);
  json_usage_errors = json_requested(argc, argv);
  init_logging({0, json_usage_errors ? LogFormat::kJson : LogFormat::kText});  // for errors in parsing
  std::vector<Command> commands;
  for (auto reg : {tools::register_ingest, tools::register_tokenize, tools::register_lora_train, tools::register_distill,
                   tools::register_cache_teacher, tools::register_eval, tools::register_classify,
                   tools::register_export, tools::register_generate, tools::register_report, tools::register_info}) {
    tools::Run run = reg(app);
    CLI::App* cmd = app.get_subcommands([](const CLI::App*) { return true; }).back();
    add_global_options(*cmd, global);
    commands.push_back({cmd, std::move(run)});
  }

  std::vector<std::string> args;
  const Command* chosen = split_command(argc, argv, commands, args);
  if (chosen == nullptr) {
    if (const std::string word = first_word(argc, argv); !word.empty()) {
      std::vector<std::string> names;
      for (const auto& c : commands) names.push_back(c.app->get_name());
      return unknown_word("command", word, names, "`hone --help` lists the commands");
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return parse_exit(app, e, "`hone --help` lists the commands");
    }
    return static_cast<int>(ExitCode::kUsage);
  }
  // Old spellings become current ones (warned about once logging is set up).
  std::string name = chosen->app->get_name();
  const auto warnings = std::make_shared<std::vector<std::string>>(tools::rewrite_deprecated(
      name, args, [&](const std::string& n) { return find_command(commands, n)->app; }));
  const bool from_distill = name != chosen->app->get_name();
  chosen = find_command(commands, name);
  CLI::App& cmd = *chosen->app;
  cmd.config_formatter(tools::deprecating_config(name, from_distill, cmd, warnings));
  if (const int rc = check_options(cmd, args); rc != 0) return rc;
  if (const int rc = parse_command(cmd, args); rc >= 0) return rc;

  init_logging({global.quiet ? -1 : global.verbose, global.log_format == "json" ? LogFormat::kJson : LogFormat::kText});
  for (const std::string& w : *warnings) spdlog::warn("{}", w);
  if (cmd.get_option("--print-config")->as<bool>()) {
    std::cout << cmd.config_to_str(/*default_also=*/true, /*write_description=*/true) << "\n";
    return 0;
  }
  return run_command(*chosen);
}
