// The pieces of the training loop that have files of their own: checkpoints (save, prune, find
// the latest, resume with an identity check) and the metrics file of a resumed run.
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros_like.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "helpers.h"
#include "train/checkpoints.h"
#include "train/lora.h"
#include "train/metrics.h"
#include "train/optim.h"

namespace hone::test {
namespace {

using nlohmann::json;

json state_at(std::int64_t step, const json& identity) {
  return {{"step", step}, {"best_valid_loss", 2.5}, {"best_step", step - 1}, {"identity", identity}};
}

TEST(TrainCheckpoints, SaveKeepsTheNewestAndLatestSkipsInterruptedWritesButNotDamage) {
  TempDir tmp;
  const fs::path out = tmp.path();
  EXPECT_FALSE(latest_checkpoint(out));
  at::Tensor w = at::randn({3, 2});
  const std::vector<TrainableParam> params{{"w", w, true}};
  AdamW optimizer(params, {});
  const json identity = {{"seed", 1}};
  for (std::int64_t step : {1, 2, 3}) save_checkpoint(out, step, params, optimizer, state_at(step, identity), 2);
  EXPECT_FALSE(fs::exists(checkpoint_dir(out, 1)));
  EXPECT_TRUE(fs::exists(checkpoint_dir(out, 2) / "params.safetensors"));
  EXPECT_TRUE(fs::exists(checkpoint_dir(out, 3) / "optimizer.safetensors"));
  // Interrupted writes (of a process that is gone; and of the earlier naming) do not count.
  const fs::path interrupted = checkpoint_root(out) / "step-00000010.tmp.4194300";
  const fs::path legacy = checkpoint_root(out) / "step-00000011.tmp-123";
  fs::create_directories(interrupted);
  fs::create_directories(legacy);
  EXPECT_EQ(latest_checkpoint(out)->step, 3);
  // A newer checkpoint without state.json (a copy cut short) is the newest, and is refused as
  // damaged rather than passed over.
  fs::create_directories(checkpoint_dir(out, 9));
  const auto latest = latest_checkpoint(out);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 9);
  AdamW other(params, {});
  try {
    load_checkpoint(latest->dir, identity, out, params, other);
    ADD_FAILURE() << "a checkpoint without state.json was loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("step-00000009 is damaged"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("--resume-from " + checkpoint_dir(out, 3).string()), std::string::npos) << e.hint();
  }
  EXPECT_EQ(previous_checkpoint(out, 9)->step, 3);
  fs::remove_all(checkpoint_dir(out, 9));
  // The next save removes the interrupted writes.
  save_checkpoint(out, 4, params, optimizer, state_at(4, identity), 2);
  EXPECT_FALSE(fs::exists(interrupted));
  EXPECT_FALSE(fs::exists(legacy));
  EXPECT_EQ(latest_checkpoint(out)->step, 4);
}

TEST(TrainCheckpoints, LoadRestoresTheParametersAndRefusesAnotherIdentity) {
  TempDir tmp;
  at::Tensor w = at::randn({3, 2});
  const at::Tensor saved = w.clone();
  const std::vector<TrainableParam> params{{"w", w, true}};
  AdamW optimizer(params, {});
  const json identity = {{"seed", 1}, {"batch_size", 4}};
  save_checkpoint(tmp.path(), 7, params, optimizer, state_at(7, identity), 2);
  w.zero_();
  const CheckpointState s = load_checkpoint(checkpoint_dir(tmp.path(), 7), identity, tmp.path(), params, optimizer);
  EXPECT_EQ(s.step, 7);
  EXPECT_EQ(s.best_valid_loss, 2.5);
  EXPECT_EQ(s.best_step, 6);
  EXPECT_TRUE(w.equal(saved));
  try {
    load_checkpoint(checkpoint_dir(tmp.path(), 7), {{"seed", 1}, {"batch_size", 2}}, tmp.path(), params, optimizer);
    FAIL() << "another batch size was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'batch_size' was 4 and is now 2"), std::string::npos) << e.what();
  }
  try {
    load_checkpoint(checkpoint_dir(tmp.path(), 7), {{"seed", 1}}, tmp.path(), params, optimizer);
    FAIL() << "a dropped setting was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'batch_size' was 4 and is now unset"), std::string::npos) << e.what();
  }
}

TEST(TrainMetrics, AResumedRunKeepsTheLinesThroughItsStep) {
  TempDir tmp;
  const fs::path file = tmp / "metrics.jsonl";
  {
    Metrics m(file, -1);
    for (int step = 1; step <= 5; ++step) m.write({{"step", step}, {"loss", 1.0 / step}});
    m.write({{"step", 5}, {"valid_loss", 0.5}});
  }
  {
    Metrics m(file, 3);  // resumed from the checkpoint of step 3
    m.write({{"step", 4}, {"loss", 0.1}});
  }
  EXPECT_EQ(read_bytes(file),
            "{\"loss\":1.0,\"step\":1}\n{\"loss\":0.5,\"step\":2}\n{\"loss\":0.3333333333333333,\"step\":3}\n"
            "{\"loss\":0.1,\"step\":4}\n");
  Metrics fresh(file, -1);  // a fresh run starts empty
  EXPECT_EQ(read_bytes(file), "");
}

}  // namespace
}  // namespace hone::test
