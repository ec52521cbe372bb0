// Crash safety of `hone lora-train`: SIGKILL at 20 points of writing checkpoints and outputs
// (HONE_TEST_KILL_AT, lib/core/kill_point.h), after each of which --resume ends bitwise where the
// uninterrupted run ends; a damaged newest checkpoint refused with the way back (--resume-from);
// and a full disk (RLIMIT_FSIZE) stopping the run with exit 1 and the last checkpoint intact.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

using nlohmann::json;

// Entries under `dir` (recursively) that a writer leaves while it is writing: what must be gone
// once a resumed run has ended.
std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp") != std::string::npos || n.find(".old.") != std::string::npos) found.push_back(e.path().string());
  }
  return found;
}

// step -> training loss of a run's metrics.jsonl (the lines of optimiser steps).
std::map<long, double> losses(const fs::path& run) {
  std::map<long, double> m;
  for (const json& j : read_jsonl(run / "metrics.jsonl"))
    if (j.contains("loss") && j.contains("step")) m[j["step"].get<long>()] = j["loss"].get<double>();
  return m;
}

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    model_ = write_tiny_gguf(tmp_.path());
    store_ = make_store(tmp_.path(), model_, 64, 16, /*packed=*/false);
    reference_ = tmp_ / "whole";
    const CommandResult r = run_hone(args(reference_));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Six steps, a checkpoint every two (two kept, so the third save prunes), an evaluation every
  // two (the best adapter is written), dropout (the random state must resume too).
  std::vector<std::string> args(const fs::path& out) const {
    return {"lora-train", "-m", model_.string(), "--data", store_.string(), "-o", out.string(), "--progress", "none",
            "--threads", "1", "-q", "--max-steps", "6", "-b", "4", "--save-every", "2", "--keep-checkpoints", "2",
            "--eval-every", "2", "--lr", "5e-3", "--lora-dropout", "0.1", "--seed", "3"};
  }

  // The run in `out` ended as the uninterrupted one did: the same adapter, best adapter, kept
  // checkpoints and losses, and nothing half-written left behind.
  void expect_as_reference(const fs::path& out, const std::string& what) const {
    for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "best/adapter_model.safetensors",
                          "checkpoints/step-00000004/params.safetensors",
                          "checkpoints/step-00000006/params.safetensors",
                          "checkpoints/step-00000006/optimizer.safetensors"}) {
      ASSERT_TRUE(fs::exists(out / f)) << what << ": " << f;
      EXPECT_EQ(read_bytes(out / f), read_bytes(reference_ / f)) << what << ": " << f;
    }
    EXPECT_FALSE(fs::exists(out / "checkpoints/step-00000002")) << what << ": not pruned";
    EXPECT_TRUE(fs::exists(out / "run.json")) << what;
    EXPECT_EQ(losses(out), losses(reference_)) << what;
    EXPECT_EQ(leftovers(out), std::vector<std::string>{}) << what;
  }

  TempDir tmp_;
  fs::path model_, store_, reference_;
};

TEST_F(CrashSafety, KillAtTwentyPointsOfWritingThenResumeIsBitwiseIdentical) {
  // Spread over the run: the files written at its start, partial and complete checkpoint files,
  // the checkpoint directory's rename, pruning, the best adapter, and the final outputs. file.write
  // counts every write of every file written atomically (a checkpoint is about 90 of them).
  const std::vector<std::string> points{
      "file.write:2",         "file.write:17",        "file.write:40",          "file.write:75",
      "file.write:110",       "file.write:160",       "file.write:230",         "file.commit:3",
      "file.commit:8",        "checkpoint.begin:1",   "checkpoint.params:1",    "checkpoint.optimizer:2",
      "checkpoint.state:1",   "dir.commit:2",         "checkpoint.committed:1", "checkpoint.prune:1",
      "outputs.best:2",       "checkpoint.begin:3",   "outputs.weights:1",      "outputs.curve:1"};
  ASSERT_EQ(points.size(), 20u);
  int i = 0;
  for (const std::string& point : points) {
    const fs::path out = tmp_ / ("killed-" + std::to_string(i++));
    Child c = spawn_hone(args(out), {"HONE_TEST_KILL_AT=" + point}, tmp_ / "killed.log");
    ASSERT_GT(c.pid, 0);
    ASSERT_EQ(c.wait(), 128 + SIGKILL) << point << ": the run was not killed (the point was not reached)\n"
                                       << read_bytes(tmp_ / "killed.log");
    const CommandResult r = run_hone(args(out) + std::vector<std::string>{"--resume"});
    ASSERT_EQ(r.exit_code, 0) << point << ": " << r.err;
    expect_as_reference(out, "killed at " + point);
  }
}

TEST_F(CrashSafety, DamagedNewestCheckpointIsRefusedWithTheWayBack) {
  const fs::path out = tmp_ / "damaged";
  ASSERT_EQ(run_hone(args(out)).exit_code, 0);
  const fs::path newest = out / "checkpoints/step-00000006";
  const std::string previous = (out / "checkpoints/step-00000004").string();
  const std::string params = read_bytes(newest / "params.safetensors");
  const std::string optimizer = read_bytes(newest / "optimizer.safetensors");
  const std::string state = read_bytes(newest / "state.json");

  struct Damage {
    const char* what;
    std::function<void()> apply;
    const char* says;
  };
  std::string flipped = optimizer;
  flipped[flipped.size() / 2] ^= 0x10;
  const std::vector<Damage> damages{
      {"truncated params", [&] { write_bytes(newest / "params.safetensors", params.substr(0, params.size() / 2)); },
       "truncated"},
      {"a flipped bit", [&] { write_bytes(newest / "optimizer.safetensors", flipped); }, "SHA-256"},
      {"a cut state.json", [&] { write_bytes(newest / "state.json", "{\"step\": 6, \"ident"); }, "state.json"},
      {"no state.json", [&] { fs::remove(newest / "state.json"); }, "state.json"},
  };
  for (const Damage& d : damages) {
    d.apply();
    const CommandResult r = run_hone(args(out) + std::vector<std::string>{"--resume"});
    EXPECT_EQ(r.exit_code, 3) << d.what << ": " << r.err;
    EXPECT_NE(r.err.find("checkpoint " + newest.string() + " is damaged"), std::string::npos) << d.what << ": " << r.err;
    EXPECT_NE(r.err.find(d.says), std::string::npos) << d.what << ": " << r.err;
    EXPECT_NE(r.err.find("--resume-from " + previous), std::string::npos) << d.what << ": " << r.err;
    write_bytes(newest / "params.safetensors", params);  // undo, for the next kind of damage
    write_bytes(newest / "optimizer.safetensors", optimizer);
    write_bytes(newest / "state.json", state);
  }

  // Going back: the damaged checkpoint is moved aside, and the two steps are trained again.
  const CommandResult r = run_hone(args(out) + std::vector<std::string>{"--resume-from", previous});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "checkpoints/step-00000006.discarded"));
  fs::remove_all(out / "checkpoints/step-00000006.discarded");
  expect_as_reference(out, "resumed from step 4");

  const CommandResult bad = run_hone(args(out) + std::vector<std::string>{"--resume-from", "step-00000002"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("not a checkpoint of the run"), std::string::npos) << bad.err;
}

TEST_F(CrashSafety, FullDiskStopsWithExit1AndKeepsTheLastCheckpoint) {
  const fs::path out = tmp_ / "full";
  Child c = spawn_hone(args(out), {"HONE_TEST_KILL_AT=checkpoint.committed:1"}, tmp_ / "full.log");
  ASSERT_EQ(c.wait(), 128 + SIGKILL) << read_bytes(tmp_ / "full.log");
  const fs::path good = out / "checkpoints/step-00000002";
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(good)) before[e.path().filename()] = read_bytes(e.path());
  ASSERT_EQ(before.size(), 3u);

  // 16 KiB per file: the metrics and config fit, an adapter or a checkpoint's parameters do not.
  const CommandResult r = run_hone_limited(16, args(out) + std::vector<std::string>{"--resume"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("write failed: File too large (the disk is full, or a file-size or quota limit was reached)"),
            std::string::npos)
      << r.err;
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(good)) after[e.path().filename()] = read_bytes(e.path());
  EXPECT_EQ(after, before) << "the last good checkpoint changed";
  EXPECT_EQ(leftovers(out), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(out / "checkpoints/step-00000004"));

  // With room again, the run resumes from it and ends as the uninterrupted one.
  const CommandResult resumed = run_hone(args(out) + std::vector<std::string>{"--resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_as_reference(out, "resumed after the full disk");
}

}  // namespace
}  // namespace hone::test
