// hone eval's CI gate: floors (--min) and regressions against a baseline report (--baseline,
// --max-drop) exit with code 4 after the report is written, the report's gate object and stdout
// name what failed, --junit is valid JUnit XML, a baseline of another test set is an error, and
// every predictions.jsonl row carries its example's prompt and system message. The checks on
// hand-written reports need no model; the command-line ones run tiny random models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/baseline_comparison.h"
#include "eval/gate.h"
#include "eval/junit.h"
#include "report/gate_section.h"
#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using test::read_jsonl;
using test::TempDir;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------- checks on reports

// A report head as run_eval makes it before the models are measured, and one model row.
ordered_json report_of(const std::string& task, const std::vector<ordered_json>& rows, const std::string& hash = "h1") {
  ordered_json r = {{"data", "d"}, {"split", "test"}, {"task", task}, {"data_hash", hash}};
  r["models"] = rows;
  return r;
}

ordered_json find_check(const GateResult& g, const std::string& model, const std::string& metric,
                        const std::string& kind) {
  for (const ordered_json& c : g.json["checks"])
    if (c["model"] == model && c["metric"] == metric && c["check"] == kind) return c;
  ADD_FAILURE() << "no " << kind << " check of " << metric << " for " << model << ": " << g.json.dump(2);
  return {};
}

TEST(GateChecks, FloorsAndDropsOfHigherIsBetterMetrics) {
  TempDir dir;
  const ordered_json base_row = {{"name", "m"}, {"accuracy", 0.80}, {"macro_f1", 0.70}};
  test::write_bytes(dir / "base.json", report_of("classification", {base_row}).dump());
  GateOptions o;
  o.min = {{GateMetric::kAccuracy, 0.75}, {GateMetric::kMacroF1, 0.72}};
  o.baseline = dir / "base.json";
  o.max_drop = {{GateMetric::kAccuracy, 2}, {GateMetric::kMacroF1, 1}};
  // 0.78 is exactly 2 points under 0.80 (not in binary floating point): it passes.
  const ordered_json now = report_of("classification", {{{"name", "m"}, {"accuracy", 0.78}, {"macro_f1", 0.68}}});
  const Gate gate(o, now);
  const GateResult g = gate.check(now);
  EXPECT_EQ(g.checks, 4);
  ASSERT_EQ(g.failures.size(), 2u) << g.json.dump(2);
  EXPECT_FALSE(g.json["passed"].get<bool>());
  EXPECT_EQ(g.json["failed"], 2);
  EXPECT_TRUE(find_check(g, "m", "accuracy", "min")["passed"].get<bool>());
  EXPECT_TRUE(find_check(g, "m", "accuracy", "max_drop")["passed"].get<bool>());
  const ordered_json floor = find_check(g, "m", "macro_f1", "min");
  EXPECT_FALSE(floor["passed"].get<bool>());
  EXPECT_DOUBLE_EQ(floor["value"].get<double>(), 0.68);
  EXPECT_DOUBLE_EQ(floor["bound"].get<double>(), 0.72);
  EXPECT_TRUE(floor["baseline"].is_null());
  const ordered_json drop = find_check(g, "m", "macro_f1", "max_drop");
  EXPECT_FALSE(drop["passed"].get<bool>());
  EXPECT_DOUBLE_EQ(drop["baseline"].get<double>(), 0.70);
  EXPECT_NEAR(drop["change"].get<double>(), -2.0, 1e-9);  // percentage points
  EXPECT_NEAR(drop["bound"].get<double>(), 0.69, 1e-12);
  EXPECT_NE(g.markdown.find("FAIL m: macro_f1 0.6800 dropped 2.00 points from the baseline's 0.7000"),
            std::string::npos)
      << g.markdown;
  EXPECT_NE(g.markdown.find("| m | macro_f1 >= 0.7200 | 0.6800 | 0.7200 | - | FAIL |"), std::string::npos)
      << g.markdown;
  EXPECT_HONE_ERROR(require_gate_passed(g), GateFailure,
                    "2 of 4 gate checks failed: m: macro_f1 0.6800 is below the floor");
  try {
    require_gate_passed(g);
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.exit_code()), 4);
  }
}

TEST(GateChecks, LowerIsBetterMetricsHaveACeilingAndARise) {
  TempDir dir;
  test::write_bytes(dir / "base.json",
                    report_of("perplexity", {{{"name", "m"}, {"perplexity", 11.0}, {"latency_ms_p95", 100.0}}}).dump());
  GateOptions o;
  o.min = {{GateMetric::kPerplexity, 11.5}, {GateMetric::kLatencyMsP95, 150}};
  o.baseline = dir / "base.json";
  o.max_drop = {{GateMetric::kPerplexity, 0.5}, {GateMetric::kLatencyMsP95, 30}};
  const ordered_json now = report_of("perplexity", {{{"name", "m"}, {"perplexity", 12.0}, {"latency_ms_p95", 90.0}}});
  const GateResult g = Gate(o, now).check(now);
  const ordered_json ceiling = find_check(g, "m", "perplexity", "min");
  EXPECT_FALSE(ceiling["passed"].get<bool>());
  EXPECT_EQ(ceiling["direction"], "lower");
  EXPECT_NE(ceiling["message"].get<std::string>().find("12 is above the ceiling 11.5"), std::string::npos) << ceiling;
  const ordered_json rise = find_check(g, "m", "perplexity", "max_drop");
  EXPECT_FALSE(rise["passed"].get<bool>());
  EXPECT_DOUBLE_EQ(rise["change"].get<double>(), 1.0);  // the metric's own unit
  EXPECT_DOUBLE_EQ(rise["bound"].get<double>(), 11.5);
  EXPECT_NE(rise["message"].get<std::string>().find("rose 1 from the baseline's 11 (at most 0.5 allowed: bound 11.5)"),
            std::string::npos)
      << rise;
  // Latency fell: it passes its ceiling and its limit on a rise.
  EXPECT_TRUE(find_check(g, "m", "latency_ms_p95", "min")["passed"].get<bool>());
  EXPECT_TRUE(find_check(g, "m", "latency_ms_p95", "max_drop")["passed"].get<bool>());
  EXPECT_NE(g.markdown.find("| m | perplexity rise <= 0.5 | 12 | 11.5 | 11 | FAIL |"), std::string::npos) << g.markdown;
}

TEST(GateChecks, LabelF1FailsOnAnyLabelAndNamesTheWorst) {
  TempDir dir;
  const ordered_json base_f1 = {{"atm", 0.90}, {"card", 0.80}, {"fee", 0.50}, {"loan", 0.60}};
  test::write_bytes(dir / "base.json", report_of("classification", {{{"name", "m"}, {"label_f1", base_f1}}}).dump());
  GateOptions o;
  o.min = {{GateMetric::kLabelF1, 0.55}};
  o.baseline = dir / "base.json";
  o.max_drop = {{GateMetric::kLabelF1, 5}};
  // card drops 30 points, fee 8, loan 3 (within 5), atm rises.
  const ordered_json now_f1 = {{"atm", 0.95}, {"card", 0.50}, {"fee", 0.42}, {"loan", 0.57}};
  const ordered_json now = report_of("classification", {{{"name", "m"}, {"label_f1", now_f1}}});
  const GateResult g = Gate(o, now).check(now);
  const ordered_json drop = find_check(g, "m", "label_f1", "max_drop");
  EXPECT_FALSE(drop["passed"].get<bool>());
  EXPECT_EQ(drop["label"], "card");
  ASSERT_EQ(drop["labels"].size(), 2u) << drop;
  EXPECT_EQ(drop["labels"][0]["label"], "card");
  EXPECT_NEAR(drop["labels"][0]["change"].get<double>(), -30.0, 1e-9);
  EXPECT_EQ(drop["labels"][1]["label"], "fee");
  EXPECT_NE(
      drop["message"].get<std::string>().find("for 2 of 4 labels: card 0.5000 (baseline 0.8000, -30.00 points), fee"),
      std::string::npos)
      << drop;
  const ordered_json floor = find_check(g, "m", "label_f1", "min");
  EXPECT_FALSE(floor["passed"].get<bool>());
  ASSERT_EQ(floor["labels"].size(), 2u) << floor;
  EXPECT_EQ(floor["labels"][0]["label"], "fee");  // the lowest first
  EXPECT_EQ(floor["labels"][1]["label"], "card");
  // Within 31 points every label passes.
  o.max_drop = {{GateMetric::kLabelF1, 31}};
  o.min.clear();
  EXPECT_TRUE(Gate(o, now).check(now).failures.empty());
}

TEST(GateChecks, BaselineRowsAreMatchedByNameElseTheOnlyRow) {
  TempDir dir;
  const ordered_json two =
      report_of("classification", {{{"name", "a"}, {"accuracy", 0.5}}, {{"name", "b"}, {"accuracy", 0.9}}});
  test::write_bytes(dir / "two.json", two.dump());
  test::write_bytes(dir / "one.json", report_of("classification", {{{"name", "old"}, {"accuracy", 0.6}}}).dump());
  GateOptions o;
  o.baseline = dir / "two.json";
  o.max_drop = {{GateMetric::kAccuracy, 1}};
  const ordered_json now =
      report_of("classification", {{{"name", "b"}, {"accuracy", 0.55}}, {{"name", "a"}, {"accuracy", 0.55}}});
  const GateResult g = Gate(o, now).check(now);
  EXPECT_DOUBLE_EQ(find_check(g, "a", "accuracy", "max_drop")["baseline"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(find_check(g, "b", "accuracy", "max_drop")["baseline"].get<double>(), 0.9);
  ASSERT_EQ(g.failures.size(), 1u);
  EXPECT_NE(g.failures[0].find("b: accuracy 0.5500 dropped 35.00 points"), std::string::npos) << g.failures[0];
  // A baseline of one row is every model's.
  o.baseline = dir / "one.json";
  const GateResult one = Gate(o, now).check(now);
  EXPECT_DOUBLE_EQ(find_check(one, "b", "accuracy", "max_drop")["baseline"].get<double>(), 0.6);
  // Several rows, none of this name: an error naming them.
  o.baseline = dir / "two.json";
  EXPECT_HONE_ERROR(Gate(o, now).baseline_row("c"), InputError, "no model named 'c' among its 2 models ('a', 'b')");
  // A null metric in the baseline cannot be compared.
  test::write_bytes(dir / "null.json", report_of("classification", {{{"name", "a"}, {"accuracy", nullptr}}}).dump());
  o.baseline = dir / "null.json";
  EXPECT_HONE_ERROR(Gate(o, now).baseline_row("a"), InputError, "model 'a' has no accuracy to compare with");
}

TEST(GateChecks, OptionsAndBaselinesAreChecked) {
  TempDir dir;
  const ordered_json now = report_of("classification", {}, "aaaa");
  GateOptions o;
  o.min = {{GateMetric::kAccuracy, 85}};
  EXPECT_HONE_ERROR((void)Gate(o, now), UsageError, "--min accuracy=85: accuracy is a fraction in [0, 1]");
  o.min = {{GateMetric::kPerplexity, 10}};
  EXPECT_HONE_ERROR((void)Gate(o, now), UsageError, "perplexity is not measured on a classification set");
  o.min.clear();
  o.max_drop = {{GateMetric::kAccuracy, 2}};
  EXPECT_HONE_ERROR((void)Gate(o, now), UsageError, "give --baseline REPORT.json");
  o.max_drop = {{GateMetric::kAccuracy, -1}};
  o.baseline = dir / "b.json";
  EXPECT_HONE_ERROR((void)Gate(o, now), UsageError, "--max-drop accuracy=-1: POINTS must be at least 0");
  o.max_drop = {{GateMetric::kAccuracy, 2}};
  test::write_bytes(dir / "b.json", report_of("classification", {{{"name", "m"}, {"accuracy", 0.5}}}, "bbbb").dump());
  EXPECT_HONE_ERROR((void)Gate(o, now), InputError,
                    "evaluated another test set: its data_hash bbbb (d, split test) is not this eval's aaaa");
  ordered_json old = report_of("classification", {{{"name", "m"}, {"accuracy", 0.5}}});
  old.erase("data_hash");
  test::write_bytes(dir / "b.json", old.dump());
  EXPECT_HONE_ERROR((void)Gate(o, now), InputError, "the report has no data_hash");
  test::write_bytes(dir / "b.json", "{\"models\": 3}");
  EXPECT_HONE_ERROR((void)Gate(o, now), InputError, "not a hone eval report");
}

TEST(GateChecks, JUnitTextIsEscaped) {
  EXPECT_EQ(xml_text("a<b>&\"c'\n\x01"), "a&lt;b&gt;&amp;&quot;c&apos;&#10;\xEF\xBF\xBD");
  JUnitSuite s{"s", 1.5, {{"ok", "m", false, "", "", "x = 1"}, {"bad <1>", "m", true, "value \"0\"", "details", ""}}};
  const std::string x = junit_xml("hone eval", {s});
  EXPECT_NE(x.find(R"(<testsuites name="hone eval" tests="2" failures="1")"), std::string::npos) << x;
  EXPECT_NE(x.find(R"(<testcase name="bad &lt;1&gt;" classname="m" time="0">)"), std::string::npos) << x;
  EXPECT_NE(x.find(R"(<failure message="value &quot;0&quot;" type="gate">details</failure>)"), std::string::npos) << x;
  EXPECT_NE(x.find("<system-out>x = 1</system-out>"), std::string::npos) << x;
}

// ---------------------------------------------------------------------------- the baseline comparison

// Worked by hand: d = after - before = [0, -1, +1, +1, 0], mean 0.2, sum of squares 3, sample
// variance (3 - 5 * 0.2^2) / 4 = 0.7, SE = sqrt(0.7 / 5) = 0.374166 (37.4166 points).
TEST(BaselineComparison, PairedAccuracyByHand) {
  const PairedAccuracy p = paired_accuracy({true, true, false, false, true}, {true, false, true, true, true});
  EXPECT_EQ(p.n, 5);
  EXPECT_DOUBLE_EQ(p.baseline_accuracy, 0.6);
  EXPECT_DOUBLE_EQ(p.accuracy, 0.8);
  EXPECT_NEAR(p.change, 20.0, 1e-12);
  EXPECT_NEAR(p.change_se, 37.416574, 1e-6);
  EXPECT_EQ(p.fixed, 2);
  EXPECT_EQ(p.broken, 1);
  // The same outcomes: no change and no error; one pair: no SE; none: nothing measured.
  const PairedAccuracy same = paired_accuracy({true, false, true}, {true, false, true});
  EXPECT_EQ(same.change, 0.0);
  EXPECT_EQ(same.change_se, 0.0);
  EXPECT_TRUE(std::isnan(paired_accuracy({false}, {true}).change_se));
  EXPECT_DOUBLE_EQ(paired_accuracy({false}, {true}).change, 100.0);
  const PairedAccuracy none = paired_accuracy({}, {});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.accuracy) && std::isnan(none.change) && std::isnan(none.change_se));
}

TEST(BaselineComparison, LabelF1ChangesFallAndRiseMostFirst) {
  // card falls 30 points, fee 8, loan 3; new (absent from the baseline: 0) rises 10, atm 5.
  const LabelF1Changes c = label_f1_changes({{"atm", 0.90}, {"card", 0.80}, {"fee", 0.50}, {"loan", 0.60}},
                                            {{"atm", 0.95}, {"card", 0.50}, {"fee", 0.42}, {"loan", 0.57}, {"new", 0.1}},
                                            /*count=*/2);
  ASSERT_EQ(c.fell.size(), 2u);
  EXPECT_EQ(c.fell[0].label, "card");
  EXPECT_NEAR(c.fell[0].change, -30.0, 1e-9);
  EXPECT_DOUBLE_EQ(c.fell[0].baseline, 0.80);
  EXPECT_EQ(c.fell[1].label, "fee");
  ASSERT_EQ(c.rose.size(), 2u);
  EXPECT_EQ(c.rose[0].label, "new");
  EXPECT_NEAR(c.rose[0].change, 10.0, 1e-9);
  EXPECT_EQ(c.rose[1].label, "atm");
}

// Rows are paired by id within the two named rows: other models' rows, examples without an outcome
// and ids only one run has are left out (and counted).
TEST(BaselineComparison, PredictionsArePairedByModelAndId) {
  auto pred = [](const std::string& model, const std::string& id, std::optional<bool> scored, bool generated) {
    ordered_json p = {{"model", model}, {"id", id}, {"generated_correct", generated}};
    if (scored) p["scored_correct"] = *scored;
    return p;
  };
  const std::vector<ordered_json> theirs = {pred("tuned", "a", true, false),  pred("tuned", "b", true, true),
                                            pred("tuned", "c", false, false), pred("tuned", "d", false, true),
                                            pred("tuned", "z", true, true),   pred("other", "e", false, false)};
  const std::vector<ordered_json> mine = {pred("feedback", "a", true, true),   pred("feedback", "b", false, true),
                                          pred("feedback", "c", true, true),   pred("feedback", "d", false, true),
                                          pred("feedback", "e", true, true),   pred("feedback", "f", std::nullopt, true),
                                          pred("other", "z", false, false)};
  const ordered_json base_row = {{"name", "tuned"}, {"macro_f1", 0.5}, {"label_f1", {{"x", 0.5}, {"y", 0.5}}}};
  ordered_json row = {{"name", "feedback"},
                      {"accuracy_method", "score"},
                      {"macro_f1", 0.6},
                      {"label_f1", {{"x", 0.4}, {"y", 0.8}}}};
  const ordered_json c = baseline_comparison(row, base_row, mine, theirs, "eval/tuned/report.json");
  EXPECT_EQ(c["baseline_model"], "tuned");
  EXPECT_EQ(c["method"], "score");
  EXPECT_EQ(c["n"], 4);                   // a, b, c, d
  EXPECT_EQ(c["unmatched"], 1);           // e: only the other model has it in the baseline
  EXPECT_EQ(c["baseline_unmatched"], 1);  // z
  EXPECT_DOUBLE_EQ(c["baseline_accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["accuracy"].get<double>(), 0.5);
  EXPECT_EQ(c["fixed"], 1);   // c
  EXPECT_EQ(c["broken"], 1);  // b
  EXPECT_NEAR(c["change"].get<double>(), 0.0, 1e-12);
  // d = [0, -1, +1, 0]: variance 2 / 3, SE sqrt(2 / 3 / 4) = 0.408248.
  EXPECT_NEAR(c["change_se"].get<double>(), 40.8248, 1e-4);
  EXPECT_DOUBLE_EQ(c["baseline_macro_f1"].get<double>(), 0.5);
  EXPECT_EQ(c["label_f1_fell"][0]["label"], "x");
  EXPECT_EQ(c["label_f1_rose"][0]["label"], "y");
  EXPECT_EQ(comparison_line("feedback", c),
            "feedback vs baseline tuned: accuracy 50.0% -> 50.0% (+0.0 ± 40.8 points paired SE, n 4; 1 fixed, 1 "
            "broken); 1 of its examples had no baseline match; 1 of the baseline's had no match here");
  // By generation: generated_correct, which f has too.
  row["accuracy_method"] = "generate";
  const ordered_json g = baseline_comparison(row, base_row, mine, theirs, "r.json");
  EXPECT_EQ(g["n"], 4);
  EXPECT_EQ(g["fixed"], 2);  // a, c
  EXPECT_EQ(g["broken"], 0);
  EXPECT_EQ(g["unmatched"], 2);  // e, f
}

// ---------------------------------------------------------------------------- the command line

constexpr const char* kSystem = "Classify the banking query.";

// A tiny model and an ingested classification set of 30 queries over 5 labels (all in its test
// split), with a system message and a prompt template.
struct Fixture {
  TempDir dir;
  fs::path model, data;

  void build() {
    model = test::write_tiny_gguf(dir.path());
    const char* labels[] = {"card", "loan", "fee", "atm", "refund"};
    const char* words[] = {"my", "the", "a", "new", "old", "lost", "blocked", "extra", "late", "wrong"};
    std::string raw;
    for (int i = 0; i < 30; ++i)
      raw += json({{"text", std::string(words[i % 10]) + " " + words[(i * 3) % 10] + " " + labels[i % 5] + " " +
                                std::to_string(i)},
                   {"label", labels[(i * 7) % 5]}})
                 .dump() +
             "\n";
    test::write_bytes(dir / "raw.jsonl", raw);
    data = dir / "data";
    const auto r =
        test::run_hone({"ingest", (dir / "raw.jsonl").string(), "-o", data.string(), "--format", "classification",
                        "--split-ratios", "0,0,1", "--system", kSystem, "--prompt-template", "Query: {text}", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  test::CommandResult eval(const std::string& out, std::vector<std::string> extra) const {
    std::vector<std::string> args{"eval",
                                  "-m",
                                  model.string(),
                                  "--name",
                                  "tiny",
                                  "--data",
                                  data.string(),
                                  "--method",
                                  "score",
                                  "--report",
                                  (dir / out / "report.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_hone(args);
  }

  json report(const std::string& out) const { return json::parse(test::read_bytes(dir / out / "report.json")); }
};

// Parses the JUnit file with Python's ElementTree and prints "suite|case|failed" per test case.
std::string junit_cases(const fs::path& xml) {
  const auto r = test::run_command({HONE_PYTHON, "-c",
                                    "import sys, xml.etree.ElementTree as E\n"
                                    "root = E.parse(sys.argv[1]).getroot()\n"
                                    "assert root.tag == 'testsuites', root.tag\n"
                                    "for s in root.findall('testsuite'):\n"
                                    "    assert int(s.get('tests')) == len(s.findall('testcase'))\n"
                                    "    assert int(s.get('failures')) == len(s.findall('testcase/failure'))\n"
                                    "    for c in s.findall('testcase'):\n"
                                    "        f = c.find('failure')\n"
                                    "        print(s.get('name') + '|' + c.get('name') + '|' + ('FAIL ' + "
                                    "f.get('message') if f is not None else 'ok'))\n",
                                    xml.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(EvalGate, FloorsAndRegressionsExitWith4AfterWritingTheReport) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = f.eval("base", {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json base = f.report("base");
  ASSERT_TRUE(base["data_hash"].is_string()) << base.dump(2);
  EXPECT_EQ(base["data_hash"].get<std::string>().size(), 64u);
  const json& row = base["models"][0];
  ASSERT_TRUE(row["label_f1"].is_object()) << row.dump(2);
  EXPECT_EQ(row["label_f1"].size(), 5u);
  EXPECT_FALSE(base.contains("gate"));
  const double accuracy = row["accuracy"].get<double>();
  ASSERT_LT(accuracy, 0.9) << "a tiny random model should not classify well";

  // Every floor reached (accuracy exactly at its floor), JUnit written: exit 0.
  r = f.eval("pass", {"--min", "accuracy=" + fmt::format("{}", accuracy), "--min", "macro_f1=0", "--junit",
                      (f.dir / "pass" / "junit.xml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(f.report("pass")["gate"]["passed"].get<bool>());
  EXPECT_NE(r.out.find("Gate: all 2 checks passed."), std::string::npos) << r.out;
  if (test::have_python()) {
    const std::string cases = junit_cases(f.dir / "pass" / "junit.xml");
    EXPECT_NE(cases.find("hone eval: tiny|metric: accuracy|ok"), std::string::npos) << cases;
    EXPECT_NE(cases.find("hone eval: tiny|metric: label_f1|ok"), std::string::npos) << cases;
    EXPECT_NE(cases.find("hone eval: tiny|gate: accuracy >= "), std::string::npos) << cases;
    EXPECT_EQ(cases.find("FAIL"), std::string::npos) << cases;
  }

  // A floor above the accuracy: exit 4, with the report, predictions and JUnit file written.
  const double floor = accuracy + 0.05;
  r = f.eval("floor",
             {"--min", fmt::format("accuracy={}", floor), "--junit", (f.dir / "floor" / "junit.xml").string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("gate failed: 1 of 1 gate checks failed: tiny: accuracy"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(fmt::format("FAIL tiny: accuracy {:.4f} is below the floor {:.4f}", accuracy, floor)),
            std::string::npos)
      << r.out;
  const json failed = f.report("floor");
  EXPECT_FALSE(failed["gate"]["passed"].get<bool>());
  EXPECT_EQ(failed["gate"]["checks"][0]["metric"], "accuracy");
  EXPECT_DOUBLE_EQ(failed["gate"]["checks"][0]["value"].get<double>(), accuracy);
  EXPECT_EQ(read_jsonl(f.dir / "floor" / "predictions.jsonl").size(), 30u);
  if (test::have_python()) {
    const std::string cases = junit_cases(f.dir / "floor" / "junit.xml");
    EXPECT_NE(cases.find(fmt::format("hone eval: tiny|gate: accuracy >= {:.4f}|FAIL accuracy", floor)),
              std::string::npos)
        << cases;
  }

  // A baseline 10 points better (a copy of the real report, edited): --max-drop 5 fails, 15 passes.
  json better = base;
  better["models"][0]["accuracy"] = accuracy + 0.10;
  test::write_bytes(f.dir / "better.json", better.dump(2));
  r = f.eval("drop", {"--baseline", (f.dir / "better.json").string(), "--max-drop", "accuracy=5"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.out.find(fmt::format("FAIL tiny: accuracy {:.4f} dropped 10.00 points from the baseline's {:.4f}",
                                   accuracy, accuracy + 0.10)),
            std::string::npos)
      << r.out;
  const json dropped = f.report("drop");
  const json& check = dropped["gate"]["checks"][0];
  EXPECT_EQ(check["check"], "max_drop");
  EXPECT_DOUBLE_EQ(check["baseline"].get<double>(), accuracy + 0.10);
  EXPECT_EQ(dropped["gate"]["baseline_report"], (f.dir / "better.json").string());
  r = f.eval("drop15", {"--baseline", (f.dir / "better.json").string(), "--max-drop", "accuracy=15"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // One label's F1 8 points better in the baseline: --max-drop label_f1=5 names it.
  std::string label;
  double f1 = 2;
  for (const auto& [l, v] : row["label_f1"].items())
    if (v.get<double>() < f1) label = l, f1 = v.get<double>();
  json label_better = base;
  label_better["models"][0]["label_f1"][label] = f1 + 0.08;
  test::write_bytes(f.dir / "label.json", label_better.dump(2));
  r = f.eval("label", {"--baseline", (f.dir / "label.json").string(), "--max-drop", "label_f1=5"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(
      r.out.find(fmt::format("for 1 of 5 labels: {} {:.4f} (baseline {:.4f}, -8.00 points)", label, f1, f1 + 0.08)),
      std::string::npos)
      << r.out;
}

TEST(EvalGate, TwoModelsAreEachCheckedAgainstTheBaseline) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = f.eval("base", {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json base = f.report("base");
  base["models"][0]["accuracy"] = 1.0;  // the only row: every model's baseline
  test::write_bytes(f.dir / "base.json", base.dump());
  r = test::run_hone({"eval", "-m", f.model.string(), "-m", f.model.string(), "--name", "one", "--name", "two",
                      "--data", f.data.string(), "--method", "score", "--baseline", (f.dir / "base.json").string(),
                      "--max-drop", "accuracy=1", "--report", (f.dir / "two" / "report.json").string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  const json g = f.report("two")["gate"];
  ASSERT_EQ(g["checks"].size(), 2u) << g.dump(2);
  EXPECT_EQ(g["checks"][0]["model"], "one");
  EXPECT_EQ(g["checks"][1]["model"], "two");
  EXPECT_EQ(g["failed"], 2);
  // A baseline of two rows with other names: an error before anything is measured.
  base["models"][0]["name"] = "old";
  base["models"].push_back(base["models"][0]);
  base["models"][1]["name"] = "other";
  test::write_bytes(f.dir / "base2.json", base.dump());
  r = f.eval("none", {"--baseline", (f.dir / "base2.json").string(), "--max-drop", "accuracy=1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no model named 'tiny' among its 2 models"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.dir / "none" / "report.json"));
}

// The baseline's predictions edited: one example it got right marked wrong (fixed here), one it got
// wrong marked right (broken here), one left out (unmatched). Without its predictions, a note.
TEST(EvalGate, BaselineComparisonPairsThePredictions) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = f.eval("base", {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> preds = read_jsonl(f.dir / "base" / "predictions.jsonl");
  ASSERT_EQ(preds.size(), 30u);
  const auto right = std::find_if(preds.begin(), preds.end(), [](const json& p) { return p["scored_correct"] == true; });
  const auto wrong = std::find_if(preds.begin(), preds.end(), [](const json& p) { return p["scored_correct"] == false; });
  ASSERT_TRUE(right != preds.end() && wrong != preds.end()) << "the tiny model should get some right and some wrong";
  (*right)["scored_correct"] = false;
  (*wrong)["scored_correct"] = true;
  preds.pop_back();
  std::string lines;
  for (const json& p : preds) lines += p.dump() + "\n";
  fs::create_directories(f.dir / "edited");
  fs::copy_file(f.dir / "base" / "report.json", f.dir / "edited" / "report.json");
  test::write_bytes(f.dir / "edited" / "predictions.jsonl", lines);

  const fs::path baseline = f.dir / "edited" / "report.json";
  r = f.eval("round", {"--baseline", baseline.string(), "--max-drop", "accuracy=100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json round = f.report("round");
  const json& row = round["models"][0];
  ASSERT_TRUE(row.contains("baseline_comparison")) << row.dump(2);
  const json& c = row["baseline_comparison"];
  EXPECT_EQ(c["baseline_report"], baseline.string());
  EXPECT_EQ(c["baseline_model"], "tiny");
  EXPECT_EQ(c["method"], "score");
  EXPECT_EQ(c["n"], 29);
  EXPECT_EQ(c["unmatched"], 1);
  EXPECT_EQ(c["baseline_unmatched"], 0);
  EXPECT_EQ(c["fixed"], 1);
  EXPECT_EQ(c["broken"], 1);
  EXPECT_NEAR(c["change"].get<double>(), 0.0, 1e-9);
  // d has one +1 and one -1 among 29: variance 2 / 28, SE sqrt(2 / 28 / 29) = 4.9629 points.
  EXPECT_NEAR(c["change_se"].get<double>(), 100 * std::sqrt(2.0 / 28 / 29), 1e-9);
  EXPECT_TRUE(c["label_f1_fell"].empty() && c["label_f1_rose"].empty()) << c.dump(2);  // the same model
  EXPECT_NE(r.out.find("tiny vs baseline tiny: accuracy "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(+0.0 ± 5.0 points paired SE, n 29; 1 fixed, 1 broken); 1 of its examples had no baseline "
                       "match\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Gate: all 1 checks passed."), std::string::npos) << r.out;

  // A baseline report without predictions beside it: no object, one note.
  fs::create_directories(f.dir / "bare");
  fs::copy_file(f.dir / "base" / "report.json", f.dir / "bare" / "report.json");
  r = f.eval("noted", {"--baseline", (f.dir / "bare" / "report.json").string(), "--max-drop", "accuracy=100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(f.report("noted")["models"][0].contains("baseline_comparison"));
  EXPECT_NE(r.out.find("No paired comparison with the baseline: " + (f.dir / "bare" / "report.json").string() +
                       " has no predictions.jsonl beside it."),
            std::string::npos)
      << r.out;
}

TEST(EvalGate, BaselineOfAnotherTestSetIsAnErrorAndUsageErrorsNameTheMetrics) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = f.eval("first20", {"--limit", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string theirs = f.report("first20")["data_hash"];
  r = f.eval("all", {"--baseline", (f.dir / "first20" / "report.json").string(), "--max-drop", "accuracy=5"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("evaluated another test set: its data_hash " + theirs), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("first 20, 20 examples) is not this eval's "), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.dir / "all" / "report.json"));
  // The same 20 examples compare.
  r = f.eval("again",
             {"--limit", "20", "--baseline", (f.dir / "first20" / "report.json").string(), "--max-drop", "accuracy=0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(f.report("again")["data_hash"], theirs);

  auto usage = [&](std::vector<std::string> extra, const std::string& msg) {
    const auto u = f.eval("usage", extra);
    EXPECT_EQ(u.exit_code, 2) << u.err;
    EXPECT_NE(u.err.find(msg), std::string::npos) << "stderr: " << u.err << "\nexpected: " << msg;
  };
  usage({"--min", "acc=0.8"}, "--min acc=0.8: unknown metric 'acc'");
  usage({"--min", "acc=0.8"}, "the metrics: accuracy, macro_f1, score_accuracy");
  usage({"--min", "accuracy=85"}, "--min accuracy=0.85 asks for 85%");
  usage({"--min", "accuracy"}, "--min 'accuracy': expected METRIC=NUMBER");
  usage({"--max-drop", "accuracy=x"}, "'x' is not a number");
  usage({"--max-drop", "accuracy=2"}, "give --baseline REPORT.json");
  usage({"--min", "perplexity=10"}, "perplexity is not measured on a classification set");
  EXPECT_FALSE(fs::exists(f.dir / "usage" / "report.json"));
}

TEST(EvalGate, PredictionsCarryTheCanonicalPromptAndSystemMessage) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = f.eval("p", {"--limit", "6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, json> record;
  for (const json& rec : read_jsonl(f.data / "test.jsonl")) record[rec["id"]] = rec;
  const auto preds = read_jsonl(f.dir / "p" / "predictions.jsonl");
  ASSERT_EQ(preds.size(), 6u);
  for (const json& p : preds) {
    const json& rec = record.at(p["id"]);
    EXPECT_EQ(p["prompt"], rec["prompt"]);
    EXPECT_EQ(p["system"], kSystem);
    EXPECT_EQ(p["gold"], rec["completion"]);
    EXPECT_EQ(p["prompt"].get<std::string>().rfind("Query: ", 0), 0u);
  }
  // A cascade's rows carry them too.
  r = test::run_hone({"eval",
                      "-m",
                      f.model.string(),
                      "-m",
                      f.model.string(),
                      "--name",
                      "a",
                      "--name",
                      "b",
                      "--data",
                      f.data.string(),
                      "--limit",
                      "6",
                      "--method",
                      "score",
                      "--cascade",
                      "--threshold",
                      "0.9",
                      "--report",
                      (f.dir / "cascade" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_jsonl(f.dir / "cascade" / "predictions.jsonl");
  ASSERT_EQ(rows.size(), 18u);
  for (const json& p : rows) {
    EXPECT_EQ(p["prompt"], record.at(p["id"])["prompt"]) << p.dump();
    EXPECT_EQ(p["system"], kSystem) << p.dump();
  }
  EXPECT_EQ(rows.back()["model"], "a → b");
  // Chat records: the prompt is the last user turn, the system message the system turn; none
  // without one.
  test::write_bytes(f.dir / "chat.jsonl",
                    R"({"id":"c1","format":"chat","messages":[{"role":"system","content":"Be brief."},)"
                    R"({"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},)"
                    R"({"role":"user","content":"Say yes"},{"role":"assistant","content":"yes"}]})"
                    "\n"
                    R"({"id":"c2","format":"completion","prompt":"Say no","completion":"no"})"
                    "\n");
  r = test::run_hone({"eval", "-m", f.model.string(), "--data", (f.dir / "chat.jsonl").string(), "--max-new-tokens",
                      "2", "--report", (f.dir / "chat" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto chat = read_jsonl(f.dir / "chat" / "predictions.jsonl");
  ASSERT_EQ(chat.size(), 2u);
  EXPECT_EQ(chat[0]["prompt"], "Say yes");
  EXPECT_EQ(chat[0]["system"], "Be brief.");
  EXPECT_EQ(chat[1]["prompt"], "Say no");
  EXPECT_FALSE(chat[1].contains("system"));
}

}  // namespace
}  // namespace hone
