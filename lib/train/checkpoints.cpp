#include "train/checkpoints.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <spdlog/spdlog.h>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/json_file.h"
#include "core/kill_point.h"
#include "text/sha256.h"
#include "train/lora.h"
#include "train/optim.h"

namespace hone {

using nlohmann::json;

namespace {

// A checkpoint directory's name: step-NNNNNNNN.
const std::regex& checkpoint_name() {
  static const std::regex name("step-([0-9]{8})");
  return name;
}

// Every checkpoint directory under `out`, by step (complete or not: a directory of that name is
// only ever made by renaming a complete one into place).
std::vector<CheckpointRef> list_checkpoints(const fs::path& out) {
  std::vector<CheckpointRef> all;
  const fs::path root = checkpoint_root(out);
  if (!fs::is_directory(root)) return all;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(n, m, checkpoint_name()))
      all.push_back({std::stoll(m[1].str()), entry.path()});
  }
  std::sort(all.begin(), all.end(), [](const CheckpointRef& a, const CheckpointRef& b) { return a.step < b.step; });
  return all;
}

// Removes the leftovers of interrupted writes and all but the newest `keep` checkpoints (at
// least one).
void prune_checkpoints(const fs::path& out, std::int64_t keep) {
  const fs::path root = checkpoint_root(out);
  remove_stale_temporaries(root);
  static const std::regex legacy("step-[0-9]{8}\\.tmp-[0-9]+");  // leftovers of an earlier naming
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string n = entry.path().filename().string();
    if (std::regex_match(n, legacy)) fs::remove_all(entry.path());
  }
  const std::vector<CheckpointRef> all = list_checkpoints(out);
  const std::size_t k = static_cast<std::size_t>(std::max<std::int64_t>(1, keep));
  for (std::size_t i = 0; i + k < all.size(); ++i) {
    fs::remove_all(all[i].dir);
    kill_point("checkpoint.prune");
  }
}

// The size and SHA-256 of a file just written, as state.json records them.
json file_record(const fs::path& file) {
  const auto map = MappedFile::open(file);
  Sha256 h;
  h.update(map->data(), map->size());
  return {{"bytes", map->size()}, {"sha256", h.hex_digest()}};
}

// InputError naming the file when it is not the one state.json recorded. Checkpoints written
// before the records existed have none and are taken as they are.
void verify_files(const fs::path& dir, const json& state) {
  if (!state.contains("files")) return;
  const std::string src = (dir / "state.json").string();
  HONE_CHECK(state["files"].is_object(), InputError, "{}: 'files' is not an object", src);
  for (const char* name : {"params.safetensors", "optimizer.safetensors"}) {
    const json& r = state["files"].value(name, json());
    HONE_CHECK(r.is_object() && r.value("bytes", json()).is_number_unsigned() && r.value("sha256", json()).is_string(),
               InputError, "{}: no record of {} (its bytes and sha256)", src, name);
    const fs::path file = dir / name;
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(file, ec);
    HONE_CHECK(!ec, InputError, "{}: cannot read: {}", file.string(), ec.message());
    const auto expected = r["bytes"].get<std::uint64_t>();
    HONE_CHECK(size == expected, InputError, "{}: {} bytes, state.json recorded {} (truncated or overwritten)",
               file.string(), size, expected);
    const json actual = file_record(file);
    HONE_CHECK(actual["sha256"] == r["sha256"], InputError,
               "{}: its SHA-256 is {}, state.json recorded {} (the file changed after it was written)", file.string(),
               actual["sha256"].get<std::string>(), r["sha256"].get<std::string>());
  }
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

// A checkpoint that cannot be read: InputError naming it and what was wrong, with the way back to
// the previous checkpoint, when one is kept.
[[noreturn]] void throw_damaged(const fs::path& dir, const fs::path& out, const InputError& e) {
  std::int64_t step = 0;
  std::smatch m;
  const std::string n = dir.filename().string();
  if (std::regex_match(n, m, checkpoint_name())) step = std::stoll(m[1].str());
  const std::optional<CheckpointRef> prev = previous_checkpoint(out, step);
  const std::string hint =
      prev ? fmt::format("resume from the previous checkpoint (step {}) with --resume-from {}", prev->step,
                         prev->dir.string())
           : fmt::format("no earlier checkpoint is kept in {}: start the run again in a new --out",
                         checkpoint_root(out).string());
  HONE_THROW(InputError, Hint{hint}, "checkpoint {} is damaged: {}", dir.string(), e.message());
}

}  // namespace

fs::path checkpoint_root(const fs::path& out) { return out / "checkpoints"; }

fs::path checkpoint_dir(const fs::path& out, std::int64_t step) {
  return checkpoint_root(out) / fmt::format("step-{:08}", step);
}

std::optional<CheckpointRef> latest_checkpoint(const fs::path& out) {
  const std::vector<CheckpointRef> all = list_checkpoints(out);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::optional<CheckpointRef> previous_checkpoint(const fs::path& out, std::int64_t step) {
  std::optional<CheckpointRef> best;
  for (const CheckpointRef& c : list_checkpoints(out))
    if (c.step < step && fs::exists(c.dir / "state.json")) best = c;
  return best;
}

CheckpointRef named_checkpoint(const fs::path& out, const fs::path& dir) {
  const fs::path given = fs::exists(dir) || dir.has_parent_path() ? dir : checkpoint_root(out) / dir;
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(given, ec);
  for (const CheckpointRef& c : list_checkpoints(out))
    if (fs::weakly_canonical(c.dir, ec) == canonical) return c;
  HONE_THROW(UsageError, Hint{fmt::format("give one of the directories in {}", checkpoint_root(out).string())},
             "--resume-from {}: not a checkpoint of the run in {}", dir.string(), out.string());
}

void discard_checkpoints_after(const fs::path& out, std::int64_t step) {
  for (const CheckpointRef& c : list_checkpoints(out)) {
    if (c.step <= step) continue;
    fs::path aside = c.dir;
    aside += ".discarded";
    fs::remove_all(aside);
    fs::rename(c.dir, aside);
    spdlog::warn("{}: newer than the checkpoint resumed from; moved to {} (delete it when no longer needed)",
                 c.dir.string(), aside.string());
  }
}

void save_checkpoint(const fs::path& out, std::int64_t step, const std::vector<TrainableParam>& params,
                     const AdamW& optimizer, const json& state, std::int64_t keep) {
  fs::create_directories(checkpoint_root(out));
  AtomicDir dir(checkpoint_dir(out, step));
  kill_point("checkpoint.begin");
  write_parameters(dir.path() / "params.safetensors", params);
  kill_point("checkpoint.params");
  optimizer.save(dir.path() / "optimizer.safetensors");
  kill_point("checkpoint.optimizer");
  json full = state;
  full["files"] = {{"params.safetensors", file_record(dir.path() / "params.safetensors")},
                   {"optimizer.safetensors", file_record(dir.path() / "optimizer.safetensors")}};
  write_file_atomic(dir.path() / "state.json", full.dump(2) + "\n");
  kill_point("checkpoint.state");
  dir.commit();
  kill_point("checkpoint.committed");
  prune_checkpoints(out, keep);
}

CheckpointState load_checkpoint(const fs::path& dir, const json& identity, const fs::path& out,
                                const std::vector<TrainableParam>& params, AdamW& optimizer) {
  const std::string src = (dir / "state.json").string();
  json state;
  try {
    state = read_json_object(dir / "state.json");
    HONE_CHECK(state.contains("identity") && state["identity"].is_object() && state.contains("step") &&
                   state["step"].is_number_integer(),
               InputError, "{}: not a hone checkpoint state (an 'identity' object and an integer 'step')", src);
  } catch (const InputError& e) {
    throw_damaged(dir, out, e);
  }
  check_identity(state["identity"], identity, out);
  try {
    verify_files(dir, state);
    load_parameters(dir / "params.safetensors", params);
    optimizer.load(dir / "optimizer.safetensors");
  } catch (const InputError& e) {
    throw_damaged(dir, out, e);
  }
  CheckpointState s;
  s.step = state["step"].get<std::int64_t>();
  s.best_valid_loss = json_value<double>(state, "best_valid_loss", -1.0, src);
  s.best_step = json_value<std::int64_t>(state, "best_step", -1, src);
  return s;
}

}  // namespace hone
