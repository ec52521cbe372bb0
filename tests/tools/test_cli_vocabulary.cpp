// One vocabulary of options: every subcommand's --help is read, and an option spelling used by
// several commands must mean the same thing in each (the same value kind, and a description that
// says the one meaning declared here). A new option that reuses a spelling with other words fails
// until its meaning is declared, or it is renamed. The old spellings still work, with a warning.
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "helpers.h"

namespace hone {
namespace {

using test::run_hone;
using test::TempDir;

struct HelpOption {
  std::string command;
  std::string kind;         // TEXT, INT, UINT, FLOAT, or "flag"
  std::string description;  // the first line of its help text
};

// The subcommands `hone --help` lists.
std::vector<std::string> subcommands() {
  const std::string help = run_hone({"--help"}).out;
  std::vector<std::string> out;
  std::istringstream in(help.substr(help.find("Subcommands:")));
  std::string line;
  const std::regex entry("^  ([a-z][a-z-]*) .*");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, entry)) out.push_back(m[1]);
  return out;
}

// The long options of `command`'s --help. CLI11 prints "  NAMES [TYPE[...]] [REQUIRED]" in a
// 36-column field, the description beside it or, when the field overflows, on the next line.
std::map<std::string, HelpOption> help_options(const std::string& command) {
  const test::CommandResult r = run_hone({command, "--help"});
  EXPECT_EQ(r.exit_code, 0) << command;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::map<std::string, HelpOption> out;
  const std::regex option("^  (-[^ ]+)( ([A-Z]+)[^ ]*)?.*");
  std::smatch m;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!std::regex_match(lines[i], m, option)) continue;
    HelpOption o{command, m[3].matched ? std::string(m[3]) : "flag", ""};
    if (lines[i].size() > 36 && lines[i][35] == ' ') o.description = lines[i].substr(36);
    else if (i + 1 < lines.size() && lines[i + 1].rfind(std::string(36, ' '), 0) == 0) o.description = lines[i + 1].substr(36);
    std::stringstream names(m[1]);
    for (std::string n; std::getline(names, n, ',');)
      if (n.rfind("--", 0) == 0) out[n] = o;
  }
  return out;
}

// What a spelling means wherever it appears (ECMAScript, case-insensitive, searched in the
// description). Spellings that one registration shares (identical descriptions) need no entry.
const std::map<std::string, std::string>& meanings() {
  static const std::map<std::string, std::string> m = {
      {"--adapter", "adapter directory"},
      {"--batch-size", "(sequences|examples) per"},
      {"--chat", "^apply the chat template"},
      {"--chat-template", "jinja chat template"},
      {"--data", "^(token store|ingested directory)"},
      {"--dtype", "^(compute|weight) type"},  // the number type computed in, or written
      {"--format", "format$|^record format"},  // the format of the records read or the files written
      {"--max-new-tokens", "generat"},
      {"--model", "model"},
      {"--name", "^name of each model"},
      {"--on-error", "^stop at the first bad record"},
      {"--out", "^(output|run directory|the cache file|directory for)"},
      {"--overwrite", "^replace an existing"},
      {"--routing", "routing\\.json"},
      {"--seed", "seed"},
      {"--student", "student"},
      {"--split", "^split of"},  // a split's name, never ratios (ingest: --split-ratios)
      {"--system", "system message"},
      {"--temperature", "temperature"},
      {"--text-field", "^field holding the text"},
      {"--threshold", "the first model's confidence threshold"},
      {"--threads", "threads"},
      {"--top-k", "^the k most likely tokens"},
  };
  return m;
}

TEST(CliVocabulary, NoOptionSpellingHasTwoMeanings) {
  const std::vector<std::string> commands = subcommands();
  ASSERT_GE(commands.size(), 10u);
  std::map<std::string, std::vector<HelpOption>> uses;
  for (const std::string& c : commands)
    for (const auto& [name, o] : help_options(c)) uses[name].push_back(o);
  ASSERT_TRUE(uses.count("--dtype") && uses.count("--top-k") && uses.count("--split")) << "help parsing broke";
  for (const auto& [name, list] : uses) {
    SCOPED_TRACE(name);
    for (const HelpOption& o : list) {
      EXPECT_EQ(o.kind, list.front().kind) << o.command << " takes another kind of value than " << list.front().command;
      EXPECT_FALSE(o.description.empty()) << o.command << ": no help text";
    }
    const auto meaning = meanings().find(name);
    if (meaning == meanings().end()) {
      for (const HelpOption& o : list)
        EXPECT_EQ(o.description, list.front().description)
            << name << " is described differently by " << o.command << " and " << list.front().command
            << ": declare its one meaning in meanings(), or give one of them another name";
      continue;
    }
    const std::regex re(meaning->second, std::regex::ECMAScript | std::regex::icase);
    for (const HelpOption& o : list)
      EXPECT_TRUE(std::regex_search(o.description, re))
          << "hone " << o.command << " " << name << " says '" << o.description << "', not '" << meaning->second << "'";
  }
  // The old spellings are not options of any command any more.
  for (const char* old : {"--precision", "--topk", "--cache-teacher"}) EXPECT_EQ(uses.count(old), 0u) << old;
  for (const HelpOption& o : uses["--split-ratios"]) EXPECT_EQ(o.command, "ingest");
}

// `--print-config` shows the options as the command received them.
test::CommandResult print_config(std::vector<std::string> args) {
  args.push_back("--print-config");
  return run_hone(args);
}

TEST(CliVocabulary, OldSpellingsStillWorkAndWarn) {
  auto r = print_config({"lora-train", "-m", "m.gguf", "--data", "d.h5", "-o", "out", "--precision", "fp32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dtype=\"f32\""), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("--precision is deprecated: use --dtype"), std::string::npos) << r.err;

  r = print_config({"distill", "--data", "d.h5", "-o", "out", "--topk=8", "--precision=bf16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("top-k=8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dtype=\"bf16\""), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("--topk is deprecated: use --top-k"), std::string::npos) << r.err;

  r = print_config({"ingest", "a.jsonl", "-o", "out", "--split", "0.8,0.1,0.1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("split-ratios=[0.8, 0.1, 0.1]"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("--split is deprecated: use --split-ratios"), std::string::npos) << r.err;

  // distill --cache-teacher is hone cache-teacher: its batch size was --eval-batch-size, and the
  // training options it ignored are dropped, each named.
  r = print_config({"distill", "--cache-teacher", "--teacher", "t.gguf", "--data", "d.h5", "-o", "c.h5", "--topk", "4",
                    "--eval-batch-size", "3", "--batch-size", "9", "--lr", "1e-3", "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("top-k=4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batch-size=3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("lr="), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("hone distill --cache-teacher is deprecated: use hone cache-teacher"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("distill --cache-teacher ignored --lr"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("distill --cache-teacher ignored --resume"), std::string::npos) << r.err;

  // Old keys of a --config file.
  TempDir tmp;
  std::ofstream(tmp / "old.toml") << "precision=\"fp32\"\ntopk=16\n";
  r = print_config({"distill", "--data", "d.h5", "-o", "out", "--config", (tmp / "old.toml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dtype=\"f32\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-k=16"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("config key 'precision' is deprecated: use 'dtype'"), std::string::npos) << r.err;

  // The new spellings do not warn; an unknown value is a usage error naming the choices.
  r = print_config({"lora-train", "-m", "m.gguf", "--data", "d.h5", "-o", "out", "--dtype", "bf16"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err.find("deprecated"), std::string::npos) << r.err;
  r = print_config({"eval", "-m", "m.gguf", "--data", "d.h5", "--dtype", "fp64"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fp64 not in {auto,fast,f32,bf16,f16}"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hone
