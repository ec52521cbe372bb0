#include "deprecated.h"

#include <fmt/format.h>

#include <algorithm>

namespace hone::tools {

namespace {

struct Renamed {
  const char* command;
  const char* old_name;  // without the leading "--"
  const char* new_name;
};

constexpr Renamed kRenamed[] = {
    {"lora-train", "precision", "dtype"},
    {"distill", "precision", "dtype"},
    {"cache-teacher", "precision", "dtype"},
    {"distill", "topk", "top-k"},
    {"cache-teacher", "topk", "top-k"},
    {"ingest", "split", "split-ratios"},
};

// --precision's values in --dtype's spelling.
std::string renamed_value(const std::string& old_name, const std::string& value) {
  return old_name == "precision" && value == "fp32" ? "f32" : value;
}

const Renamed* find_renamed(const std::string& command, const std::string& old_name) {
  for (const Renamed& r : kRenamed)
    if (command == r.command && old_name == r.old_name) return &r;
  return nullptr;
}

bool takes_value(const CLI::App& app, const std::string& name) {
  const CLI::Option* o = app.get_option_no_throw(name);
  return o != nullptr && o->get_items_expected_max() != 0;
}

// distill --cache-teacher ARGS -> cache-teacher ARGS: distill's training options, which the flag
// ignored, are dropped; the cache's batch size was --eval-batch-size.
void to_cache_teacher(std::vector<std::string>& args, const CLI::App& distill, const CLI::App& cache,
                      std::vector<std::string>& warnings) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::size_t eq = a.find('=');
    std::string name = a.substr(0, eq);
    const bool is_option = name.size() > 1 && name[0] == '-';
    if (!is_option) {
      out.push_back(a);
      continue;
    }
    if (name == "--cache-teacher") continue;
    if (name == "--eval-batch-size") name = "--batch-size";
    else if (name == "--batch-size" || name == "-b") name = "";  // the training batch: ignored before too
    // The student's options: the flag never cached hidden states, which they now ask cache-teacher for.
    else if (name == "--student" || name == "--layer-choice" || name == "--influence-sample" || name == "--hidden-tokens")
      name = "";
    else if (const Renamed* r = find_renamed("cache-teacher", name.substr(2))) name = std::string("--") + r->new_name;
    if (!name.empty() && cache.get_option_no_throw(name) != nullptr) {
      out.push_back(eq == std::string::npos ? name : name + a.substr(eq));
      continue;
    }
    const std::string shown = a.substr(0, eq);
    warnings.push_back(fmt::format("distill --cache-teacher ignored {}, as it always did", shown));
    if (eq == std::string::npos && takes_value(distill, shown) && i + 1 < args.size()) ++i;
  }
  args = std::move(out);
}

class DeprecatingConfig : public CLI::ConfigTOML {
 public:
  DeprecatingConfig(std::string command, bool from_distill, const CLI::App& cmd,
                    std::shared_ptr<std::vector<std::string>> warnings)
      : command_(std::move(command)), from_distill_(from_distill), cmd_(cmd), warnings_(std::move(warnings)) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input), out;
    for (CLI::ConfigItem& item : items) {
      if (!item.parents.empty()) {
        out.push_back(std::move(item));
        continue;
      }
      if (from_distill_ && item.name == "eval-batch-size") item.name = "batch-size";
      if (const Renamed* r = find_renamed(command_, item.name)) {
        warnings_->push_back(fmt::format("config key '{}' is deprecated: use '{}'", item.name, r->new_name));
        for (std::string& v : item.inputs) v = renamed_value(item.name, v);
        item.name = r->new_name;
      }
      if (from_distill_ && cmd_.get_option_no_throw("--" + item.name) == nullptr) {
        warnings_->push_back(fmt::format("config key '{}' dropped: hone cache-teacher has no such option", item.name));
        continue;
      }
      out.push_back(std::move(item));
    }
    return out;
  }

 private:
  std::string command_;
  bool from_distill_;
  const CLI::App& cmd_;
  std::shared_ptr<std::vector<std::string>> warnings_;
};

}  // namespace

std::vector<std::string> rewrite_deprecated(std::string& command, std::vector<std::string>& args,
                                            const std::function<const CLI::App*(const std::string&)>& apps) {
  std::vector<std::string> warnings;
  if (command == "distill" && std::any_of(args.begin(), args.end(), [](const std::string& a) {
        return a == "--cache-teacher" || a.rfind("--cache-teacher=", 0) == 0;
      })) {
    warnings.push_back("hone distill --cache-teacher is deprecated: use hone cache-teacher");
    to_cache_teacher(args, *apps("distill"), *apps("cache-teacher"), warnings);
    command = "cache-teacher";
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const std::size_t eq = a.find('=');
    const std::string old_name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const Renamed* r = find_renamed(command, old_name);
    if (r == nullptr) continue;
    warnings.push_back(fmt::format("--{} is deprecated: use --{}", r->old_name, r->new_name));
    if (eq != std::string::npos) {
      a = fmt::format("--{}={}", r->new_name, renamed_value(old_name, a.substr(eq + 1)));
    } else {
      a = std::string("--") + r->new_name;
      if (i + 1 < args.size()) args[i + 1] = renamed_value(old_name, args[i + 1]);
    }
  }
  return warnings;
}

std::shared_ptr<CLI::Config> deprecating_config(const std::string& command, bool from_distill, const CLI::App& cmd,
                                                std::shared_ptr<std::vector<std::string>> warnings) {
  return std::make_shared<DeprecatingConfig>(command, from_distill, cmd, std::move(warnings));
}

}  // namespace hone::tools
