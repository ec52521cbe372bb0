#include "train/checkpoints.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/json_file.h"
#include "train/lora.h"
#include "train/optim.h"

namespace hone {

using nlohmann::json;

namespace {

// Removes the leftovers of interrupted writes (step-N.tmp-PID) and all but the newest `keep`
// checkpoints (at least one).
void prune_checkpoints(const fs::path& root, std::int64_t keep) {
  std::vector<std::pair<std::int64_t, fs::path>> all;
  static const std::regex name("step-([0-9]{8})(\\.tmp-[0-9]+)?");
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(n, m, name)) {
      if (m[2].matched) {
        fs::remove_all(entry.path());  // an interrupted write
        continue;
      }
      all.emplace_back(std::stoll(m[1].str()), entry.path());
    }
  }
  std::sort(all.begin(), all.end());
  const std::int64_t k = std::max<std::int64_t>(1, keep);
  for (std::size_t i = 0; i + k < all.size(); ++i) fs::remove_all(all[i].second);
}

// Refuses to resume when a setting of the run's identity changed: every key of either identity,
// so that a setting added or dropped on resume is refused too.
void check_identity(const json& saved, const json& identity, const fs::path& out) {
  std::set<std::string> keys;
  for (const auto& [key, value] : identity.items()) keys.insert(key);
  for (const auto& [key, value] : saved.items()) keys.insert(key);
  for (const std::string& key : keys)
    HONE_CHECK(saved.contains(key) && identity.contains(key) && saved[key] == identity[key], UsageError,
               Hint{"resume with the options of the original run (its config.toml), or start a new --out"},
               "cannot resume {}: '{}' was {} and is now {}", out.string(), key, saved.value(key, json()).dump(),
               identity.contains(key) ? identity[key].dump() : "unset");
}

}  // namespace

fs::path checkpoint_root(const fs::path& out) { return out / "checkpoints"; }

fs::path checkpoint_dir(const fs::path& out, std::int64_t step) {
  return checkpoint_root(out) / fmt::format("step-{:08}", step);
}

std::optional<CheckpointRef> latest_checkpoint(const fs::path& out) {
  const fs::path root = checkpoint_root(out);
  if (!fs::is_directory(root)) return std::nullopt;
  std::optional<CheckpointRef> best;
  static const std::regex name("step-([0-9]{8})");
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(n, m, name)) continue;  // skips *.tmp-* leftovers
    if (!fs::exists(entry.path() / "state.json")) continue;
    const std::int64_t step = std::stoll(m[1].str());
    if (!best || step > best->step) best = CheckpointRef{step, entry.path()};
  }
  return best;
}

void save_checkpoint(const fs::path& out, std::int64_t step, const std::vector<TrainableParam>& params,
                     const AdamW& optimizer, const json& state, std::int64_t keep) {
  const fs::path root = checkpoint_root(out);
  fs::create_directories(root);
  const fs::path final_dir = checkpoint_dir(out, step);
  const fs::path tmp = root / fmt::format("step-{:08}.tmp-{}", step, ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_parameters(tmp / "params.safetensors", params);
  optimizer.save(tmp / "optimizer.safetensors");
  write_file_atomic(tmp / "state.json", state.dump(2) + "\n");
  if (fs::exists(final_dir)) fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  prune_checkpoints(root, keep);
}

CheckpointState load_checkpoint(const fs::path& dir, const json& identity, const fs::path& out,
                                const std::vector<TrainableParam>& params, AdamW& optimizer) {
  const std::string src = (dir / "state.json").string();
  const json state = read_json_object(dir / "state.json");
  HONE_CHECK(state.contains("identity") && state["identity"].is_object() && state.contains("step") &&
                 state["step"].is_number_integer(),
             InputError, "{}: not a hone checkpoint state (an 'identity' object and an integer 'step')", src);
  check_identity(state["identity"], identity, out);
  load_parameters(dir / "params.safetensors", params);
  optimizer.load(dir / "optimizer.safetensors");
  CheckpointState s;
  s.step = state["step"].get<std::int64_t>();
  s.best_valid_loss = json_value<double>(state, "best_valid_loss", -1.0, src);
  s.best_step = json_value<std::int64_t>(state, "best_step", -1, src);
  return s;
}

}  // namespace hone
