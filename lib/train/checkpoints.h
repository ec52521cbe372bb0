// Training checkpoints: out/checkpoints/step-00000120/{params.safetensors, optimizer.safetensors,
// state.json}. A checkpoint is written under a temporary name and renamed into place, so a run
// killed at any moment leaves only complete checkpoints (and leftovers the next save removes).
// state.json records each file's size and SHA-256, so that a checkpoint damaged afterwards
// (truncated, overwritten, a disk error) is refused on resume rather than trusted.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "core/fs.h"

namespace hone {

class AdamW;
struct TrainableParam;

// out/checkpoints
fs::path checkpoint_root(const fs::path& out);
// out/checkpoints/step-NNNNNNNN
fs::path checkpoint_dir(const fs::path& out, std::int64_t step);

struct CheckpointRef {
  std::int64_t step = 0;
  fs::path dir;
};

// The checkpoint of the highest step under `out`, if any (load_checkpoint finds out whether it is
// whole: a newest checkpoint that is damaged is an error, never skipped in silence).
std::optional<CheckpointRef> latest_checkpoint(const fs::path& out);

// The newest checkpoint with a state.json below `step`, if any.
std::optional<CheckpointRef> previous_checkpoint(const fs::path& out, std::int64_t step);

// The checkpoint of `out` that `dir` names (a path, or a name under out/checkpoints) for
// --resume-from; UsageError when it is not one of them.
CheckpointRef named_checkpoint(const fs::path& out, const fs::path& dir);

// Moves the checkpoints after `step` aside (step-N.discarded), so that a run resumed from an
// earlier checkpoint neither prunes its own nor meets them again.
void discard_checkpoints_after(const fs::path& out, std::int64_t step);

// Writes the parameters, the optimiser state and `state` (state.json) as the checkpoint of `step`,
// then removes all but the newest `keep` checkpoints (at least the one just written) and any
// leftover of an interrupted write.
void save_checkpoint(const fs::path& out, std::int64_t step, const std::vector<TrainableParam>& params,
                     const AdamW& optimizer, const nlohmann::json& state, std::int64_t keep);

// What a checkpoint's state.json records beside the identity.
struct CheckpointState {
  std::int64_t step = 0;
  double best_valid_loss = -1.0;  // -1: none yet
  std::int64_t best_step = -1;
};

// Reads the checkpoint in `dir` into `params` and `optimizer`. UsageError naming the first setting
// that differs when its saved identity is not `identity` (every key of either counts; `out` names
// the run); InputError "checkpoint DIR is damaged: ..." when state.json is not a hone checkpoint's,
// or a file is missing, unreadable or not the one state.json recorded, with --resume-from of the
// previous checkpoint as the hint.
CheckpointState load_checkpoint(const fs::path& dir, const nlohmann::json& identity, const fs::path& out,
                                const std::vector<TrainableParam>& params, AdamW& optimizer);

}  // namespace hone
