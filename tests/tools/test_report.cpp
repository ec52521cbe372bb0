// hone report: the three files from eval reports, run directories and exports, and its errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "helpers.h"

namespace hone::test {
namespace {

using nlohmann::json;

json eval_report(const std::string& name, double accuracy, int examples) {
  return {{"data", "runs/x/data"},
          {"split", "test"},
          {"task", "classification"},
          {"examples", examples},
          {"subset", std::to_string(examples) + " evenly spaced"},
          {"labels", 77},
          {"models",
           {{{"name", name},
             {"accuracy", accuracy},
             {"macro_f1", accuracy - 0.01},
             {"format_validity", 0.97},
             {"latency_ms_p50", 120.5},
             {"latency_ms_p95", 300.0},
             {"params", 134515008},
             {"adapter_params", 4884480},
             {"bytes", 98000000}}}}};
}

TEST(CliReport, WritesMarkdownJsonAndSelfContainedHtml) {
  TempDir t;
  write_bytes(t / "base.json", eval_report("base", 0.27, 200).dump());
  write_bytes(t / "tuned.json", eval_report("tuned", 0.85, 1000).dump());
  fs::create_directories(t / "lora");
  write_bytes(t / "lora/run.json", json{{"command", "lora-train"}, {"steps", 3}, {"train_seconds", 612.4},
                                        {"tokens_per_s", 250.0}, {"best_valid_loss", 0.3}}.dump());
  write_bytes(t / "lora/metrics.jsonl",
              "{\"step\":0,\"valid_loss\":5.4}\n{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":1.0}\n{\"step\":3,\"loss\":0.5,\"valid_loss\":0.3}\n");
  write_bytes(t / "tuned.gguf", "GGUF....");
  const CommandResult r = run_hone({"report", "--eval", (t / "base.json").string(), "--eval", (t / "tuned.json").string(),
                                    "--run", "tuned=" + (t / "lora").string(), "--export",
                                    "gguf=" + (t / "tuned.gguf").string(), "--title", "Banking77 <demo>", "-o",
                                    (t / "report").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| tuned | 1000 (1000 evenly spaced) | 85.00% | 0.8400 | - | 97.00% | 120.5 |"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("report: " + (t / "report/report.html").string()), std::string::npos) << r.out;
  const json j = json::parse(read_bytes(t / "report/report.json"));
  ASSERT_EQ(j["models"].size(), 2u);
  for (const char* k : {"name", "accuracy", "macro_f1", "format_validity", "latency_ms_p50", "params", "bytes", "examples"})
    EXPECT_TRUE(j["models"][1].contains(k)) << k;
  EXPECT_EQ(j["models"][0]["train_seconds"], nullptr);
  EXPECT_DOUBLE_EQ(j["models"][1]["train_seconds"].get<double>(), 612.4);
  EXPECT_EQ(j["test_set"]["split"], "test");
  EXPECT_EQ(j["exports"][0]["bytes"], 8);
  EXPECT_NE(j["exports"][0]["serve"].get<std::string>().find("llama-cli -m " + (t / "tuned.gguf").string()),
            std::string::npos);
  const std::string html = read_bytes(t / "report/report.html");
  EXPECT_NE(html.find("<title>Banking77 &lt;demo&gt;</title>"), std::string::npos);
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);  // quality bars, latency bars, the tuned run's loss curve
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);  // self-contained
  EXPECT_TRUE(fs::exists(t / "report/report.md"));
}

// Data ingested with --system: the report says so, and every serve command passes the message.
TEST(CliReport, ServeCommandsCarryTheSystemMessage) {
  TempDir t;
  fs::create_directories(t / "data");
  write_bytes(t / "data/manifest.json", json{{"options", {{"system", "Classify the banking query."}}}}.dump());
  json e = eval_report("tuned", 0.8, 100);
  e["data"] = (t / "data").string();
  write_bytes(t / "tuned.json", e.dump());
  write_bytes(t / "tuned.gguf", "GGUF....");
  fs::create_directories(t / "hf");
  const CommandResult r = run_hone({"report", "--eval", (t / "tuned.json").string(), "--export",
                                    "gguf=" + (t / "tuned.gguf").string(), "--export", "hf=" + (t / "hf").string(), "-o",
                                    (t / "report").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(read_bytes(t / "report/report.json"));
  EXPECT_EQ(j["test_set"]["system"], "Classify the banking query.");
  const std::string gguf = j["exports"][0]["serve"], hf = j["exports"][1]["serve"];
  EXPECT_NE(gguf.find("-cnv -sys 'Classify the banking query.'"), std::string::npos) << gguf;
  EXPECT_NE(gguf.find("SYSTEM \"\"\"Classify the banking query.\"\"\""), std::string::npos) << gguf;
  EXPECT_NE(hf.find("{'role': 'system', 'content': 'Classify the banking query.'}"), std::string::npos) << hf;
  EXPECT_NE(read_bytes(t / "report/report.md").find("system message \"Classify the banking query.\""), std::string::npos);
}

// A GGUF with one [64, 64] matrix of `type` and a norm (f32, which does not count for the type).
void write_gguf(const fs::path& path, GGMLType type) {
  const std::vector<float> w(64 * 64, 0.5f), norm(64, 1.0f);
  GGUFWriter g;
  g.set("general.architecture", GGUFValue::str("llama"));
  g.add_tensor_f32("blk.0.attn_q.weight", type, {64, 64}, w.data());
  g.add_tensor_f32("blk.0.attn_norm.weight", GGMLType::kF32, {64}, norm.data());
  g.write(path);
}

// The sizes table: a column per evaluated model, a row for what was evaluated and one per form an
// export of a named model takes (format and stored weight type, read from the files).
TEST(CliReport, SizesSitSideBySide) {
  TempDir t;
  fs::create_directories(t / "student");
  const std::vector<std::uint16_t> bf16(64 * 64, 0x3f00);
  write_safetensors(t / "student/model.safetensors", {{"model.embed_tokens.weight", DType::kBF16, {64, 64}, bf16.data(),
                                                       bf16.size() * 2}});
  write_gguf(t / "tuned-f16.gguf", GGMLType::kF16);
  write_gguf(t / "tuned-q8_0.gguf", GGMLType::kQ8_0);
  write_gguf(t / "student-q8_0.gguf", GGMLType::kQ8_0);
  write_gguf(t / "lora.gguf", GGMLType::kF16);
  json base = eval_report("base", 0.2, 10), tuned = eval_report("tuned", 0.8, 10), student = eval_report("student", 0.7, 10);
  tuned["models"][0]["bytes"] = 2 * 1048576;
  student["models"][0]["bytes"] = 3 * 1048576;
  student["models"][0]["model"] = (t / "student").string();
  student["models"][0]["adapter"] = "";
  write_bytes(t / "base.json", base.dump());
  write_bytes(t / "tuned.json", tuned.dump());
  write_bytes(t / "student.json", student.dump());
  const CommandResult r = run_hone(
      {"report", "--eval", (t / "base.json").string(), "--eval", (t / "tuned.json").string(), "--eval",
       (t / "student.json").string(), "--export", "tuned:gguf=" + (t / "tuned-f16.gguf").string(), "--export",
       "tuned:gguf=" + (t / "tuned-q8_0.gguf").string(), "--export", "gguf-lora=" + (t / "lora.gguf").string(),
       "--export", "student:hf=" + (t / "student").string(), "--export",
       "student:gguf=" + (t / "student-q8_0.gguf").string(), "-o", (t / "report").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(read_bytes(t / "report/report.json"));
  ASSERT_EQ(j["exports"].size(), 5u);
  EXPECT_EQ(j["exports"][0]["model"], "tuned");
  EXPECT_EQ(j["exports"][0]["weights"], "f16");
  EXPECT_EQ(j["exports"][1]["weights"], "q8_0");
  EXPECT_EQ(j["exports"][2]["model"], nullptr);  // no model named: listed, not sized
  EXPECT_EQ(j["exports"][3]["weights"], "bf16");
  EXPECT_NE(j["exports"][4]["serve"].get<std::string>().find("ollama create 'student'"), std::string::npos);
  const json& sizes = j["sizes"];
  ASSERT_EQ(sizes.size(), 4u) << sizes.dump();
  EXPECT_EQ(sizes[0], json::parse(R"({"stored_as": "evaluated", "bytes": {"base": 98000000, "tuned": 2097152,
                                      "student": 3145728}})"));
  EXPECT_EQ(sizes[1]["stored_as"], "gguf f16");
  EXPECT_EQ(sizes[1]["bytes"], json({{"tuned", fs::file_size(t / "tuned-f16.gguf")}}));
  EXPECT_EQ(sizes[2]["stored_as"], "gguf q8_0");
  EXPECT_EQ(sizes[2]["bytes"], json({{"tuned", fs::file_size(t / "tuned-q8_0.gguf")},
                                     {"student", fs::file_size(t / "student-q8_0.gguf")}}));
  EXPECT_EQ(sizes[3]["stored_as"], "hf bf16");
  EXPECT_EQ(sizes[3]["bytes"].size(), 1u);
  EXPECT_NE(r.out.find("| stored as | base MiB | tuned MiB | student MiB |\n|---|---|---|---|\n"
                       "| evaluated | 93.5 | 2.0 | 3.0 |\n| gguf f16 | - | 0.0 | - |\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("student: " + (t / "student").string() + " (bf16)"), std::string::npos) << r.out;
  EXPECT_NE(read_bytes(t / "report/report.html").find("<h2>Sizes on disk</h2>"), std::string::npos);
}

// A row's confidence as hone eval --score-top 3 writes it; `calibrated` adds --calibrate and
// --target-accuracy 0.9 (the temperature fitted and the threshold chosen on the valid split).
json selective(bool calibrated) {
  json s = {{"confidence", "label_probability"},
            {"confidence_labels", calibrated ? 3 : 2},
            {"temperature", calibrated ? 1.75 : 1.0},
            {"calibration", nullptr},
            {"ece", calibrated ? 0.12 : 0.2},
            {"ece_calibrated", nullptr},
            {"aurc", calibrated ? 0.05 : 0.08},
            {"aurc_calibrated", nullptr},
            {"curve", {{{"threshold", 0.99}, {"coverage", 0.1}, {"accuracy", 1.0}},
                       {{"threshold", 0.82}, {"coverage", 0.7}, {"accuracy", 0.91}},
                       {{"threshold", 0.34}, {"coverage", 1.0}, {"accuracy", 0.85}}}},
            {"target_accuracy", nullptr},
            {"target_threshold", nullptr}};
  if (calibrated) {
    s["calibration"] = {{"data", "runs/x/data"}, {"split", "valid"}, {"examples", 150},
                        {"temperature", 1.75}, {"nll", 0.9}, {"nll_calibrated", 0.6}};
    s["ece_calibrated"] = 0.03;
    s["aurc_calibrated"] = 0.05;  // temperature scaling keeps the ranking: one number is shown
    s["target_accuracy"] = 0.9;
    s["target_threshold"] = {{"threshold", 0.82}, {"chosen_on", "valid"}, {"coverage", 0.7}, {"accuracy", 0.91}};
  }
  return s;
}

// A report of `student` (fast, uncalibrated) and `tuned` (slow, calibrated), each alone; `cascade`:
// with --cascade student,tuned.
json confidence_report(const std::vector<std::string>& names, bool cascade) {
  json r = eval_report("x", 0, 200);
  r["subset"] = "all";
  r["label_names"] = {"a", "b", "c"};
  r["models"] = json::array();
  for (const auto& name : names) {
    json m = eval_report(name, name == "tuned" ? 0.9 : 0.8, 200)["models"][0];
    m["latency_ms_mean"] = name == "tuned" ? 115.0 : 12.0;
    m["selective"] = selective(name == "tuned");
    r["models"].push_back(m);
  }
  if (cascade)
    r["cascade"] = {{"name", "student → tuned"}, {"first", "student"}, {"second", "tuned"}, {"threshold", 0.77},
                    {"chosen_on", "valid"}, {"target_accuracy", 0.9}, {"examples", 200}, {"accuracy", 0.885},
                    {"macro_f1", 0.87}, {"deferred", 0.3}, {"latency_ms_mean", 40.2}, {"latency_ms_p50", 30.0},
                    {"latency_ms_p95", 95.0}, {"latency_ratio", 0.35}, {"accuracy_gap", -0.015}};
  return r;
}

// The numbers between "<path d=\"" and the next quote after `from`: the x of each point.
std::vector<double> path_xs(const std::string& svg, std::size_t from) {
  const std::size_t start = svg.find("<path d=\"", from) + 9, end = svg.find('"', start);
  std::vector<double> xs;
  std::istringstream in(svg.substr(start, end - start));
  for (std::string point; in >> point;)
    if (point != "L") xs.push_back(std::stod(point.substr(point[0] == 'M' || point[0] == 'L' ? 1 : 0)));
  return xs;
}

// Confidence and a cascade: the cascade's report repeats its two models (left out: the earlier
// reports gave them), its row joins the models table, and the section has the table, the
// sentence and the two charts.
TEST(CliReport, ConfidenceAndCascade) {
  TempDir t;
  write_bytes(t / "student.json", confidence_report({"student"}, false).dump());
  write_bytes(t / "tuned.json", confidence_report({"tuned"}, false).dump());
  // The cascade's run calibrated the student too: that confidence replaces the earlier one.
  json cascade = confidence_report({"student", "tuned"}, true);
  cascade["models"][0]["selective"] = selective(true);
  write_bytes(t / "cascade.json", cascade.dump());
  const CommandResult r = run_hone({"report", "--eval", (t / "student.json").string(), "--eval",
                                    (t / "tuned.json").string(), "--eval", (t / "cascade.json").string(), "-o",
                                    (t / "report").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = r.out;
  // Its latency is scoring's, not comparable with the other rows' (generation's): left out here.
  EXPECT_NE(md.find("| student → tuned (cascade) | 200 (all) | 88.50% | 0.8700 | - | - | - | - | - | - | - |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("## Confidence and routing\n\n| model | confidence | K | temperature | ECE | AURC | target accuracy "
                    "| threshold (chosen on) | coverage | accuracy |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| student | label probability | 3 | 1.750 | 0.1200 → 0.0300 | 0.0500 | 90.00% | 0.820 (valid) | "
                    "70.00% | 91.00% |\n"
                    "| tuned | label probability | 3 | 1.750 | 0.1200 → 0.0300 | 0.0500 | 90.00% | 0.820 (valid) | "
                    "70.00% | 91.00% |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("`hone export --routing REPORT.json --routing-model MODEL`"), std::string::npos) << md;
  EXPECT_NE(md.find("The cascade answers 70.0% of queries with student and defers 30.0% to tuned: accuracy 88.50% "
                    "(tuned alone 90.00%), mean scoring latency 40.2 ms per query, 0.35× tuned's (115.0 ms in the same "
                    "run). The threshold on student's confidence, "
                    "0.770, was chosen on the 'valid' split for a target accuracy of 90.00%.\n"),
            std::string::npos)
      << md;
  EXPECT_EQ(read_bytes(t / "report/report.md"), md.substr(0, md.find("report: ")));

  const json j = json::parse(read_bytes(t / "report/report.json"));
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["name"], "student");
  EXPECT_EQ(j["models"][0]["selective"], selective(true));
  EXPECT_EQ(j["models"][1]["selective"], selective(true));
  EXPECT_DOUBLE_EQ(j["cascade"]["alone"][1]["latency_ms_mean"].get<double>(), 115.0);
  EXPECT_DOUBLE_EQ(j["models"][1]["latency_ms_mean"].get<double>(), 115.0);
  EXPECT_EQ(j["cascade"]["first"], "student");
  EXPECT_DOUBLE_EQ(j["cascade"]["deferred"].get<double>(), 0.3);
  EXPECT_EQ(j["cascade"]["subset"], "all");

  const std::string html = read_bytes(t / "report/report.html");
  EXPECT_NE(html.find("<td>student → tuned (cascade)</td><td>200 (all)</td><td>88.50%</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.1200 → 0.0300</td>"), std::string::npos);
  EXPECT_NE(html.find("<code>hone export --routing REPORT.json --routing-model MODEL</code>"), std::string::npos);
  std::size_t svgs = 0, circles = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  for (std::size_t p = html.find("<circle"); p != std::string::npos; p = html.find("<circle", p + 1)) ++circles;
  EXPECT_EQ(svgs, 4u);     // quality bars, latency bars, accuracy by coverage, accuracy against cost
  EXPECT_EQ(circles, 5u);  // both thresholds; student, tuned and the cascade on the cost chart
  // The curves run from low to high coverage, as the chart draws them.
  const std::size_t coverage = html.find("Accuracy of the answers kept, by coverage");
  ASSERT_NE(coverage, std::string::npos);
  const std::vector<double> xs = path_xs(html, coverage);
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_LT(xs[0], xs[1]);
  EXPECT_LT(xs[1], xs[2]);
  EXPECT_NE(html.find("Accuracy against cost", coverage), std::string::npos);
  EXPECT_NE(html.find("mean scoring latency per query (ms)"), std::string::npos);
}

// Only a cascade's report may repeat a model; one cascade per report set.
TEST(CliReport, RepeatedModelsAndCascades) {
  TempDir t;
  write_bytes(t / "tuned.json", confidence_report({"tuned"}, false).dump());
  write_bytes(t / "both.json", confidence_report({"student", "tuned"}, false).dump());
  write_bytes(t / "cascade.json", confidence_report({"student", "tuned"}, true).dump());
  CommandResult r = run_hone({"report", "--eval", (t / "tuned.json").string(), "--eval", (t / "both.json").string(),
                              "-o", (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find((t / "both.json").string() + ": a second model named 'tuned'"), std::string::npos) << r.err;
  r = run_hone({"report", "--eval", (t / "cascade.json").string(), "--eval", (t / "cascade.json").string(), "-o",
                (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(": a second cascade (the first is in " + (t / "cascade.json").string() + ")"), std::string::npos)
      << r.err;
  json bad = confidence_report({"student", "tuned"}, true);
  bad["cascade"]["second"] = "base";
  write_bytes(t / "bad.json", bad.dump());
  r = run_hone({"report", "--eval", (t / "bad.json").string(), "-o", (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("bad.json: the cascade's second model 'base' is not one of the report's models"),
            std::string::npos)
      << r.err;
  // The cascade's report alone: its two models and the cascade.
  r = run_hone({"report", "--eval", (t / "cascade.json").string(), "-o", (t / "o").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(read_bytes(t / "o/report.json"))["models"].size(), 2u);
}

// The feedback round: the tuned model's report, then the feedback adapter's, evaluated with
// --baseline on the tuned report (its row's baseline_comparison) and gated (its gate object).
TEST(CliReport, FeedbackRoundAndGate) {
  TempDir t;
  write_bytes(t / "tuned.json", eval_report("tuned", 0.834, 1000).dump());
  json e = eval_report("feedback", 0.846, 1000);
  const json fell = json::array({{{"label", "card_arrival"}, {"baseline", 0.9}, {"value", 0.8}, {"change", -10.0}},
                                 {{"label", "top_up_failed"}, {"baseline", 0.7}, {"value", 0.68}, {"change", -2.0}}});
  const json rose = json::array({{{"label", "atm_support"}, {"baseline", 0.6}, {"value", 0.75}, {"change", 15.0}}});
  e["models"][0]["baseline_comparison"] = {
      {"baseline_report", "eval/tuned/report.json"}, {"baseline_model", "tuned"}, {"method", "score"},
      {"n", 997}, {"unmatched", 3}, {"baseline_unmatched", 0}, {"baseline_accuracy", 0.834}, {"accuracy", 0.846},
      {"change", 1.2}, {"change_se", 0.5}, {"fixed", 31}, {"broken", 19}, {"baseline_macro_f1", 0.81},
      {"macro_f1", 0.82}, {"label_f1_fell", fell}, {"label_f1_rose", rose}};
  auto check = [](const std::string& metric, const std::string& kind, double limit, json value, json bound,
                  json baseline, bool passed, const std::string& message) {
    return json{{"model", "feedback"}, {"metric", metric},   {"check", kind},       {"direction", "higher"},
                {"limit", limit},      {"bound", bound},     {"value", value},      {"baseline", baseline},
                {"change", nullptr},   {"passed", passed},   {"message", message},  {"unit", "fraction"}};
  };
  json label = check("label_f1", "max_drop", 5, 0.8, nullptr, 0.9, false,
                     "label_f1 dropped more than 5.00 points from the baseline for 1 of 77 labels: card_arrival");
  label["label"] = "card_arrival";
  e["gate"] = {{"passed", false},
               {"failed", 1},
               {"baseline_report", "eval/tuned/report.json"},
               {"checks", {check("accuracy", "min", 0.8, 0.846, 0.8, nullptr, true, "accuracy 0.8460 >= 0.8000"),
                           check("accuracy", "max_drop", 2, 0.846, 0.814, 0.834, true, "within"), label}}};
  write_bytes(t / "feedback.json", e.dump());
  const CommandResult r = run_hone({"report", "--eval", (t / "tuned.json").string(), "--eval",
                                    (t / "feedback.json").string(), "-o", (t / "report").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = r.out;
  EXPECT_NE(md.find("## Feedback round\n\n| model | baseline | paired examples | accuracy | change (points ± SE) | "
                    "macro-F1 | fixed | broken |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| feedback | tuned | 997 (3 unmatched) | 83.40% → 84.60% | +1.20 ± 0.50 | 0.8100 → 0.8200 | 31 "
                    "| 19 |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("Largest per-label F1 drops:\n\n| model | label | F1 | change (points) |\n|---|---|---|---|\n"
                    "| feedback | card_arrival | 0.9000 → 0.8000 | -10.00 |\n"
                    "| feedback | top_up_failed | 0.7000 → 0.6800 | -2.00 |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("Largest per-label F1 rises (points): feedback: atm_support +15.00."), std::string::npos) << md;
  const std::string verdict = "### Gate\n\nThe gate of " + (t / "feedback.json").string() +
                              " (baseline eval/tuned/report.json) FAILED: 1 of 3 checks.\n\n";
  EXPECT_NE(md.find(verdict), std::string::npos) << md;
  EXPECT_NE(md.find("| feedback | accuracy >= 0.8000 | 0.8460 | 0.8000 | - | pass |\n"
                    "| feedback | accuracy drop <= 2.00 points | 0.8460 | 0.8140 | 0.8340 | pass |\n"
                    "| feedback | label_f1 drop <= 5.00 points | card_arrival 0.8000 | - | card_arrival 0.9000 | FAIL |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- FAIL feedback: label_f1 dropped more than 5.00 points"), std::string::npos) << md;
  EXPECT_EQ(read_bytes(t / "report/report.md"), md.substr(0, md.find("report: ")));

  const json j = json::parse(read_bytes(t / "report/report.json"));
  EXPECT_TRUE(j["models"][0]["baseline_comparison"].is_null());
  EXPECT_EQ(j["models"][1]["baseline_comparison"], e["models"][0]["baseline_comparison"]);
  ASSERT_EQ(j["gates"].size(), 1u);
  EXPECT_EQ(j["gates"][0]["report"], (t / "feedback.json").string());
  EXPECT_EQ(j["gates"][0]["passed"], false);
  EXPECT_EQ(j["gates"][0]["checks"], e["gate"]["checks"]);

  const std::string html = read_bytes(t / "report/report.html");
  EXPECT_NE(html.find("<h2>Feedback round</h2>"), std::string::npos);
  EXPECT_NE(html.find("<td>feedback</td><td>tuned</td><td>997 (3 unmatched)</td><td>83.40% → 84.60%</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<td>label_f1 drop &lt;= 5.00 points</td>"), std::string::npos);
  EXPECT_NE(html.find("<li>FAIL feedback: label_f1 dropped"), std::string::npos);

  // A gate alone (no baseline predictions, so no comparison): a "Gate" section.
  e["models"][0].erase("baseline_comparison");
  write_bytes(t / "feedback.json", e.dump());
  const CommandResult g = run_hone({"report", "--eval", (t / "feedback.json").string(), "-o", (t / "g").string()});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(g.out.find("Feedback round"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("## Gate\n\nThe gate of "), std::string::npos) << g.out;
  // A gate that is not an object with checks is an error naming the report.
  e["gate"] = {{"checks", 3}};
  write_bytes(t / "bad.json", e.dump());
  const CommandResult b = run_hone({"report", "--eval", (t / "bad.json").string(), "-o", (t / "b").string()});
  EXPECT_EQ(b.exit_code, 3);
  EXPECT_NE(b.err.find("bad.json: 'gate' holds"), std::string::npos) << b.err;
}

TEST(CliReport, Errors) {
  TempDir t;
  CommandResult r = run_hone({"report", "--eval", (t / "missing.json").string(), "-o", (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("missing.json: no such file"), std::string::npos) << r.err;
  write_bytes(t / "e.json", eval_report("tuned", 0.8, 10).dump());
  r = run_hone({"report", "--eval", (t / "e.json").string(), "--export", "onnx=" + (t / "e.json").string(), "-o",
                (t / "o").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("must be peft, hf, gguf or gguf-lora"), std::string::npos) << r.err;
  r = run_hone({"report", "--eval", (t / "e.json").string(), "--export", "nobody:gguf=" + (t / "e.json").string(), "-o",
                (t / "o").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no evaluated model is named 'nobody'"), std::string::npos) << r.err;
  r = run_hone({"report", "--eval", (t / "e.json").string(), "--export", ":gguf=" + (t / "e.json").string(), "-o",
                (t / "o").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected [MODEL:]FORMAT=PATH"), std::string::npos) << r.err;
  r = run_hone({"report", "--eval", (t / "e.json").string(), "--run", "student=" + t.path().string(), "-o",
                (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("run.json: no such file"), std::string::npos) << r.err;
  write_bytes(t / "not.json", "[1, 2]");
  r = run_hone({"report", "--eval", (t / "not.json").string(), "-o", (t / "o").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not.json: expected a JSON object, got array (a hone eval report)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t / "o/report.html"));
}

}  // namespace
}  // namespace hone::test
