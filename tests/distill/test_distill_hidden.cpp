// The hidden-state loss from a teacher cache, and the choice of a student's layers by block
// influence, on a tiny 4-layer teacher: offline equals online, the cache holds the teacher's layer
// outputs, influence matches a direct computation, and the errors name what is wrong.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "batch/batches.h"
#include "batch/targets.h"
#include "data/token_store.h"
#include "distill/distill.h"
#include "distill/influence.h"
#include "distill/teacher_cache.h"
#include "helpers.h"
#include "model/decoder.h"
#include "model/loader.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

class DistillHidden : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    teacher_ = write_tiny_gguf(tmp_.path(), /*seed=*/5, /*layers=*/4);
    store_ = make_store(tmp_.path(), teacher_, 48, 8, /*packed=*/true);
  }
  // 10 steps (batch 4) of a layers:0,3 student with logit KD and the hidden-state term.
  std::vector<std::string> run_args(const fs::path& out, const std::vector<std::string>& extra) const {
    return std::vector<std::string>{"distill", "--teacher", teacher_.string(), "--student", "layers:0,3", "--data",
                                    store_.string(), "-o", out.string(), "--max-steps", "10", "-b", "4", "--lr", "3e-3",
                                    "--top-k", "8", "--hidden-weight", "3", "--threads", "1", "--progress", "none",
                                    "--save-dtype", "f32", "-q"} +
           extra;
  }
  CommandResult cache(const fs::path& out, const std::vector<std::string>& extra) const {
    return run_hone(std::vector<std::string>{"cache-teacher", "--teacher", teacher_.string(), "--data",
                                             store_.string(), "-o", out.string(), "--top-k", "8", "--threads", "1",
                                             "-q"} +
                    extra);
  }
  TempDir tmp_;
  fs::path teacher_, store_;
};

// With the same settings, a student trained with the hidden-state term from the cache is the one
// trained with the teacher online: at the targets and at every token, with the teacher and its
// cache in f32, and in bf16 (a bf16 teacher's layer outputs are stored exactly in bf16).
TEST_F(DistillHidden, OfflineEqualsOnline) {
  struct Case {
    std::string name, tokens, dtype, hidden_dtype;
  };
  for (const Case& c : std::vector<Case>{{"targets-f32", "targets", "f32", "f32"},
                                         {"all-f32", "all", "f32", "f32"},
                                         {"targets-bf16", "targets", "bf16", "bf16"}}) {
    SCOPED_TRACE(c.name);
    const fs::path file = tmp_ / (c.name + ".h5");
    const std::vector<std::string> compute{"--dtype", c.dtype};
    CommandResult r = cache(file, std::vector<std::string>{"--student", "layers:0,3", "--hidden-tokens", c.tokens,
                                                           "--hidden-dtype", c.hidden_dtype} +
                                      compute);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::vector<std::string> tokens{"--hidden-tokens", c.tokens};
    r = run_hone(run_args(tmp_ / ("off-" + c.name), tokens + compute + std::vector<std::string>{"--teacher-cache", file.string()}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_hone(run_args(tmp_ / ("on-" + c.name), tokens + compute));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const fs::path w = "model/model.safetensors";
    EXPECT_LE(max_abs_diff(tmp_ / ("off-" + c.name) / w, tmp_ / ("on-" + c.name) / w), 1e-5);
  }
  // The term matters: without it the student differs.
  std::vector<std::string> args = run_args(tmp_ / "logits-only", {"--hidden-tokens", "targets"});
  *(std::find(args.begin(), args.end(), "--hidden-weight") + 1) = "0";
  CommandResult r = run_hone(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(max_abs_diff(tmp_ / "logits-only/model/model.safetensors", tmp_ / "on-targets-f32/model/model.safetensors"),
            1e-4);
}

// The cache holds layers 0 and 3's outputs at the targets: those of the teacher, computed directly.
TEST_F(DistillHidden, CacheHoldsTheTeachersLayerOutputs) {
  const fs::path f32 = tmp_ / "f32.h5", bf16 = tmp_ / "bf16.h5";
  CommandResult r = cache(f32, {"--student", "layers:0,3", "--hidden-tokens", "targets", "--hidden-dtype", "f32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cache(bf16, {"--student", "layers:0,3", "--hidden-tokens", "targets"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TeacherCacheReader a(f32), b(bf16);
  EXPECT_EQ(a.meta().hidden_layers, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(b.meta().hidden_dtype, "bf16");
  EXPECT_EQ(a.meta().hidden_rows, a.meta().rows);
  EXPECT_LT(fs::file_size(bf16), fs::file_size(f32));

  at::NoGradGuard no_grad;
  const data::TokenStore store = data::read_token_store(store_);
  const data::TokenSplit& train = store.splits.at("train");
  const std::vector<std::int64_t> seqs{2, 0, 5};  // any order
  const Batch batch = make_batch(train, seqs, c10::kCPU);
  const Decoder teacher = load_decoder(teacher_);
  std::vector<at::Tensor> layers;
  for (std::int64_t j : seqs) {  // one sequence at a time, as the cache runs them
    std::vector<at::Tensor> per;
    target_hidden(teacher, make_batch(train, {j}, c10::kCPU), false, &per);
    const Batch one = make_batch(train, {j}, c10::kCPU);
    for (std::size_t l = 0; l < per.size(); ++l) {
      const at::Tensor rows = per[l].reshape({-1, per[l].size(-1)}).index_select(0, one.target_index);
      if (layers.size() <= l) layers.push_back(rows);
      else layers[l] = at::cat({layers[l], rows});
    }
  }
  const std::vector<at::Tensor> exact = a.hidden(seqs, {0, 3}, c10::kCPU), rounded = b.hidden(seqs, {3}, c10::kCPU);
  ASSERT_EQ(exact.at(0).size(0), batch.loss_tokens);
  EXPECT_LE((exact[0] - layers[0]).abs().max().item<double>(), 1e-5);
  EXPECT_LE((exact[1] - layers[3]).abs().max().item<double>(), 1e-5);
  const double scale = layers[3].abs().max().item<double>();
  EXPECT_LE((rounded[0] - layers[3]).abs().max().item<double>(), scale / 128.0);  // bf16: 8 significant bits
  EXPECT_GT((rounded[0] - layers[3]).abs().max().item<double>(), 0.0) << "bf16 was not used";
}

TEST_F(DistillHidden, Errors) {
  const fs::path logits = tmp_ / "logits.h5", some = tmp_ / "some.h5";
  ASSERT_EQ(cache(logits, {}).exit_code, 0);
  ASSERT_EQ(cache(some, {"--student", "layers:0,1", "--hidden-tokens", "targets"}).exit_code, 0);
  for (const auto& [extra, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--teacher-cache", logits.string()}, "holds only its top-k log-probabilities"},
           {{"--teacher-cache", some.string(), "--hidden-tokens", "targets"}, "(missing: 3)"},
           {{"--teacher-cache", some.string()}, "(missing: 3)"}}) {
    const CommandResult r = run_hone(run_args(tmp_ / "x", extra));
    EXPECT_EQ(r.exit_code, 2) << message;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  CommandResult r = run_hone(std::vector<std::string>{"distill", "--teacher", teacher_.string(), "--student",
                                                      "layers:0,1", "--data", store_.string(), "-o",
                                                      (tmp_ / "x").string(), "--hidden-weight", "1",
                                                      "--teacher-cache", some.string(), "-q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("holds hidden states at targets tokens, but --hidden-tokens is all"), std::string::npos) << r.err;
  r = cache(tmp_ / "y.h5", {"--student", "layers:0,3", "--layer-choice", "influence"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("lists them"), std::string::npos) << r.err;
  r = cache(tmp_ / "y.h5", {"--student", "model.gguf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(tmp_ / "x/model"));
  EXPECT_FALSE(fs::exists(tmp_ / "y.h5"));
}

// Block influence against a direct computation: for each layer, the mean over the sample's real
// tokens of 1 - x.y / (|x| |y|) between its input and its output, in double precision.
TEST_F(DistillHidden, InfluenceEqualsADirectComputation) {
  at::NoGradGuard no_grad;
  const data::TokenStore store = data::read_token_store(store_);
  const data::TokenSplit& train = store.splits.at("train");
  ModelWeights w = load_model_weights(teacher_, {});
  // Layer 2 made the identity: its attention and MLP add nothing (output projections zero).
  for (const char* name : {"model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight"})
    w.tensors.at(name) = at::zeros_like(w.tensors.at(name));
  const Decoder teacher(w);
  const std::int64_t sample = 5;
  const LayerInfluence got = layer_influence(teacher, train, sample);
  ASSERT_EQ(got.scores.size(), 4u);
  std::vector<double> want(4, 0.0);
  std::int64_t tokens = 0;
  for (std::int64_t i = 0; i < sample; ++i) {
    const std::int64_t seq = i * train.sequences() / sample;
    const std::int64_t len = train.example_offsets[train.sequence_offsets[seq + 1]] -
                             train.example_offsets[train.sequence_offsets[seq]];
    const Batch b = make_batch(train, {seq}, c10::kCPU);
    ForwardInput in;
    in.input_ids = b.input_ids;
    in.position_ids = b.position_ids;
    in.document_ids = b.document_ids;
    std::vector<at::Tensor> outs;
    at::Tensor x;
    in.layer_outputs = &outs;
    in.embedding_output = &x;
    teacher.forward_hidden(in);
    std::vector<at::Tensor> states{x};
    states.insert(states.end(), outs.begin(), outs.end());
    for (std::size_t l = 0; l < 4; ++l) {
      const at::Tensor a = states[l][0].to(at::kDouble), c = states[l + 1][0].to(at::kDouble);
      for (std::int64_t t = 0; t < len; ++t) {
        const auto u = a[t].contiguous(), v = c[t].contiguous();
        const double* p = u.data_ptr<double>();
        const double* q = v.data_ptr<double>();
        double dot = 0, nu = 0, nv = 0;
        for (std::int64_t k = 0; k < u.numel(); ++k) dot += p[k] * q[k], nu += p[k] * p[k], nv += q[k] * q[k];
        want[l] += 1.0 - dot / std::sqrt(nu * nv);
      }
    }
    tokens += len;
  }
  EXPECT_EQ(got.tokens, tokens);
  EXPECT_EQ(got.sequences, sample);
  for (std::size_t l = 0; l < 4; ++l) EXPECT_NEAR(got.scores[l], want[l] / tokens, 1e-6) << "layer " << l;
  EXPECT_LT(got.scores[2], 1e-6);  // the identity layer changes nothing
  EXPECT_GT(got.scores[1], 1e-3);
  // The identity layer is the one cut; `even` would keep it (layers:3 of 4 keeps 0, 2, 3).
  const StudentLayers by_influence = choose_student_layers("layers:3", LayerChoice::kInfluence, teacher, train, sample);
  EXPECT_EQ(by_influence.keep, (std::vector<std::int64_t>{0, 1, 3}));
  EXPECT_EQ(choose_student_layers("layers:3", LayerChoice::kEven, teacher, train, sample).keep,
            (std::vector<std::int64_t>{0, 2, 3}));
  EXPECT_EQ(most_influential({0.1, 0.5, 0.5, 0.2}, 2), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(most_influential({0.3, 0.1, 0.3, 0.3}, 2), (std::vector<std::int64_t>{0, 2}));  // ties: lower first
}

// distill and cache-teacher choose the same layers, and record the choice and its scores.
TEST_F(DistillHidden, InfluenceChoiceIsRecordedAndSharedWithTheCache) {
  const fs::path file = tmp_ / "c.h5";
  const std::vector<std::string> choice{"--student", "layers:2", "--layer-choice", "influence", "--influence-sample",
                                        "6", "--hidden-tokens", "targets"};
  CommandResult r = cache(file, choice);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TeacherCacheReader c(file);
  const auto cached = nlohmann::json::parse(c.meta().student_layers);
  EXPECT_EQ(cached["layer_choice"], "influence");
  EXPECT_EQ(c.meta().hidden_layers, cached["layers"].get<std::vector<std::int64_t>>());
  std::vector<std::string> args = run_args(tmp_ / "s", {"--teacher-cache", file.string(), "--layer-choice", "influence",
                                                         "--influence-sample", "6", "--hidden-tokens", "targets"});
  std::replace(args.begin(), args.end(), std::string("layers:0,3"), std::string("layers:2"));
  r = run_hone(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = nlohmann::json::parse(read_bytes(tmp_ / "s/run.json"));
  EXPECT_EQ(run["student_layers"], cached);
  EXPECT_EQ(run["student_layers"]["influence"]["scores"].size(), 4u);
  EXPECT_EQ(run["identity"]["distill"]["layer_choice"], "influence");
}

}  // namespace
}  // namespace hone::test
