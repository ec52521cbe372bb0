// hone eval's confidence, calibration and cascade on tiny random models: the temperature, ECE,
// AURC and threshold against a float64 numpy computation from the predictions alone
// (tests/python/calibration_peer.py), and the cascade's answers against the rule applied to each
// model's own predictions.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;
namespace fs = std::filesystem;

using test::read_jsonl;

// An ingested classification set: 5 labels, 90 train rows (30% carved as the valid split) and 40
// test rows.
fs::path ingest_fixture(const fs::path& dir) {
  const char* labels[] = {"card", "loan", "fee", "atm", "refund"};
  const char* words[] = {"my", "the", "a", "new", "old", "lost", "blocked", "extra", "late", "wrong"};
  auto rows = [&](int n, int seed) {
    std::string csv = "text,category\n";
    for (int i = 0; i < n; ++i) {
      const int l = (i * 7 + seed) % 5;
      csv += std::string(words[(i + seed) % 10]) + " " + words[(i * 3 + seed) % 10] + " " + labels[l] + " question " +
             std::to_string(i) + "," + labels[l] + "\n";
    }
    return csv;
  };
  test::write_bytes(dir / "train.csv", rows(90, 1));
  test::write_bytes(dir / "test.csv", rows(40, 2));
  auto r = test::run_hone({"ingest", (dir / "train.csv").string(), (dir / "test.csv").string(), "-o",
                           (dir / "data").string(), "--label-field", "category", "--valid-from-train", "0.3", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir / "data";
}

TEST(EvalConfidence, CalibrationAndSelectiveMetricsEqualNumpy) {
  if (!test::have_model() || !test::have_python()) GTEST_SKIP() << "needs the model (its tokenizer) and .venv";
  TempDir dir;
  const fs::path tiny = test::write_tiny_gguf(dir.path());
  const fs::path data = ingest_fixture(dir.path());
  constexpr double kTarget = 0.3;
  auto r = test::run_hone({"eval", "-m", tiny.string(), "--name", "tiny", "--data", data.string(), "--method", "score",
                           "--score-top", "3", "--calibrate", "--target-accuracy", std::to_string(kTarget), "--report",
                           (dir / "test" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| tiny | label_probability |"), std::string::npos) << r.out;
  // The calibration split's own predictions, scored the same way, for the reference to fit on.
  r = test::run_hone({"eval", "-m", tiny.string(), "--name", "tiny", "--data", data.string(), "--split", "valid",
                      "--method", "score", "--score-top", "3", "--report", (dir / "valid" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_python("calibration_peer.py",
                       {(dir / "test" / "predictions.jsonl").string(), (dir / "valid" / "predictions.jsonl").string(),
                        "tiny", std::to_string(kTarget), (dir / "ref.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ref = json::parse(test::read_bytes(dir / "ref.json"));
  const json rep = json::parse(test::read_bytes(dir / "test" / "report.json"));
  const json& s = rep["models"][0]["selective"];
  ASSERT_TRUE(s.is_object()) << rep.dump(2);
  EXPECT_EQ(s["confidence_labels"], 3);
  EXPECT_EQ(s["calibration"]["split"], "valid");
  EXPECT_EQ(s["calibration"]["examples"], read_jsonl(data / "valid.jsonl").size());
  EXPECT_NE(s["temperature"].get<double>(), 1.0);
  EXPECT_NEAR(s["temperature"].get<double>(), ref["temperature"].get<double>(), 1e-6);
  for (const char* k : {"nll", "nll_calibrated"})
    EXPECT_NEAR(s["calibration"][k].get<double>(), ref[k].get<double>(), 1e-6) << k;
  for (const char* k : {"ece", "ece_calibrated", "aurc", "aurc_calibrated"})
    EXPECT_NEAR(s[k].get<double>(), ref[k].get<double>(), 1e-6) << k;
  EXPECT_LT(s["calibration"]["nll_calibrated"].get<double>(), s["calibration"]["nll"].get<double>());
  // Each prediction's confidence is the calibrated one.
  const auto preds = read_jsonl(dir / "test" / "predictions.jsonl");
  ASSERT_EQ(preds.size(), ref["confidence"].size());
  for (std::size_t i = 0; i < preds.size(); ++i)
    EXPECT_NEAR(preds[i]["confidence"].get<double>(), ref["confidence"][i].get<double>(), 1e-9) << i;
  // The threshold is chosen on the valid split, and measured on the test split.
  if (ref["threshold"].is_null()) {
    EXPECT_TRUE(s["target_threshold"].is_null());
  } else {
    const json& th = s["target_threshold"];
    ASSERT_TRUE(th.is_object()) << s.dump(2);
    EXPECT_EQ(th["chosen_on"], "valid");
    EXPECT_NEAR(th["threshold"].get<double>(), ref["threshold"].get<double>(), 1e-9);
    EXPECT_NEAR(th["coverage"].get<double>(), ref["threshold_coverage"].get<double>(), 1e-12);
  }
  // The curve ends with everything kept, at the model's accuracy.
  EXPECT_DOUBLE_EQ(s["curve"].back()["coverage"].get<double>(), 1.0);
  EXPECT_NEAR(s["curve"].back()["accuracy"].get<double>(), rep["models"][0]["accuracy"].get<double>(), 1e-12);
}

TEST(EvalConfidence, TheCascadeAppliesItsRuleToTheModelsOwnPredictions) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  const fs::path a = test::write_tiny_gguf(dir / "a", 1), b = test::write_tiny_gguf(dir / "b", 2, 3);
  const fs::path data = ingest_fixture(dir.path());
  // auto first; then a threshold between two of the first model's confidences, near their median.
  std::string numeric;
  for (const std::string& threshold : {std::string("auto"), std::string("median")}) {
    SCOPED_TRACE("--threshold " + threshold);
    if (threshold == "median") {
      ASSERT_FALSE(numeric.empty());
    }
    const fs::path out = dir / ("cascade-" + threshold);
    auto r = test::run_hone({"eval", "-m", a.string(), "-m", b.string(), "--name", "small", "--name", "big",
                             "--data", data.string(), "--method", "score", "--score-top", "2", "--batch-size", "7",
                             "--cascade", "--threshold", threshold == "auto" ? threshold : numeric,
                             "--target-accuracy", "0.25", "--report",
                             (out / "report.json").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json rep = json::parse(test::read_bytes(out / "report.json"));
    ASSERT_TRUE(rep.contains("cascade")) << rep.dump(2);
    const json& c = rep["cascade"];
    const double t = c["threshold"].get<double>();
    if (threshold == "auto") {
      EXPECT_EQ(c["chosen_on"], "valid");
      EXPECT_EQ(t, rep["models"][0]["selective"]["target_threshold"]["threshold"].get<double>());
    } else {
      EXPECT_EQ(t, std::stod(numeric));
    }
    std::map<std::string, json> small, big;
    std::vector<json> cascade;
    for (const json& p : read_jsonl(out / "predictions.jsonl")) {
      if (p["model"] == "small") small[p["id"]] = p;
      else if (p["model"] == "big") big[p["id"]] = p;
      else cascade.push_back(p);
    }
    ASSERT_EQ(cascade.size(), 40u);
    ASSERT_EQ(small.size(), 40u);
    int deferred = 0, right = 0;
    for (const json& p : cascade) {
      EXPECT_EQ(p["model"], "small → big");
      const json& first = small.at(p["id"]);
      const bool defer = first["confidence"].get<double>() < t;
      EXPECT_EQ(p["deferred"], defer) << p.dump();
      EXPECT_EQ(p["answered_by"], defer ? "big" : "small");
      EXPECT_EQ(p["scored"], defer ? big.at(p["id"])["scored"] : first["scored"]) << p.dump();
      deferred += defer;
      right += p["scored"] == p["gold"];
    }
    if (threshold == "median") {
      EXPECT_GE(deferred, 10);
      EXPECT_LE(deferred, 30);
    }
    std::vector<double> conf;
    for (const auto& [id, p] : small) conf.push_back(p["confidence"].get<double>());
    std::sort(conf.begin(), conf.end());
    numeric = fmt::format("{:.17g}", (conf[19] + conf[20]) / 2);
    EXPECT_DOUBLE_EQ(c["deferred"].get<double>(), deferred / 40.0);
    EXPECT_DOUBLE_EQ(c["accuracy"].get<double>(), right / 40.0);
    EXPECT_GT(c["latency_ms_mean"].get<double>(), 0.0);
    EXPECT_NE(r.out.find("| small → big (cascade) |"), std::string::npos) << r.out;
  }
}

TEST(EvalConfidence, GenerationSetsUseTheMeanTokenLogProbability) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  TempDir dir;
  const fs::path tiny = test::write_tiny_gguf(dir.path());
  std::string records;
  for (int i = 0; i < 6; ++i)
    records += fmt::format(R"({{"id":"g{}","format":"completion","prompt":"Say {}","completion":"{}"}})"
                           "\n",
                           i, i, i);
  test::write_bytes(dir / "gen.jsonl", records);
  auto r = test::run_hone({"eval", "-m", tiny.string(), "--name", "tiny", "--data", (dir / "gen.jsonl").string(),
                           "--max-new-tokens", "5", "--target-accuracy", "0.5", "--report", (dir / "r.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json rep = json::parse(test::read_bytes(dir / "r.json"));
  const json& s = rep["models"][0]["selective"];
  ASSERT_TRUE(s.is_object()) << rep.dump(2);
  EXPECT_EQ(s["confidence"], "mean_token_logprob");
  EXPECT_TRUE(s["ece"].is_null());
  EXPECT_TRUE(s["temperature"].is_null());
  EXPECT_TRUE(s["aurc"].is_number());
  EXPECT_EQ(s["target_threshold"].is_object() ? s["target_threshold"]["chosen_on"] : json("test"), "test");
  int with = 0;
  for (const json& p : read_jsonl(dir / "predictions.jsonl")) {
    ASSERT_TRUE(p.contains("generated_mean_logprob"));
    if (!p["generated_mean_logprob"].is_number()) continue;  // the model ended its turn at once
    ++with;
    EXPECT_EQ(p["confidence"].get<double>(), p["generated_mean_logprob"].get<double>());
    EXPECT_LT(p["confidence"].get<double>(), 0.0);
  }
  EXPECT_GT(with, 0);
  // Calibration needs label scores.
  r = test::run_hone({"eval", "-m", tiny.string(), "--data", (dir / "gen.jsonl").string(), "--calibrate",
                      "--calibration-data", (dir / "gen.jsonl").string(), "--report", (dir / "c.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--calibrate and --cascade apply to classification sets"), std::string::npos) << r.err;
}

TEST(EvalConfidence, BadOptionsGetClearErrors) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  TempDir dir;
  const std::string m = test::write_tiny_gguf(dir.path()).string();
  const std::string data = ingest_fixture(dir.path()).string();
  auto fails = [&](std::vector<std::string> args, int code, const std::string& msg) {
    auto r = test::run_hone(args);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(msg), std::string::npos) << "stderr: " << r.err << "\nexpected: " << msg;
  };
  fails({"eval", "-m", m, "--data", data, "--method", "score", "--cascade", "--threshold", "0.5"}, 2,
        "--cascade takes exactly two models");
  fails({"eval", "-m", m, "-m", m, "--data", data, "--cascade", "--threshold", "0.5"}, 2, "give --method score");
  fails({"eval", "-m", m, "-m", m, "--data", data, "--method", "score", "--cascade"}, 2, "--cascade needs a threshold");
  fails({"eval", "-m", m, "-m", m, "--data", data, "--method", "score", "--cascade", "--threshold", "high"}, 2,
        "--threshold 'high': expected a probability or 'auto'");
  fails({"eval", "-m", m, "--data", data, "--method", "score", "--threshold", "0.5"}, 2, "--threshold applies to --cascade");
  fails({"eval", "-m", m, "--data", data, "--calibrate", "--score-top", "1"}, 2, "need --score-top 2 or more");
  fails({"eval", "-m", m, "--data", data, "--calibrate", "--calibration-split", "test"}, 2,
        "the calibration split 'test' of");
  fails({"eval", "-m", m, "--data", data + "/test.jsonl", "--calibrate"}, 2, "there is no 'valid' split to calibrate on");
  fails({"eval", "-m", m, "--data", data, "--target-accuracy", "1.5"}, 2, "--target-accuracy must be in (0, 1]");
  fails({"eval", "-m", m, "-m", m, "--data", data, "--method", "score", "--cascade", "--target-accuracy", "1"}, 3,
        "at no confidence threshold on the valid split");
}

}  // namespace
}  // namespace hone
