// `hone lora-train --objective dpo` end to end on a tiny llama with SmolLM2's tokenizer: the loss,
// rewards, reference log-probabilities and LoRA gradients against TRL's DPOTrainer
// (tests/python/dpo_peer.py) for both losses, bitwise resume after SIGKILL with replay, two Gloo
// ranks against one, the metrics, learning the pairs, and errors.
#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "data/token_store.h"
#include "helpers.h"
#include "model/decoder.h"
#include "train/lora.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

using nlohmann::json;

struct Pair {
  std::vector<std::int32_t> prompt, chosen, rejected;
};

// `n` pairs of random ids: prompts of 3 to 8 tokens, answers of 1 to 4 (every answer token carries
// loss, no prompt token does).
std::vector<Pair> random_pairs(int n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> id(3, 2000);
  auto ids = [&](int lo, int hi) {
    std::vector<std::int32_t> v(std::uniform_int_distribution<int>(lo, hi)(rng));
    for (auto& x : v) x = id(rng);
    return v;
  };
  std::vector<Pair> out;
  for (int i = 0; i < n; ++i) out.push_back({ids(3, 8), ids(1, 4), ids(1, 4)});
  return out;
}

void add_sequence(data::TokenSplit& s, const std::vector<std::int32_t>& prompt, const std::vector<std::int32_t>& answer) {
  for (std::int32_t t : prompt) s.input_ids.push_back(t), s.loss_mask.push_back(0);
  for (std::int32_t t : answer) s.input_ids.push_back(t), s.loss_mask.push_back(1);
  s.example_offsets.push_back(static_cast<std::int64_t>(s.input_ids.size()));
  s.sequence_offsets.push_back(static_cast<std::int64_t>(s.sequence_offsets.size()));
}

data::TokenSplit pair_split(const std::vector<Pair>& pairs) {
  data::TokenSplit s;
  for (const Pair& p : pairs) {
    add_sequence(s, p.prompt, p.chosen);
    add_sequence(s, p.prompt, p.rejected);
  }
  return s;
}

// A preference store of `train` (and `valid`) pairs with the tokenizer metadata of `like`.
void write_pair_store(const fs::path& path, const fs::path& like, const std::vector<Pair>& train,
                      const std::vector<Pair>& valid) {
  data::TokenStoreMeta meta = data::read_token_store(like).meta;
  meta.preference = true;
  meta.packed = false;
  std::map<std::string, data::TokenSplit> splits{{"train", pair_split(train)}};
  if (!valid.empty()) splits["valid"] = pair_split(valid);
  data::write_token_store(path, meta, splits);
}

json pairs_json(const std::vector<Pair>& pairs) {
  json j = {{"pairs", json::array()}};
  for (const Pair& p : pairs) j["pairs"].push_back({{"prompt", p.prompt}, {"chosen", p.chosen}, {"rejected", p.rejected}});
  return j;
}

json metrics_line(const fs::path& run, long step) {
  for (const json& j : read_jsonl(run / "metrics.jsonl"))
    if (j.value("step", -1L) == step && j.contains("loss")) return j;
  return json();
}

class DpoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    model_ = write_tiny_gguf(tmp_.path());
    sft_ = make_store(tmp_.path(), model_, 64, 0, /*packed=*/false);
  }
  std::vector<std::string> args(const fs::path& store, const fs::path& out) const {
    return {"lora-train", "-m",    model_.string(), "--data", store.string(), "-o", out.string(), "--objective",
            "dpo",        "--progress", "none",  "--threads", "1", "-q"};
  }
  // A LoRA adapter of rank 4 on every linear layer with random A and B (seeded).
  fs::path random_adapter(const std::string& name) {
    Decoder model = load_decoder(model_, LoadOptions{});
    LoraOptions o;
    o.r = 4, o.alpha = 8, o.dropout = 0;
    const auto params = attach_lora(model, o, 7);
    {
      at::NoGradGuard g;
      at::manual_seed(1);
      for (const auto& p : params)
        if (p.name.find("lora_B") != std::string::npos) p.tensor.normal_(0, 0.05);
    }
    write_peft_adapter(tmp_ / name, o, params, model_.string());
    return tmp_ / name;
  }
  TempDir tmp_;
  fs::path model_, sft_;
};

// Two steps from a random adapter A0 (the reference): the second step's loss, rewards and
// gradients are at the adapter A1 after one update, against A0, and TRL computes them from A1 with
// A0 as its frozen reference. The reference log-probabilities hone stored are TRL's.
TEST_F(DpoCli, LossRewardsAndGradientsEqualTrl) {
  if (!have_python()) GTEST_SKIP() << "needs the virtualenv";
  const std::vector<Pair> pairs = random_pairs(6, 11);
  write_pair_store(tmp_ / "prefs.h5", sft_, pairs, {});
  write_bytes(tmp_ / "pairs.json", pairs_json(pairs).dump());
  const fs::path a0 = random_adapter("a0");
  for (const std::string loss : {"sigmoid", "ipo"}) {
    SCOPED_TRACE(loss);
    const std::vector<std::string> common{"--init-adapter", a0.string(), "--rank", "4", "--alpha", "8",
                                          "--lora-dropout", "0", "-b", "6", "--lr", "2e-2", "--schedule", "constant",
                                          "--warmup-steps", "0", "--dpo-loss", loss, "--beta", "0.5"};
    const fs::path one = tmp_ / ("one-" + loss), two = tmp_ / ("two-" + loss), peer = tmp_ / ("trl-" + loss);
    CommandResult r = run_hone(args(tmp_ / "prefs.h5", one) + common + std::vector<std::string>{"--max-steps", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_hone(args(tmp_ / "prefs.h5", two) + common +
                 std::vector<std::string>{"--max-steps", "2", "--dump-grads", (tmp_ / ("g-" + loss)).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_python("dpo_peer.py", {"dpo", model_.string(), one.string(), (tmp_ / "pairs.json").string(), peer.string(),
                                   "--beta", "0.5", "--loss", loss, "--reference", "adapter", "--reference-adapter",
                                   a0.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json trl = json::parse(read_bytes(peer / "result.json"));
    const json step2 = metrics_line(two, 2);
    ASSERT_FALSE(step2.is_null());
    EXPECT_NEAR(step2["loss"].get<double>(), trl["loss"].get<double>(), 1e-4);
    EXPECT_NEAR(step2["rewards/chosen"].get<double>(), trl["rewards_chosen"].get<double>(), 1e-4);
    EXPECT_NEAR(step2["rewards/rejected"].get<double>(), trl["rewards_rejected"].get<double>(), 1e-4);
    EXPECT_NEAR(step2["rewards/margins"].get<double>(), trl["margin"].get<double>(), 1e-4);
    EXPECT_NEAR(step2["rewards/accuracies"].get<double>(), trl["accuracy"].get<double>(), 1e-9);
    EXPECT_GT(std::abs(step2["rewards/margins"].get<double>()), 1e-4) << "the second step's rewards are not trivial";
    // The reference log-probabilities stored before the first step: A0's, as TRL's frozen copy.
    const json ref = json::parse(read_bytes(two / "reference_logps.json"));
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      EXPECT_NEAR(ref["train"][2 * i].get<double>(), trl["ref_chosen_logps"][i].get<double>(), 1e-4) << i;
      EXPECT_NEAR(ref["train"][2 * i + 1].get<double>(), trl["ref_rejected_logps"][i].get<double>(), 1e-4) << i;
    }
    // The gradients of the mean loss at A1, tensor by tensor.
    auto mine = read_f32_tensors(tmp_ / ("g-" + loss) / "step-2.safetensors");
    auto theirs = read_f32_tensors(peer / "grads.safetensors");
    std::sort(mine.begin(), mine.end());
    std::sort(theirs.begin(), theirs.end());
    ASSERT_EQ(mine.size(), theirs.size());
    double worst_abs = 0, worst_rel = 0;
    for (std::size_t i = 0; i < mine.size(); ++i) {
      ASSERT_EQ(mine[i].first, theirs[i].first);
      double num = 0, den = 0;
      for (std::size_t k = 0; k < mine[i].second.size(); ++k) {
        const double d = mine[i].second[k] - theirs[i].second[k];
        worst_abs = std::max(worst_abs, std::abs(d));
        num += d * d;
        den += static_cast<double>(theirs[i].second[k]) * theirs[i].second[k];
      }
      ASSERT_GT(den, 0) << mine[i].first << ": TRL's gradient is zero";
      worst_rel = std::max(worst_rel, std::sqrt(num / den));
    }
    EXPECT_LT(worst_abs, 1e-4);
    EXPECT_LT(worst_rel, 1e-3);
    std::cout << loss << ": loss hone " << step2["loss"] << " trl " << trl["loss"] << "; gradients over "
              << mine.size() << " tensors: max |diff| " << worst_abs << ", worst relative " << worst_rel << "\n";
  }
}

TEST_F(DpoCli, ResumeAfterSigkillIsBitwiseIdentical) {
  write_pair_store(tmp_ / "prefs.h5", sft_, random_pairs(24, 3), random_pairs(4, 4));
  const std::vector<std::string> common{"--max-steps", "80", "-b", "2", "--save-every", "6", "--lr", "5e-3",
                                        "--lora-dropout", "0.1", "--seed", "3", "--replay", sft_.string(),
                                        "--replay-ratio", "1.5", "--eval-every", "20"};
  CommandResult a = run_hone(args(tmp_ / "prefs.h5", tmp_ / "whole") + common);
  ASSERT_EQ(a.exit_code, 0) << a.err;

  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const long kill_at = std::uniform_int_distribution<long>(8, 60)(rng);
  const fs::path out = tmp_ / "killed";
  Child c = spawn_hone(args(tmp_ / "prefs.h5", out) + common, {}, tmp_ / "killed.log");
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(wait_for_step(c, out, kill_at, std::chrono::seconds(300))) << read_bytes(tmp_ / "killed.log");
  kill(c.pid, SIGKILL);
  EXPECT_EQ(c.wait(), 128 + SIGKILL);
  const long reached = last_metrics_step(out);
  ASSERT_LT(reached, 80) << "the run finished before it could be killed";

  CommandResult r = run_hone(args(tmp_ / "prefs.h5", out) + common + std::vector<std::string>{"--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(out / "adapter_model.safetensors"), read_bytes(tmp_ / "whole/adapter_model.safetensors"))
      << "killed at step " << reached;
  std::cout << "killed at step " << reached << ", resumed: bitwise identical\n";
}

// Training on the pairs teaches them: the train pairs' reward accuracy reaches 1 and the margins
// grow; every metric is logged, the valid split's too, with the replay loss.
TEST_F(DpoCli, LearnsThePairsAndLogsTheRewards) {
  write_pair_store(tmp_ / "prefs.h5", sft_, random_pairs(8, 5), random_pairs(4, 6));
  const fs::path out = tmp_ / "run";
  const CommandResult r = run_hone(args(tmp_ / "prefs.h5", out) +
                                   std::vector<std::string>{"--max-steps", "60", "-b", "4", "--lr", "3e-2", "--schedule",
                                                            "constant", "--beta", "0.5", "--lora-dropout", "0",
                                                            "--eval-every", "30", "--replay", sft_.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json first = metrics_line(out, 1), last = metrics_line(out, 60);
  for (const char* k : {"dpo_loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                        "replay_loss"}) {
    EXPECT_TRUE(first.contains(k)) << k;
    EXPECT_TRUE(last.contains(k)) << k;
  }
  EXPECT_NEAR(first["rewards/margins"].get<double>(), 0.0, 1e-5) << "step 1 starts at the reference";
  EXPECT_EQ(last["rewards/accuracies"].get<double>(), 1.0);
  EXPECT_GT(last["rewards/margins"].get<double>(), 0.5);
  EXPECT_LT(last["dpo_loss"].get<double>(), 0.3);
  EXPECT_NEAR(last["loss"].get<double>(), last["dpo_loss"].get<double>() + last["replay_loss"].get<double>(), 1e-5);
  bool valid = false;
  for (const json& j : read_jsonl(out / "metrics.jsonl"))
    if (j.contains("valid_loss")) valid = valid || j.contains("valid_rewards/accuracies");
  EXPECT_TRUE(valid);
  const json ref = json::parse(read_bytes(out / "reference_logps.json"));
  EXPECT_EQ(ref["train"].size(), 16u);
  EXPECT_EQ(ref["valid"].size(), 8u);
  const json run = json::parse(read_bytes(out / "run.json"));
  EXPECT_EQ(run["objective"], "dpo");
  EXPECT_EQ(run["identity"]["dpo_loss"], "sigmoid");
}

// Data parallelism: two Gloo ranks of 2 pairs (and 2 replay sequences) each take the step one rank
// of 4 pairs (and 4) takes. (A large Adam epsilon keeps the update proportional to the gradient,
// whose summation order differs.)
TEST_F(DpoCli, TwoGlooRanksEqualOneRank) {
  write_pair_store(tmp_ / "prefs.h5", sft_, random_pairs(16, 8), {});
  const std::vector<std::string> common{"--max-steps", "5", "--lr", "1e-2", "--lora-dropout", "0", "--adam-eps", "1e-3",
                                        "--replay", sft_.string(), "--replay-ratio", "1"};
  const CommandResult one =
      run_hone(args(tmp_ / "prefs.h5", tmp_ / "one") + common + std::vector<std::string>{"-b", "4"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const int port = free_port();
  std::vector<Child> ranks;
  for (int rank = 0; rank < 2; ++rank)
    ranks.push_back(spawn_hone(args(tmp_ / "prefs.h5", tmp_ / "two") + common + std::vector<std::string>{"-b", "2"},
                               {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                               tmp_ / ("rank" + std::to_string(rank) + ".log")));
  for (auto& c : ranks) EXPECT_EQ(c.wait(), 0) << read_bytes(tmp_ / "rank0.log") << read_bytes(tmp_ / "rank1.log");
  const double d = max_abs_diff(tmp_ / "one/adapter_model.safetensors", tmp_ / "two/adapter_model.safetensors");
  EXPECT_LT(d, 1e-5);
  EXPECT_EQ(read_bytes(tmp_ / "one/reference_logps.json"), read_bytes(tmp_ / "two/reference_logps.json"));
  std::cout << "2 ranks x 2 pairs vs 1 rank x 4 pairs after 5 steps: max |diff| " << d << "\n";
}

TEST_F(DpoCli, Errors) {
  write_pair_store(tmp_ / "prefs.h5", sft_, random_pairs(8, 5), {});
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::vector<std::string> sft_args{"lora-train", "-m", model_.string(), "-o", (tmp_ / "x").string(), "-q",
                                          "--progress", "none"};
  const std::vector<Case> cases{
      {sft_args + std::vector<std::string>{"--data", (tmp_ / "prefs.h5").string()}, 3, "a store of preference pairs"},
      {args(sft_, tmp_ / "y"), 3, "not a store of preference pairs"},
      {args(tmp_ / "prefs.h5", tmp_ / "z") + std::vector<std::string>{"--beta", "0"}, 2, "--beta must be positive"},
      {args(tmp_ / "prefs.h5", tmp_ / "z") + std::vector<std::string>{"--replay", (tmp_ / "prefs.h5").string()}, 3,
       "replay needs examples"},
      {args(tmp_ / "prefs.h5", tmp_ / "z") +
           std::vector<std::string>{"--replay", sft_.string(), "--replay-ratio", "0.1", "-b", "2"},
       2, "draws no replay sequence"},
      {sft_args + std::vector<std::string>{"--data", sft_.string(), "--beta", "0.2"}, 2, "apply to --objective dpo"},
      {args(tmp_ / "prefs.h5", tmp_ / "z") +
           std::vector<std::string>{"--init-adapter", random_adapter("a").string(), "--rank", "4", "--alpha", "4"},
       2, "scales its factors by 2"},
      // The other readers of token stores refuse pairs too.
      {{"eval", "-m", model_.string(), "--data", (tmp_ / "prefs.h5").string(), "--report", (tmp_ / "r.json").string()},
       3, "its perplexity would mix"},
      {{"cache-teacher", "--teacher", model_.string(), "--data", (tmp_ / "prefs.h5").string(), "-o",
        (tmp_ / "c.h5").string()},
       3, "the teacher cache needs examples"},
  };
  for (const Case& c : cases) {
    const CommandResult r = run_hone(c.args);
    EXPECT_EQ(r.exit_code, c.code) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  const CommandResult info = run_hone({"info", (tmp_ / "prefs.h5").string()});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("preference pairs"), std::string::npos) << info.out;
}

}  // namespace
}  // namespace hone::test
