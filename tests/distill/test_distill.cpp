// `hone distill` end to end on a tiny model: offline (from the teacher cache) equals online,
// the outputs load, and the errors name what is wrong.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>

#include "distill/distill.h"
#include "distill/kd_loss.h"
#include "distill/teacher_cache.h"
#include "data/token_store.h"
#include "model/decoder.h"
#include "train/trainer.h"
#include "model/loader.h"
#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

// `args` with `flag`'s value replaced (CLI11 refuses an option given twice).
std::vector<std::string> with(std::vector<std::string> args, const std::string& flag, const std::string& value) {
  auto it = std::find(args.begin(), args.end(), flag);
  if (it == args.end()) return args + std::vector<std::string>{flag, value};
  *(it + 1) = value;
  return args;
}

class DistillCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    teacher_ = write_tiny_gguf(tmp_.path(), /*seed=*/3);
    store_ = make_store(tmp_.path(), teacher_, 64, 8, /*packed=*/false);
  }
  // A distill run of 10 steps (batch 4) with a layers:1 student.
  std::vector<std::string> run_args(const fs::path& out, const std::vector<std::string>& extra) const {
    return std::vector<std::string>{"distill", "--teacher", teacher_.string(), "--student", "layers:1", "--data",
                                    store_.string(), "-o", out.string(), "--max-steps", "10", "-b", "4", "--lr", "3e-3",
                                    "--temperature", "2", "--threads", "1", "--progress", "none", "--save-dtype", "f32",
                                    "-q"} +
           extra;
  }
  CommandResult cache(const fs::path& out, const std::string& topk, const std::vector<std::string>& extra = {}) const {
    return run_hone(std::vector<std::string>{"cache-teacher", "--teacher", teacher_.string(), "--data",
                                             store_.string(), "-o", out.string(), "--top-k", topk, "--temperature", "2",
                                             "--threads", "1", "-q"} +
                    extra);
  }
  TempDir tmp_;
  fs::path teacher_, store_;
};

TEST_F(DistillCli, OfflineEqualsOnlineWithTheWholeVocabularyAndWithTopK) {
  for (const std::string k : {"0", "8"}) {
    SCOPED_TRACE("topk " + k);
    const fs::path c = tmp_ / ("cache" + k + ".h5");
    CommandResult r = cache(c, k);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_hone(run_args(tmp_ / ("off" + k), {"--teacher-cache", c.string()}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_hone(run_args(tmp_ / ("on" + k), {"--top-k", k}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const double diff = max_abs_diff(tmp_ / ("off" + k) / "model/model.safetensors",
                                     tmp_ / ("on" + k) / "model/model.safetensors");
    EXPECT_LE(diff, 1e-5);
  }
  // The teacher matters: cross-entropy alone trains another student.
  CommandResult r = run_hone(run_args(tmp_ / "ce", {"--kd-alpha", "0"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(max_abs_diff(tmp_ / "ce/model/model.safetensors", tmp_ / "on0/model/model.safetensors"), 1e-4);
  // The student directory loads on its own (config, weights, tokenizer files), with 1 layer.
  const auto cfg = nlohmann::json::parse(read_bytes(tmp_ / "on0/model/config.json"));
  EXPECT_EQ(cfg["num_hidden_layers"], 1);
  EXPECT_TRUE(fs::exists(tmp_ / "on0/model/tokenizer.json"));
  r = run_hone({"generate", "-m", (tmp_ / "on0/model").string(), "--max-new-tokens", "2", "--prompt", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto run = nlohmann::json::parse(read_bytes(tmp_ / "on0/run.json"));
  EXPECT_EQ(run["command"], "distill");
  EXPECT_EQ(run["identity"]["distill"]["student"], "layers:1");
}

// --freeze-embeddings: the student's embedding (its tied output head) stays the teacher's to the
// bit, every other weight trains, offline still equals online, and the setting is part of what a
// resume must match.
TEST_F(DistillCli, FrozenEmbeddingsStayTheTeachersAndTheRestTrains) {
  const fs::path c = tmp_ / "c.h5";
  ASSERT_EQ(cache(c, "0").exit_code, 0);
  CommandResult r = run_hone(run_args(tmp_ / "off", {"--teacher-cache", c.string(), "--freeze-embeddings"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "on", {"--top-k", "0", "--freeze-embeddings"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "all", {"--top-k", "0"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(max_abs_diff(tmp_ / "off/model/model.safetensors", tmp_ / "on/model/model.safetensors"), 1e-5);

  const ModelWeights teacher = load_model_weights(teacher_);
  auto tensors = [](const fs::path& file) {
    std::map<std::string, at::Tensor> m;
    for (auto& [name, values] : read_f32_tensors(file))
      m[name] = at::tensor(at::ArrayRef<float>(values)).clone();
    return m;
  };
  const auto frozen = tensors(tmp_ / "on/model/model.safetensors");
  const auto trained = tensors(tmp_ / "all/model/model.safetensors");
  const at::Tensor embed = teacher.tensors.at("model.embed_tokens.weight").to(at::kFloat).flatten();
  ASSERT_TRUE(frozen.count("model.embed_tokens.weight"));
  EXPECT_TRUE(at::equal(frozen.at("model.embed_tokens.weight"), embed));
  EXPECT_FALSE(at::equal(trained.at("model.embed_tokens.weight"), embed));
  // Layer 0 of the student is layer 0 of the teacher, trained.
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  const at::Tensor q0 = teacher.tensors.at(q).to(at::kFloat).flatten();
  EXPECT_GT((frozen.at(q) - q0).abs().max().item<double>(), 1e-4);

  const auto run_on = nlohmann::json::parse(read_bytes(tmp_ / "on/run.json"));
  const auto run_all = nlohmann::json::parse(read_bytes(tmp_ / "all/run.json"));
  EXPECT_EQ(run_all["trainable_parameters"].get<std::int64_t>() - run_on["trainable_parameters"].get<std::int64_t>(),
            embed.numel());
  EXPECT_EQ(run_on["identity"]["freeze_embeddings"], true);
  EXPECT_FALSE(run_all["identity"].contains("freeze_embeddings"));

  // Resuming a run with the other setting is refused; LoRA students have nothing to freeze.
  r = run_hone(run_args(tmp_ / "all", {"--top-k", "0", "--freeze-embeddings", "--resume"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'freeze_embeddings' was null and is now true"), std::string::npos) << r.err;
  r = run_hone(run_args(tmp_ / "on", {"--top-k", "0", "--resume"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'freeze_embeddings' was true and is now unset"), std::string::npos) << r.err;
  r = run_hone(run_args(tmp_ / "x", {"--student-lora", "--freeze-embeddings"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--freeze-embeddings applies to training every weight"), std::string::npos) << r.err;
  r = run_hone(run_args(tmp_ / "y", {"--student-lora", "--loraplus-lr-ratio", "0"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--loraplus-lr-ratio must be positive"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "x")) << "a usage error wrote into --out";
  EXPECT_FALSE(fs::exists(tmp_ / "y")) << "a usage error wrote into --out";
}

// --dtype bf16 caches from bf16 teacher weights: recorded in the cache, and the same
// distribution as float32's within bf16 tolerance.
TEST_F(DistillCli, Bf16TeacherCacheIsRecordedAndCloseToFloat32) {
  CommandResult r = cache(tmp_ / "f32.h5", "8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cache(tmp_ / "bf16.h5", "8", {"--dtype", "bf16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TeacherCacheReader f32(tmp_ / "f32.h5"), bf16(tmp_ / "bf16.h5");
  EXPECT_EQ(f32.meta().teacher_dtype, "f32");
  EXPECT_EQ(bf16.meta().teacher_dtype, "bf16");
  std::vector<std::int64_t> all;
  for (std::int64_t i = 0; i < 64; ++i) all.push_back(i);
  const TeacherTopK a = f32.rows(all, at::kCPU), b = bf16.rows(all, at::kCPU);
  ASSERT_EQ(a.ids.sizes(), b.ids.sizes());
  // Top-1 agrees almost everywhere (near ties may swap); the top-1 log-probability within bf16's
  // relative precision of the logits.
  const double top1 = a.ids.select(1, 0).eq(b.ids.select(1, 0)).to(at::kDouble).mean().item<double>();
  EXPECT_GE(top1, 0.95);
  EXPECT_LE((a.logprobs.select(1, 0) - b.logprobs.select(1, 0)).abs().max().item<double>(), 0.1);
  EXPECT_GT((a.logprobs - b.logprobs).abs().max().item<double>(), 0.0) << "bf16 was not used";
  EXPECT_EQ(cache(tmp_ / "bad.h5", "8", {"--dtype", "fp16"}).exit_code, 2);
}

// In bf16 too, offline equals online: the online teacher runs as --cache-teacher does (bf16
// weights, outside the training step's autocast), so both students see the same distribution;
// only the students' own bf16 steps remain, identical in the two runs.
TEST_F(DistillCli, Bf16OfflineEqualsOnline) {
  const std::vector<std::string> bf16 = {"--dtype", "bf16"};
  const fs::path c = tmp_ / "c.h5";
  CommandResult r = cache(c, "8", bf16);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "off", std::vector<std::string>{"--teacher-cache", c.string()} + bf16));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "on", std::vector<std::string>{"--top-k", "8"} + bf16));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "f32", {"--top-k", "8"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path w = "model/model.safetensors";
  EXPECT_LE(max_abs_diff(tmp_ / "off" / w, tmp_ / "on" / w), 1e-6);
  EXPECT_GT(max_abs_diff(tmp_ / "f32" / w, tmp_ / "on" / w), 1e-4) << "bf16 was not used";
}

TEST_F(DistillCli, LoraStudentWritesItsBaseAndAnAdapter) {
  const fs::path out = tmp_ / "lora";
  CommandResult r = run_hone(run_args(out, {"--student-lora", "--kd-loss", "jsd", "--jsd-beta", "0.3"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "adapter_model.safetensors"));
  ASSERT_TRUE(fs::exists(out / "student-base/model.safetensors"));
  const auto cfg = nlohmann::json::parse(read_bytes(out / "adapter_config.json"));
  EXPECT_EQ(cfg["base_model_name_or_path"], (out / "student-base").string());
  r = run_hone({"generate", "-m", (out / "student-base").string(), "--adapter", out.string(), "--max-new-tokens", "2",
                "--prompt", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(DistillCli, ResumeFromACheckpointEqualsTheUninterruptedRun) {
  // Run b keeps its step-5 checkpoint; its step-10 checkpoint and model are removed, as if it had
  // been killed after step 5, and --resume finishes it: the student is bitwise a's.
  const std::vector<std::string> opts{"--save-every", "5", "--keep-checkpoints", "3", "--kd-loss", "reverse-kl"};
  CommandResult r = run_hone(run_args(tmp_ / "a", opts));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(run_args(tmp_ / "b", opts));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::remove_all(tmp_ / "b/checkpoints/step-00000010");
  fs::remove_all(tmp_ / "b/model");
  std::vector<std::string> resume = run_args(tmp_ / "b", opts + std::vector<std::string>{"--resume"});
  resume.erase(std::find(resume.begin(), resume.end(), "-q"));  // the log says where it resumed
  r = run_hone(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("from step 5"), std::string::npos) << r.err;
  EXPECT_EQ(max_abs_diff(tmp_ / "a/model/model.safetensors", tmp_ / "b/model/model.safetensors"), 0.0);
}

// --hidden-weight pulls each layer of a layers: student towards the teacher layer it was cut
// from. The tiny teacher has 2 layers, and the layers:1 student keeps layer 0, so at the start
// its layer output is the teacher's layer 0 output: one step adds nothing to cross-entropy's
// gradient (a wrong match, say with the teacher's last layer, would). Over 10 steps the term keeps
// that output nearer the teacher's than cross-entropy alone does.
TEST_F(DistillCli, HiddenStateLossMatchesTheLayerTheStudentWasCutFrom) {
  auto args = [&](const std::string& name, const std::string& steps, const std::vector<std::string>& extra) {
    return with(run_args(tmp_ / name, std::vector<std::string>{"--kd-alpha", "0"} + extra), "--max-steps", steps);
  };
  const std::vector<std::string> hidden{"--hidden-weight", "10"};
  for (const auto& [name, steps, extra] : std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>{
           {"ce1", "1", {}}, {"h1", "1", hidden}, {"ce", "10", {}}, {"h", "10", hidden},
           {"ht", "10", hidden + std::vector<std::string>{"--hidden-tokens", "targets"}}}) {
    const CommandResult r = run_hone(args(name, steps, extra));
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
  // (Not bitwise: 1 - cos of two equal rows rounds to about 1e-7, whose gradient moves the Adam
  // step by about 1e-6; matched with another layer, the term moves it by about the learning rate.)
  EXPECT_LE(max_abs_diff(tmp_ / "ce1/model/model.safetensors", tmp_ / "h1/model/model.safetensors"), 1e-5);
  EXPECT_GT(max_abs_diff(tmp_ / "ce/model/model.safetensors", tmp_ / "h/model/model.safetensors"), 1e-4);
  EXPECT_GT(max_abs_diff(tmp_ / "h/model/model.safetensors", tmp_ / "ht/model/model.safetensors"), 1e-6);

  // Mean 1 - cos between the student's layer 0 output and the teacher's, over the real tokens of
  // the first 8 training sequences.
  at::NoGradGuard no_grad;
  const data::TokenStore store = data::read_token_store(store_);
  const Batch b = make_batch(store.splits.at("train"), {0, 1, 2, 3, 4, 5, 6, 7}, c10::kCPU);
  auto layer_outputs = [&](const fs::path& model) {
    std::vector<at::Tensor> out;
    target_hidden(load_decoder(model), b, false, &out);
    return out;
  };
  const std::vector<at::Tensor> teacher = layer_outputs(teacher_);
  ASSERT_EQ(teacher.size(), 2u);
  auto distance = [&](const std::string& run) {
    const at::Tensor s = layer_outputs(tmp_ / run / "model").at(0);
    const std::int64_t H = s.size(-1);
    return hidden_cosine_loss_sum(s.reshape({-1, H}).index_select(0, b.token_index),
                                  teacher[0].reshape({-1, H}).index_select(0, b.token_index))
               .item<double>() /
           static_cast<double>(b.token_index.numel());
  };
  const double d_ce = distance("ce"), d_hidden = distance("h");
  EXPECT_GT(d_ce, 1e-4);
  EXPECT_LT(d_hidden, 0.5 * d_ce) << "cross-entropy only " << d_ce << ", with the hidden-state loss " << d_hidden;
  const auto run = nlohmann::json::parse(read_bytes(tmp_ / "h/run.json"));
  EXPECT_EQ(run["identity"]["distill"]["hidden_weight"], 10.0);
  EXPECT_EQ(run["identity"]["distill"]["hidden_tokens"], "all");
  EXPECT_FALSE(nlohmann::json::parse(read_bytes(tmp_ / "ce/run.json"))["identity"]["distill"].contains("hidden_weight"));
}

TEST_F(DistillCli, Errors) {
  const fs::path c = tmp_ / "c.h5";
  ASSERT_EQ(cache(c, "4").exit_code, 0);
  // The cache exists.
  CommandResult r = cache(c, "4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  // A cache of another store.
  const fs::path other_store = make_store(tmp_ / "other", teacher_, 40, 4, false);
  r = run_hone(std::vector<std::string>{"distill", "--teacher", teacher_.string(), "--student", "layers:1", "--data",
                                        other_store.string(), "-o", (tmp_ / "x").string(), "--teacher-cache",
                                        c.string(), "--temperature", "2", "-q"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("the teacher cache was made from a train split with fingerprint"), std::string::npos) << r.err;
  // Another temperature than the cache's.
  r = run_hone(with(run_args(tmp_ / "x", {"--teacher-cache", c.string()}), "--temperature", "1"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("the cache holds the teacher at temperature 2"), std::string::npos) << r.err;
  // Not a cache.
  r = run_hone(run_args(tmp_ / "x", {"--teacher-cache", store_.string()}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not a hone teacher cache"), std::string::npos) << r.err;
  // A teacher (and a student) whose tokenizer is not the store's.
  write_gguf_with_other_tokenizer(teacher_, tmp_ / "other.gguf");
  r = run_hone(std::vector<std::string>{"distill", "--teacher", (tmp_ / "other.gguf").string(), "--student", "layers:1",
                                        "--data", store_.string(), "-o", (tmp_ / "x").string(), "-q"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("the token store was made with tokenizer"), std::string::npos) << r.err;
  r = run_hone(std::vector<std::string>{"distill", "--teacher", teacher_.string(), "--student",
                                        (tmp_ / "other.gguf").string(), "--data", store_.string(), "-o",
                                        (tmp_ / "x").string(), "-q"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("the token store was made with tokenizer"), std::string::npos) << r.err;
  // Malformed student specs and loss options.
  for (const auto& [spec, message] : std::vector<std::pair<std::string, std::string>>{
           {"layers:3", "N must be 1 to 2"}, {"layers:1,0", "increasing order"}, {"layers:x", "expected layers:N"}}) {
    r = run_hone(with(run_args(tmp_ / "x", {}), "--student", spec));
    EXPECT_EQ(r.exit_code, 2) << spec;
    EXPECT_NE(r.err.find(message), std::string::npos) << spec << ": " << r.err;
  }
  r = run_hone(run_args(tmp_ / "x", {"--kd-loss", "jsd", "--jsd-beta", "1"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--jsd-beta must be in (0, 1)"), std::string::npos) << r.err;
  // The hidden-state loss: it needs the teacher online and a student cut from it.
  for (const auto& [extra, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--hidden-weight", "1", "--teacher-cache", c.string()}, "holds only its top-k log-probabilities"},
           {{"--hidden-weight", "-1"}, "--hidden-weight must be 0 or positive"},
           {{"--hidden-weight", "1", "--hidden-tokens", "prompt"}, "--hidden-tokens: prompt not in {all,targets}"}}) {
    r = run_hone(run_args(tmp_ / "x", extra));
    EXPECT_EQ(r.exit_code, 2) << message;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  r = run_hone(with(run_args(tmp_ / "x", {"--hidden-weight", "1"}), "--student", teacher_.string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not a layers: student"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "x/model"));
}

}  // namespace
}  // namespace hone::test
