// `hone lora-train` end to end: parity of loss and LoRA gradients with HF PEFT on SmolLM2,
// gradient accumulation, bitwise resume after SIGKILL, SIGINT, two Gloo ranks against one,
// torchrun, errors, and learning on Banking77.
#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/index_select.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/compute.h"
#include "helpers.h"
#include "model/decoder.h"
#include "text/tokenizer.h"
#include "batch/batches.h"
#include "train/lora.h"
#include "batch/loss.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

using nlohmann::json;

std::vector<std::string> base_args(const fs::path& model, const fs::path& store, const fs::path& out) {
  return {"lora-train", "-m", model.string(), "--data", store.string(), "-o", out.string(), "--progress", "none",
          "--threads", "1", "-q"};
}

json read_json(const fs::path& p) { return json::parse(read_bytes(p)); }

// ---------------------------------------------------------------------------- parity with PEFT

// One forward/backward pass of hone with LoRA options `o` against PEFT loading the adapter hone
// wrote: the loss, the set of trainable tensors PEFT builds from adapter_config.json, and every
// gradient.
// `examples` are token-id lists, the loss on the last `loss_tail` tokens of each; `bound` is the
// largest relative gradient error allowed per tensor.
void expect_peft_gradients(const std::string& model_dir, const LoraOptions& o,
                           const std::vector<std::vector<std::int32_t>>& examples, std::size_t loss_tail, double bound) {
  TempDir tmp;
  LoadOptions load;
  Decoder model = load_decoder(model_dir, load);
  const auto params = attach_lora(model, o, 11);
  {  // B random too, so that A receives gradients (seeded: the test must be reproducible)
    at::NoGradGuard g;
    at::manual_seed(0);
    for (const auto& p : params)
      if (p.name.find("lora_B") != std::string::npos) p.tensor.normal_(0, 0.02);
  }
  write_peft_adapter(tmp / "adapter", o, params, model_dir);

  data::TokenSplit s;
  for (const auto& ids : examples) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      s.input_ids.push_back(ids[i]);
      s.loss_mask.push_back(i + loss_tail >= ids.size() ? 1 : 0);
    }
    s.example_offsets.push_back(static_cast<std::int64_t>(s.input_ids.size()));
    s.sequence_offsets.push_back(static_cast<std::int64_t>(s.sequence_offsets.size()));
  }
  const Batch b = make_batch(s, {0, 1}, c10::kCPU);
  json batch = {{"input_ids", json::array()}, {"attention_mask", json::array()}, {"labels", json::array()}};
  const std::int64_t T = b.input_ids.size(1);
  for (std::int64_t r = 0; r < 2; ++r) {
    std::vector<std::int64_t> ids(T), mask(T, 0), labels(T, -100);
    const std::int64_t lo = s.example_offsets[r], n = s.example_offsets[r + 1] - lo;
    for (std::int64_t t = 0; t < T; ++t) {
      ids[t] = t < n ? s.input_ids[lo + t] : 0;  // padding: masked, and after the example
      mask[t] = t < n;
      if (t > 0 && t < n && s.loss_mask[lo + t]) labels[t] = s.input_ids[lo + t];
    }
    batch["input_ids"].push_back(ids);
    batch["attention_mask"].push_back(mask);
    batch["labels"].push_back(labels);
  }
  write_bytes(tmp / "batch.json", batch.dump());

  ForwardInput in;
  in.input_ids = b.input_ids;
  in.position_ids = b.position_ids;
  at::Tensor hidden = model.forward_hidden(in);
  at::Tensor rows = at::index_select(hidden.reshape({-1, hidden.size(-1)}), 0, b.target_index);
  at::Tensor loss = linear_cross_entropy(rows, model.lm_head(), b.targets) / static_cast<double>(b.loss_tokens);
  loss.backward();
  std::vector<TrainableParam> grads;
  for (const auto& p : params) grads.push_back({p.name, p.tensor.grad(), true});
  write_parameters(tmp / "hone_grads.safetensors", grads);

  const CommandResult r = run_python("train_peer.py", {"grads", model_dir, (tmp / "adapter").string(),
                                                       (tmp / "batch.json").string(), (tmp / "peft.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json peft = json::parse(r.out.substr(r.out.rfind('{')));
  // Bounds measured on two CPUs: on an AVX512 one (Zen 4) hone was within 1e-5 (loss) and 7e-5
  // (gradients) of PEFT; on an AVX2-only one (Zen 3) within 2.1e-5 and 1.5e-4, while PEFT in
  // float32 there is within 2e-7 of PEFT in float64 in the loss. So hone's float32 rounds
  // differently from PyTorch eager (not in the weights: bitwise equal; not in attention: the
  // reference attention gives the same figures); the source of the difference is not known.
  EXPECT_NEAR(loss.item<double>(), peft["loss"].get<double>(), 3e-5) << "hone " << loss.item<double>();
  EXPECT_EQ(peft["tensors"].get<std::size_t>(), params.size());

  auto mine = read_f32_tensors(tmp / "hone_grads.safetensors"), ref = read_f32_tensors(tmp / "peft.safetensors");
  std::sort(mine.begin(), mine.end());
  std::sort(ref.begin(), ref.end());
  ASSERT_EQ(mine.size(), ref.size());
  double worst = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    ASSERT_EQ(mine[i].first, ref[i].first);
    double num = 0, den = 0;
    for (std::size_t k = 0; k < mine[i].second.size(); ++k) {
      num += std::pow(mine[i].second[k] - ref[i].second[k], 2);
      den += std::pow(ref[i].second[k], 2);
    }
    ASSERT_GT(den, 0) << mine[i].first << ": PEFT gradient is zero";
    const double e = std::sqrt(num / den);
    worst = std::max(worst, e);
    EXPECT_LT(e, bound) << mine[i].first;
  }
  std::cout << "loss hone " << loss.item<double>() << " peft " << peft["loss"].get<double>()
            << "; worst relative gradient error " << worst << " over " << mine.size() << " tensors\n";
}

// Two Banking77-like examples of different lengths, loss on their last 6 tokens.
std::vector<std::vector<std::int32_t>> smollm2_examples() {
  const auto tok = Tokenizer::load(model_path());
  std::vector<std::vector<std::int32_t>> out;
  for (const std::string text : {"How do I top up my card with a bank transfer? top_up_by_bank_transfer_charge",
                                 "Why was my card declined? declined_card_payment"})
    out.push_back(tok->encode(text, false, false));
  return out;
}

TEST(LoraTrainParity, LossAndGradientsEqualPeftOnSmolLM2) {
  if (!have_model() || !have_python()) GTEST_SKIP() << "needs the model and the virtualenv";
  LoraOptions o;
  o.r = 8;
  o.alpha = 16;
  o.dropout = 0;
  expect_peft_gradients(model_path(), o, smollm2_examples(), 6, 2e-4);
}

// The other families on tiny random models that transformers makes (tests/python/model_peer.py):
// every linear layer adapted (phi3: its fused qkv_proj and gate_up_proj), examples of 14 and 11
// tokens (past gemma3's window of 8 and phi3's of 12).
TEST(LoraTrainParity, LossAndGradientsEqualPeftOnTinyFamilies) {
  if (!have_python()) GTEST_SKIP() << "needs the virtualenv";
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::int32_t> id(3, 255);
  std::vector<std::vector<std::int32_t>> examples(2);
  for (std::size_t n : {14u, 11u})
    for (std::size_t i = 0; i < n; ++i) examples[n == 14 ? 0 : 1].push_back(id(rng));
  for (const std::string family : {"qwen3", "gemma3", "llama32", "phi3"}) {
    TempDir dir;
    const CommandResult r = run_python("model_peer.py", {"tiny", (dir / "model").string(), family});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    LoraOptions o;
    o.r = 4;
    o.alpha = 8;
    o.dropout = 0;
    SCOPED_TRACE(family);
    expect_peft_gradients((dir / "model").string(), o, examples, 5, 1e-4);
  }
}

// --lora-layers and --targets: PEFT builds the same factors from layers_to_transform and
// target_modules (a null layers_to_transform would give it 30 layers' worth), and hone's layers
// below the lowest adapted one, run without autograd, give the same gradients.
TEST(LoraTrainParity, LayersToTransformEqualsPeftOnSmolLM2) {
  if (!have_model() || !have_python()) GTEST_SKIP() << "needs the model and the virtualenv";
  LoraOptions o;
  o.r = 4;
  o.alpha = 8;
  o.dropout = 0;
  o.targets = parse_lora_targets("q,k,gate,down");
  o.layers = parse_lora_layers("14-15,29,3");
  expect_peft_gradients(model_path(), o, smollm2_examples(), 6, 2e-4);
}

// ---------------------------------------------------------------------------- the CLI on a tiny model

class LoraTrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    model_ = write_tiny_gguf(tmp_.path());
    store_ = make_store(tmp_.path(), model_, 96, 16, /*packed=*/false);
    packed_ = make_store(tmp_.path() / "p", model_, 160, 0, /*packed=*/true);
  }
  TempDir tmp_;
  fs::path model_, store_, packed_;
};

TEST_F(LoraTrainCli, WritesAPeftAdapterMetricsCurveAndConfig) {
  const fs::path out = tmp_ / "run";
  CommandResult r = run_hone(base_args(model_, store_, out) +
                             std::vector<std::string>{"--max-steps", "6", "-b", "4", "--eval-every", "3", "--lr", "1e-2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "metrics.jsonl", "loss.svg", "config.toml",
                        "run.json", "best/adapter_model.safetensors"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const json cfg = read_json(out / "adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["r"], 16);
  EXPECT_EQ(cfg["target_modules"].size(), 7u);
  std::ifstream in(out / "metrics.jsonl");
  std::string line;
  int steps = 0, evals = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    if (j.contains("loss")) {
      ++steps;
      for (const char* k : {"lr", "grad_norm", "tokens_per_s", "peak_rss_mib", "loss_tokens"}) EXPECT_TRUE(j.contains(k)) << k;
    }
    if (j.contains("valid_loss")) ++evals;
  }
  EXPECT_EQ(steps, 6);
  EXPECT_EQ(evals, 3);  // before the first step, at 3 and at 6
  EXPECT_NE(read_bytes(out / "loss.svg").find("<svg"), std::string::npos);
  EXPECT_NE(read_bytes(out / "config.toml").find("batch-size=4"), std::string::npos);
  // The adapter loads in hone generate.
  r = run_hone({"generate", "-m", model_.string(), "--adapter", out.string(), "--max-new-tokens", "2", "--prompt", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(LoraTrainCli, GradientAccumulationEqualsOneLargeBatch) {
  // 4 micro-batches of 2 sequences == 1 batch of 8; the micro-batches have unequal loss-token
  // counts (the examples' answers differ in length), normalised over the whole step.
  // (A large Adam epsilon keeps the update proportional to the gradient: with 1e-8, entries whose
  // gradient is ~0 get updates of either sign from rounding-level differences.)
  const std::vector<std::string> common{"--max-steps", "3", "--lr", "1e-3", "--lora-dropout", "0", "--adam-eps", "1e-3"};
  CommandResult a = run_hone(base_args(model_, packed_, tmp_ / "big") + common +
                             std::vector<std::string>{"-b", "8", "--dump-grads", (tmp_ / "g_big").string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  CommandResult b = run_hone(base_args(model_, packed_, tmp_ / "acc") + common +
                             std::vector<std::string>{"-b", "2", "--grad-accum", "4", "--dump-grads",
                                                      (tmp_ / "g_acc").string()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  for (int s = 1; s <= 3; ++s) {
    const std::string f = "step-" + std::to_string(s) + ".safetensors";
    EXPECT_LT(max_abs_diff(tmp_ / "g_big" / f, tmp_ / "g_acc" / f), 1e-6) << f;
  }
  EXPECT_LT(max_abs_diff(tmp_ / "big/adapter_model.safetensors", tmp_ / "acc/adapter_model.safetensors"), 1e-6);
  // The same update a wrong (per-micro-batch mean) normalisation would not give: the loss-token
  // counts of the micro-batches really differ.
  std::ifstream in(tmp_ / "big/metrics.jsonl");
  std::string line;
  std::getline(in, line);
  EXPECT_GT(json::parse(line)["loss_tokens"].get<double>(), 8);
}

TEST_F(LoraTrainCli, ResumeAfterSigkillIsBitwiseIdentical) {
  const std::vector<std::string> common{"--max-steps", "300", "-b", "4", "--save-every", "7", "--lr", "5e-3",
                                        "--lora-dropout", "0.1", "--seed", "3"};
  CommandResult a = run_hone(base_args(model_, store_, tmp_ / "whole") + common);
  ASSERT_EQ(a.exit_code, 0) << a.err;

  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const long kill_at = std::uniform_int_distribution<long>(10, 200)(rng);
  const fs::path out = tmp_ / "killed";
  Child c = spawn_hone(base_args(model_, store_, out) + common, {}, tmp_ / "killed.log");
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(wait_for_step(c, out, kill_at, std::chrono::seconds(300))) << read_bytes(tmp_ / "killed.log");
  kill(c.pid, SIGKILL);
  EXPECT_EQ(c.wait(), 128 + SIGKILL);
  const long reached = last_metrics_step(out);
  ASSERT_LT(reached, 300) << "the run finished before it could be killed";
  EXPECT_FALSE(fs::exists(out / "adapter_model.safetensors"));

  CommandResult r = run_hone(base_args(model_, store_, out) + common + std::vector<std::string>{"--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(out / "adapter_model.safetensors"), read_bytes(tmp_ / "whole/adapter_model.safetensors"))
      << "killed at step " << reached;
  EXPECT_EQ(last_metrics_step(out), 300);
  std::cout << "killed at step " << reached << " (asked for >= " << kill_at << "), resumed: bitwise identical\n";
}

TEST_F(LoraTrainCli, SigintSavesACheckpointAndExits130) {
  const fs::path out = tmp_ / "int";
  const std::vector<std::string> common{"--max-steps", "100000", "-b", "2"};
  Child c = spawn_hone(base_args(model_, store_, out) + common, {}, tmp_ / "int.log");
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(wait_for_step(c, out, 5, std::chrono::seconds(300))) << read_bytes(tmp_ / "int.log");
  kill(c.pid, SIGINT);
  EXPECT_EQ(c.wait(), 130);
  const long step = last_metrics_step(out);
  EXPECT_TRUE(fs::exists(out / "checkpoints" / fmt::format("step-{:08}", step) / "state.json")) << step;
  EXPECT_TRUE(fs::exists(out / "loss.svg"));
  // --resume continues from there.
  CommandResult r = run_hone(base_args(model_, store_, out) +
                             std::vector<std::string>{"--max-steps", std::to_string(step + 2), "-b", "2", "--resume"});
  // A different --max-steps is allowed (it changes the schedule's horizon, not the run's identity).
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(last_metrics_step(out), step + 2);
}

TEST_F(LoraTrainCli, TwoGlooRanksEqualOneRank) {
  // (A large Adam epsilon, as in the accumulation test: the update stays proportional to the
  // gradient, whose summation order differs between one and two ranks.)
  const std::vector<std::string> common{"--max-steps", "5", "--lr", "1e-2", "--lora-dropout", "0", "--adam-eps", "1e-3"};
  CommandResult one = run_hone(base_args(model_, packed_, tmp_ / "one") + common + std::vector<std::string>{"-b", "8"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const int port = free_port();
  std::vector<Child> ranks;
  for (int rank = 0; rank < 2; ++rank)
    ranks.push_back(spawn_hone(base_args(model_, packed_, tmp_ / "two") + common + std::vector<std::string>{"-b", "4"},
                               {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                               tmp_ / ("rank" + std::to_string(rank) + ".log")));
  for (auto& c : ranks) EXPECT_EQ(c.wait(), 0) << read_bytes(tmp_ / "rank0.log") << read_bytes(tmp_ / "rank1.log");
  const double d = max_abs_diff(tmp_ / "one/adapter_model.safetensors", tmp_ / "two/adapter_model.safetensors");
  EXPECT_LT(d, 1e-5);
  std::cout << "2 ranks x batch 4 vs 1 rank x batch 8 after 5 steps: max |diff| " << d << "\n";
}

TEST_F(LoraTrainCli, ARankThatDiesStopsTheOthersPromptly) {
  // Rank 0 dies while it writes the first checkpoint (the other rank waits in the barrier after
  // it): rank 1 stops at once with an error that points at the other rank, instead of waiting
  // for the collective timeout.
  const std::vector<std::string> args = base_args(model_, packed_, tmp_ / "dies") +
                                        std::vector<std::string>{"--max-steps", "4", "--save-every", "2", "-b", "4"};
  const int port = free_port();
  std::vector<Child> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> env{"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                 "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)};
    if (rank == 0) env.push_back("HONE_TEST_KILL_AT=checkpoint.params");
    ranks.push_back(spawn_hone(args, env, tmp_ / ("dies" + std::to_string(rank) + ".log")));
  }
  EXPECT_EQ(ranks[0].wait(), 128 + SIGKILL);
  EXPECT_EQ(ranks[1].wait(std::chrono::seconds(120)), 1);
  const std::string log = read_bytes(tmp_ / "dies1.log");
  EXPECT_NE(log.find("all-reduce failed on rank 1"), std::string::npos) << log;
  EXPECT_NE(log.find("another rank probably stopped first"), std::string::npos) << log;
}

TEST_F(LoraTrainCli, ASignalToOneRankStopsEveryRankAtTheSameCheckpoint) {
  // SIGTERM reaches rank 1 only (as when a launcher signals one task): the ranks agree on the
  // stop, rank 0 saves the checkpoint and the loss curve, and every rank exits 130 after it.
  const fs::path out = tmp_ / "term";
  const std::vector<std::string> args =
      base_args(model_, packed_, out) + std::vector<std::string>{"--max-steps", "100000", "-b", "4"};
  const int port = free_port();
  std::vector<Child> ranks;
  for (int rank = 0; rank < 2; ++rank)
    ranks.push_back(spawn_hone(args,
                               {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                               tmp_ / ("term" + std::to_string(rank) + ".log")));
  ASSERT_TRUE(wait_for_step(ranks[0], out, 3, std::chrono::seconds(300))) << read_bytes(tmp_ / "term0.log");
  kill(ranks[1].pid, SIGTERM);
  for (int rank = 0; rank < 2; ++rank)
    EXPECT_EQ(ranks[rank].wait(std::chrono::seconds(120)), 130)
        << read_bytes(tmp_ / ("term" + std::to_string(rank) + ".log"));
  const long step = last_metrics_step(out);
  EXPECT_TRUE(fs::exists(out / "checkpoints" / fmt::format("step-{:08}", step) / "state.json")) << step;
  EXPECT_TRUE(fs::exists(out / "loss.svg"));
  EXPECT_NE(read_bytes(tmp_ / "term1.log").find("stopped by a signal after step " + std::to_string(step)),
            std::string::npos);
}

TEST_F(LoraTrainCli, TorchrunStartsTheRanks) {
  const fs::path torchrun = fs::path(HONE_PYTHON).parent_path() / "torchrun";
  if (!fs::exists(torchrun)) GTEST_SKIP() << "no torchrun in the virtualenv";
  const std::vector<std::string> args = base_args(model_, packed_, tmp_ / "tr") +
                                        std::vector<std::string>{"--max-steps", "2", "-b", "4"};
  std::vector<std::string> argv{torchrun.string(), "--nproc-per-node", "2", "--master-port",
                                std::to_string(free_port()), "--no-python", HONE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(read_json(tmp_ / "tr/run.json")["world_size"], 2);
}

TEST_F(LoraTrainCli, Errors) {
  // A run directory that already holds a run.
  const fs::path out = tmp_ / "e";
  ASSERT_EQ(run_hone(base_args(model_, store_, out) + std::vector<std::string>{"--max-steps", "1", "-b", "4"}).exit_code, 0);
  CommandResult r = run_hone(base_args(model_, store_, out) + std::vector<std::string>{"--max-steps", "2", "-b", "4"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already holds a run"), std::string::npos) << r.err;
  // Resuming with another batch size.
  r = run_hone(base_args(model_, store_, out) + std::vector<std::string>{"--max-steps", "2", "-b", "2", "--resume"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'batch_size' was 4 and is now 2"), std::string::npos) << r.err;
  // A store made with another tokenizer (SmolLM2's differs from a retokenised one only in name:
  // use a model whose tokenizer really differs — the tiny GGUF with one token renamed).
  // Non-finite training stops with an error and writes no checkpoint.
  r = run_hone(base_args(model_, store_, tmp_ / "nan") +
               std::vector<std::string>{"--max-steps", "50", "-b", "4", "--lr", "1e30", "--max-bad-steps", "3",
                                        "--max-grad-norm", "0", "--warmup-steps", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("consecutive steps with a non-finite"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "nan/checkpoints"));
  EXPECT_FALSE(fs::exists(tmp_ / "nan/adapter_model.safetensors"));
  // Too little data for one step, an unknown target module, a store that is not a store.
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"-b", "1000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fewer than one step needs"), std::string::npos) << r.err;
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--targets", "q,attn"});
  EXPECT_EQ(r.exit_code, 2);
  // A bf16 base with float32 compute, and LoRA layers the model does not have.
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--base-dtype", "bf16", "--dtype", "f32"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--base-dtype bf16 needs bf16 compute; --dtype f32 on cpu computes in float32"),
            std::string::npos) << r.err;
  r = run_hone(base_args(model_, store_, tmp_ / "x") +
               std::vector<std::string>{"--base-dtype", "bf16", "--dtype", "bf16", "--full"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--base-dtype bf16 applies to LoRA training of a base model"), std::string::npos) << r.err;
  if (cuda_device_count() == 0) {  // a GPU that is not there: a usage error, not LibTorch's "no driver" with a backtrace
    r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--device", "cuda"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--device cuda needs a GPU, and none is visible to this process"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("frame #"), std::string::npos) << r.err;
  }
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--dist-backend", "nccl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--dist-backend nccl reduces CUDA tensors only"), std::string::npos) << r.err;
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--loraplus-lr-ratio", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--loraplus-lr-ratio must be positive, got 0"), std::string::npos) << r.err;
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--loraplus-lr-ratio", "4", "--full"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--loraplus-lr-ratio applies to LoRA training, not --full"), std::string::npos) << r.err;
  r = run_hone(base_args(model_, store_, tmp_ / "x") + std::vector<std::string>{"--lora-layers", "0,99"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--lora-layers names layer 99"), std::string::npos) << r.err;
  write_bytes(tmp_ / "bad.h5", "not hdf5");
  r = run_hone(base_args(model_, tmp_ / "bad.h5", tmp_ / "x"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("bad.h5"), std::string::npos) << r.err;
}

TEST_F(LoraTrainCli, RefusesAStoreOfAnotherTokenizer) {
  // The SmolLM2 store against a model with another vocabulary: the fingerprints differ.
  TempDir other;
  write_gguf_with_other_tokenizer(model_, other / "other.gguf");
  const CommandResult r = run_hone(base_args(other / "other.gguf", store_, tmp_ / "o"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("the token store was made with tokenizer"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------- learning on Banking77

TEST(LoraTrainBanking77, HundredStepsHalveTheValidLoss) {
  const fs::path b77 = HONE_BANKING77_DIR;
  if (!have_model() || !fs::exists(b77 / "train.csv")) GTEST_SKIP() << "needs the model and Banking77";
  TempDir tmp;
  // 1,200 training queries and 120 held-out ones (the first rows of train.csv / test.csv).
  auto head = [&](const fs::path& src, const fs::path& dst, int n) {
    std::ifstream in(src);
    std::string line, out;
    for (int i = 0; i <= n && std::getline(in, line); ++i) out += line + "\n";
    write_bytes(dst, out);
  };
  fs::create_directories(tmp / "raw");
  head(b77 / "train.csv", tmp / "raw/train.csv", 1200);
  head(b77 / "test.csv", tmp / "raw/valid.csv", 120);
  CommandResult r = run_hone({"ingest", (tmp / "raw/train.csv").string(), (tmp / "raw/valid.csv").string(), "--format",
                              "classification", "--label-field", "category", "-o", (tmp / "data").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone({"tokenize", (tmp / "data").string(), "-o", (tmp / "b77.h5").string(), "-m", model_path(), "--max-len",
                "128", "--pack", "--truncation", "left"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path out = tmp / "run";
  r = run_hone({"lora-train", "-m", model_path(), "--data", (tmp / "b77.h5").string(), "-o", out.string(),
                "--max-steps", "100", "-b", "2", "--lr", "1e-3", "--warmup-steps", "5", "--eval-every", "100",
                "--progress", "none", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out / "metrics.jsonl");
  std::string line;
  std::vector<double> valid;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    if (j.contains("valid_loss")) valid.push_back(j["valid_loss"].get<double>());
  }
  ASSERT_EQ(valid.size(), 2u);  // before training and after step 100
  std::cout << "Banking77 valid loss: before " << valid[0] << ", after 100 steps " << valid[1] << "\n";
  EXPECT_LE(valid[1], 0.5 * valid[0]);
}

}  // namespace
}  // namespace hone::test
