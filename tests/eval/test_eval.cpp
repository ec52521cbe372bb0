// hone eval: constrained scoring against a plain transformers computation on Banking77, and the
// perplexity, generation-set and error paths on small fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;
namespace fs = std::filesystem;

using test::read_jsonl;

TEST(EvalParity, ConstrainedScoringEqualsTransformersOn100Banking77Queries) {
  const fs::path b77 = HONE_BANKING77_DIR;
  if (!test::have_python() || !test::have_model() || !fs::exists(b77 / "test.csv"))
    GTEST_SKIP() << "needs .venv, the model and ../shared/datasets/banking77";
  TempDir dir;
  auto r = test::run_hone({"ingest", (b77 / "train.csv").string(), (b77 / "test.csv").string(), "-o",
                           (dir / "data").string(), "--label-field", "category", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  constexpr int kQueries = 100;
  // Batches of 32 queries: on a CPU whose BLAS repacks the weights at every call (MKL on AMD Zen 3),
  // wider batches amortise that (47 against 36 s for 16 queries on 2 such cores).
  r = test::run_hone({"eval", "-m", test::model_path(), "--data", (dir / "data").string(), "--limit",
                      std::to_string(kQueries), "--method", "score", "--batch-size", "32", "--report",
                      (dir / "eval" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model | accuracy | macro-F1 |"), std::string::npos) << r.out;
  r = test::run_python("eval_peer.py", {"score", test::model_path(), (dir / "data").string(), "test",
                                        std::to_string(kQueries), (dir / "ref.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ref = json::parse(test::read_bytes(dir / "ref.json"));
  const auto mine = read_jsonl(dir / "eval" / "predictions.jsonl");
  ASSERT_EQ(ref.size(), static_cast<std::size_t>(kQueries));
  ASSERT_EQ(mine.size(), ref.size());
  int ref_correct = 0, same = 0;
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(mine[i]["id"], ref[i]["id"]);
    const double margin = ref[i]["best_logprob"].get<double>() - ref[i]["second_logprob"].get<double>();
    if (margin > 1e-3) {
      EXPECT_EQ(mine[i]["scored"], ref[i]["best"]) << "query " << i;
    }
    same += mine[i]["scored"] == ref[i]["best"];
    ref_correct += ref[i]["best"] == mine[i]["gold"];
    worst = std::max(worst, std::abs(mine[i]["gold_logprob"].get<double>() - ref[i]["gold_logprob"].get<double>()));
    worst = std::max(worst, std::abs(mine[i]["scored_top"][0][1].get<double>() - ref[i]["best_logprob"].get<double>()));
  }
  const json report = json::parse(test::read_bytes(dir / "eval" / "report.json"));
  const json& m = report["models"][0];
  std::printf("hone vs transformers on %d queries: same label %d, worst |d logprob| %.2e, accuracy %.4f vs %.4f\n",
              kQueries, same, worst, m["accuracy"].get<double>(), ref_correct / double(kQueries));
  EXPECT_LT(worst, 1e-3);
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), ref_correct / double(kQueries));
  EXPECT_EQ(report["task"], "classification");
  EXPECT_EQ(report["labels"], 77);
  for (const char* k : {"name", "accuracy", "macro_f1", "latency_ms_p50", "latency_ms_p95", "params", "bytes", "tokens_per_s"})
    EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_EQ(m["params"], 134515008);

  // The pruned search (the default above, top 2) finds exactly what feeding the whole label tree
  // finds: the same best label (and, with --score-top 3, the same top 3) and gold
  // log-likelihoods, on the first 24 queries (batches of 5 with 3 nodes per round, so that
  // finished rows are dropped and the cache grows).
  constexpr int kExhaustive = 24;
  r = test::run_hone({"eval", "-m", test::model_path(), "--data", (dir / "data").string(), "--limit",
                      std::to_string(kExhaustive), "--method", "score", "--scoring", "exhaustive", "--score-top", "3",
                      "--report", (dir / "full" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_hone({"eval", "-m", test::model_path(), "--data", (dir / "data").string(), "--limit",
                      std::to_string(kExhaustive), "--method", "score", "--batch-size", "5", "--score-per-round", "3",
                      "--score-top", "3", "--report", (dir / "small" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto full = read_jsonl(dir / "full" / "predictions.jsonl");
  const auto small = read_jsonl(dir / "small" / "predictions.jsonl");
  ASSERT_EQ(full.size(), static_cast<std::size_t>(kExhaustive));
  ASSERT_EQ(small.size(), full.size());
  for (int i = 0; i < kExhaustive; ++i) {
    ASSERT_EQ(full[i]["scored_top"].size(), 3u);
    for (const auto* pruned : {&mine[i], &small[i]}) {
      const std::size_t k_top = pruned == &mine[i] ? 2u : 3u;
      ASSERT_EQ((*pruned)["scored_top"].size(), k_top);
      for (std::size_t k = 0; k < k_top; ++k) {
        EXPECT_EQ((*pruned)["scored_top"][k][0], full[i]["scored_top"][k][0]) << "query " << i << " rank " << k;
        EXPECT_NEAR((*pruned)["scored_top"][k][1].get<double>(), full[i]["scored_top"][k][1].get<double>(), 1e-3);
      }
      EXPECT_NEAR((*pruned)["gold_logprob"].get<double>(), full[i]["gold_logprob"].get<double>(), 1e-3);
    }
  }
}

TEST(EvalCli, PerplexityEqualsTheTrainersValidLossAndGenerationSetsAreScored) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model";
  TempDir dir;
  const fs::path tiny = test::write_tiny_gguf(dir.path());
  const fs::path store = test::make_store(dir.path(), tiny, 24, 8, false);
  // lora-train logs the valid loss of the untrained model at step 0; eval must find the same.
  auto r = test::run_hone({"lora-train", "--model", tiny.string(), "--data", store.string(), "--out", (dir / "run").string(),
                           "--max-steps", "1", "--eval-every", "1", "--batch-size", "4", "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  double valid_loss = -1;
  for (const json& j : read_jsonl(dir / "run" / "metrics.jsonl"))
    if (j.contains("valid_loss") && j["step"] == 0) valid_loss = j["valid_loss"].get<double>();
  ASSERT_GT(valid_loss, 0);
  r = test::run_hone({"eval", "-m", tiny.string(), "--data", store.string(), "--split", "valid", "--report",
                      (dir / "ppl.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json p = json::parse(test::read_bytes(dir / "ppl.json"));
  EXPECT_EQ(p["task"], "perplexity");
  EXPECT_NEAR(p["models"][0]["mean_loss"].get<double>(), valid_loss, 1e-4);
  EXPECT_NEAR(p["models"][0]["perplexity"].get<double>(), std::exp(valid_loss), 1e-2 * std::exp(valid_loss));
  EXPECT_EQ(p["dtype"], "f32");

  // --dtype fast computes in bf16 only where the CPU multiplies it natively (float32 elsewhere, to
  // the bit), and the report names what it computed in; bf16 asked for on a CPU that only emulates
  // it is computed so, with a warning.
  const bool native = native_bf16(c10::kCPU);
  for (const std::string dt : {"fast", "bf16"}) {
    SCOPED_TRACE("--dtype " + dt);
    const fs::path rep = dir / ("ppl-" + dt + ".json");
    r = test::run_hone({"eval", "-m", tiny.string(), "--data", store.string(), "--split", "valid", "--dtype", dt,
                        "--report", rep.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json q = json::parse(test::read_bytes(rep));
    const bool bf16 = dt == "bf16" || native;
    EXPECT_EQ(q["dtype"], bf16 ? "bf16" : "f32");
    if (!bf16) {
      EXPECT_EQ(q["models"][0]["mean_loss"].get<double>(), p["models"][0]["mean_loss"].get<double>());
    }
    EXPECT_EQ(r.err.find("no native bf16 matrix multiply") != std::string::npos, bf16 && !native) << r.err;
  }

  // A generation set, two models side by side (the second with the adapter just trained), a regex.
  test::write_bytes(dir / "gen.jsonl",
                    R"({"id":"a","format":"completion","prompt":"Say yes","completion":"yes"})" "\n"
                    R"({"id":"b","format":"completion","prompt":"Say no","completion":"No."})" "\n");
  r = test::run_hone({"eval", "-m", tiny.string(), "-m", tiny.string(), "--adapter", "-", "--adapter",
                      (dir / "run").string(), "--name", "base", "--name", "tuned", "--data", (dir / "gen.jsonl").string(),
                      "--format-regex", "[a-z ]*", "--max-new-tokens", "4", "--report", (dir / "gen" / "r.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json g = json::parse(test::read_bytes(dir / "gen" / "r.json"));
  EXPECT_EQ(g["task"], "generation");
  ASSERT_EQ(g["models"].size(), 2u);
  EXPECT_EQ(g["models"][1]["name"], "tuned");
  EXPECT_GT(g["models"][1]["adapter_params"].get<std::int64_t>(), 0);
  // Size on disk: the model file plus the adapter's weights and config, not its checkpoints.
  EXPECT_EQ(g["models"][0]["bytes"].get<std::uint64_t>(), fs::file_size(tiny));
  EXPECT_EQ(g["models"][1]["bytes"].get<std::uint64_t>(),
            fs::file_size(tiny) + fs::file_size(dir / "run" / "adapter_model.safetensors") +
                fs::file_size(dir / "run" / "adapter_config.json"));
  for (const json& m : g["models"]) {
    for (const char* k : {"exact_match", "normalized_match", "format_validity"}) {
      ASSERT_TRUE(m[k].is_number()) << k;
      EXPECT_GE(m[k].get<double>(), 0.0);
      EXPECT_LE(m[k].get<double>(), 1.0);
    }
  }
  const auto preds = read_jsonl(dir / "gen" / "predictions.jsonl");
  ASSERT_EQ(preds.size(), 4u);
  // Each prediction's validity is the regex on its (trimmed) output.
  for (const json& pr : preds) EXPECT_TRUE(pr.contains("valid") && pr.contains("generated") && pr.contains("latency_ms"));
}

TEST(EvalCli, BadInputsGetClearErrors) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model";
  TempDir dir;
  const fs::path tiny = test::write_tiny_gguf(dir.path());
  const std::string m = tiny.string();
  auto fails = [&](std::vector<std::string> args, int code, const std::string& msg) {
    auto r = test::run_hone(args);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(msg), std::string::npos) << "stderr: " << r.err << "\nexpected: " << msg;
  };
  test::write_bytes(dir / "text.jsonl", R"({"id":"a","format":"text","text":"hello"})" "\n");
  fails({"eval", "-m", m, "--data", (dir / "text.jsonl").string()}, 3, "text.jsonl:1: a 'text' record has no answer to compare with");
  test::write_bytes(dir / "bad.jsonl", "{\"id\":\"a\"}\n");
  fails({"eval", "-m", m, "--data", (dir / "bad.jsonl").string()}, 3, "bad.jsonl:1: not a canonical record");
  fails({"eval", "-m", m, "--data", (dir / "missing").string()}, 3, "missing: no such file or directory");
  fs::create_directories(dir / "ingested");
  fails({"eval", "-m", m, "--data", (dir / "ingested").string()}, 3, "no test.jsonl (split 'test')");
  test::write_bytes(dir / "gen.jsonl", R"({"id":"a","format":"completion","prompt":"p","completion":"c"})" "\n");
  fails({"eval", "-m", m, "-m", m, "--adapter", "x", "--data", (dir / "gen.jsonl").string()}, 2, "1 --adapter for 2 --model");
  fails({"eval", "-m", m, "--data", (dir / "gen.jsonl").string(), "--format-regex", "(["}, 2, "is not a valid regular expression");
  fails({"eval", "-m", m, "--data", (dir / "gen.jsonl").string(), "--method", "vote"}, 2, "vote");
  fails({"eval", "-m", m, "--data", (dir / "gen.jsonl").string(), "--score-top", "0", "--report",
         (dir / "top0.json").string()},
        2, "--score-top must be positive, got 0");
  EXPECT_FALSE(fs::exists(dir / "top0.json"));
}

}  // namespace
}  // namespace hone
