// hone classify on tiny random models (SmolLM2's tokenizer and chat template): its labels and
// confidences equal hone eval's scoring of the same records, a cascade hands exactly the rows below
// the threshold to the second model, bad rows fail with file:line and leave no output file, and
// stdin, CSV and routing.json inputs give the same rows as a JSONL file with --data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "helpers.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;
namespace fs = std::filesystem;

const std::vector<std::string> kLabels = {"card_arrival", "card_linking", "exchange_rate", "lost_or_stolen_card",
                                          "top_up_failed"};
const std::vector<std::string> kQueries = {
    "Where is the card you sent me",     "How do I link my new card to the app",
    "What rate do you use for euros",    "Someone took my wallet with the card in it",
    "My top-up did not go through",      "The card has still not arrived, what now",
    "Can I add a card I already have",   "Why did I get a bad exchange rate, \"again\"",
    "I lost my card on the train",       "Top up failed twice today",
    "How long does delivery take",       "The app cannot find my card",
};
constexpr const char* kSystem = "Classify the banking query.";
constexpr const char* kTemplate = "Query: {text}";

std::vector<json> parse_jsonl(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

using test::read_jsonl;

// softmax(loglik / T)[0] over the [label, loglik] pairs of `top`.
double reference_confidence(const json& top, double temperature) {
  const double best = top[0][1].get<double>();
  double sum = 0;
  for (const json& t : top) sum += std::exp((t[1].get<double>() - best) / temperature);
  return 1.0 / sum;
}

// Two tiny models and a classification set: raw.jsonl (one query per line with an id and a blank
// line after the 5th, so that line numbers are physical), ingested with a system message and a
// prompt template into data/ (all in its test split).
struct Fixture {
  TempDir dir;
  fs::path first, second, raw, data;
  std::vector<std::string> texts;  // per raw record
  std::vector<std::uint64_t> lines;  // the raw record's line number

  void build() {
    fs::create_directories(dir / "a");
    fs::create_directories(dir / "b");
    first = test::write_tiny_gguf(dir / "a", /*seed=*/1);
    second = test::write_tiny_gguf(dir / "b", /*seed=*/2);
    raw = dir / "raw.jsonl";
    std::string text;
    std::uint64_t line = 0;
    for (std::size_t i = 0; i < 2 * kQueries.size(); ++i) {
      texts.push_back(kQueries[i % kQueries.size()] + (i < kQueries.size() ? "" : "?"));
      text += json({{"id", "q" + std::to_string(i)}, {"text", texts.back()}, {"label", kLabels[i % kLabels.size()]}})
                  .dump() + "\n";
      lines.push_back(++line);
      if (i == 4) text += "\n", ++line;
    }
    test::write_bytes(raw, text);
    data = dir / "data";
    const auto r = test::run_hone({"ingest", raw.string(), "-o", data.string(), "--format", "classification",
                                   "--split-ratios", "0,0,1", "--system", kSystem, "--prompt-template", kTemplate, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::size_t index_of_line(std::uint64_t line) const {
    const auto it = std::find(lines.begin(), lines.end(), line);
    EXPECT_NE(it, lines.end()) << "no record at line " << line;
    return static_cast<std::size_t>(it - lines.begin());
  }
};

test::CommandResult classify(std::vector<std::string> args) {
  args.insert(args.begin(), "classify");
  return test::run_hone(args);
}

// classify's label, top K and confidence for each record are eval's (--method score --score-top K)
// for the same record; the prompt comes from --data's system message and prompt template.
TEST(ClassifyCli, LabelsAndConfidencesEqualEvalScoring) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  auto r = test::run_hone({"eval", "-m", f.first.string(), "--data", f.data.string(), "--method", "score",
                           "--score-top", "3", "--report", (f.dir / "eval" / "report.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, json> eval_by_prompt;  // the canonical record's prompt -> eval's prediction
  std::map<std::string, std::string> prompt_of_id;
  for (const json& rec : read_jsonl(f.data / "test.jsonl")) {
    EXPECT_EQ(rec["system"], kSystem);
    prompt_of_id[rec["id"]] = rec["prompt"];
  }
  for (const json& p : read_jsonl(f.dir / "eval" / "predictions.jsonl")) eval_by_prompt[prompt_of_id.at(p["id"])] = p;
  ASSERT_EQ(eval_by_prompt.size(), f.texts.size());

  const fs::path out = f.dir / "out" / "classified.jsonl";
  // A tiny random model is sure of its best label (log-likelihood gaps of about 10): a temperature
  // of 10 spreads its confidences over (1/3, 1).
  r = classify({f.raw.string(), "-m", f.first.string(), "--data", f.data.string(), "--score-top", "3",
                "--temperature", "10", "--batch-size", "5", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "with -o, stdout stays empty: " << r.out;
  const std::string text = test::read_bytes(out);
  const std::vector<json> rows = parse_jsonl(text);
  ASSERT_EQ(rows.size(), f.texts.size());
  // The keys in a fixed order (a row without an id omits it).
  const auto first_row = nlohmann::ordered_json::parse(text.substr(0, text.find('\n')));
  std::vector<std::string> keys;
  for (const auto& [k, v] : first_row.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"line", "id", "label", "confidence", "deferred", "model", "top"}));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row["line"], f.lines[i]);
    EXPECT_EQ(row["id"], "q" + std::to_string(i));
    const json& ev = eval_by_prompt.at("Query: " + f.texts[i]);
    EXPECT_EQ(row["label"], ev["scored"]);
    ASSERT_EQ(row["top"].size(), 3u);
    ASSERT_EQ(ev["scored_top"].size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(row["top"][k][0], ev["scored_top"][k][0]);
      EXPECT_NEAR(row["top"][k][1].get<double>(), ev["scored_top"][k][1].get<double>(), 1e-4);
    }
    EXPECT_NEAR(row["confidence"].get<double>(), reference_confidence(ev["scored_top"], 10.0), 1e-6);
    EXPECT_EQ(row["deferred"], false);                    // threshold 0
    EXPECT_EQ(row["model"], "tiny.gguf");
  }

  // The same rule from a routing.json (which carries no prompt template: given here), its
  // threshold the median confidence; an explicit option overrides routing.json's: --threshold 0
  // defers nothing.
  std::vector<double> conf;
  for (const json& row : rows) conf.push_back(row["confidence"].get<double>());
  std::sort(conf.begin(), conf.end());
  const double threshold = conf[conf.size() / 2];
  const json routing = {{"format", "hone-routing"}, {"version", 1},   {"labels", kLabels},
                        {"scoring", "pruned"},      {"confidence_labels", 3}, {"temperature", 10.0},
                        {"threshold", threshold},   {"system", kSystem}};
  test::write_bytes(f.dir / "routing.json", routing.dump());
  r = classify({f.raw.string(), "-m", f.first.string(), "--routing", (f.dir / "routing.json").string(),
                "--prompt-template", kTemplate, "--batch-size", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> routed = parse_jsonl(r.out);
  ASSERT_EQ(routed.size(), rows.size());
  int deferred = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(routed[i]["label"], rows[i]["label"]);
    EXPECT_NEAR(routed[i]["confidence"].get<double>(), rows[i]["confidence"].get<double>(), 1e-9);
    EXPECT_EQ(routed[i]["deferred"], routed[i]["confidence"].get<double>() < threshold);
    deferred += routed[i]["deferred"].get<bool>();
  }
  EXPECT_GT(deferred, 0);
  EXPECT_LT(deferred, static_cast<int>(rows.size()));
  r = classify({f.raw.string(), "-m", f.first.string(), "--routing", (f.dir / "routing.json").string(),
                "--prompt-template", kTemplate, "--threshold", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const json& row : parse_jsonl(r.out)) EXPECT_EQ(row["deferred"], false);
}

// A cascade: rows below the threshold carry the second model's answer (equal to the second model
// run alone on those rows), the others the first's; rows stay in input order. Batches of 4 with
// about half the rows deferred: the deferred rows of several batches are scored together.
TEST(ClassifyCli, CascadeAnswersDeferredRowsWithTheSecondModel) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  const std::vector<std::string> common = {"--data", f.data.string(), "--score-top", "3", "--temperature", "10",
                                           "--batch-size", "4"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    auto r = classify(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parse_jsonl(r.out);
  };
  const std::vector<json> alone = run({f.raw.string(), "-m", f.first.string(), "--name", "first"});
  ASSERT_EQ(alone.size(), f.texts.size());
  std::vector<double> conf;
  for (const json& row : alone) conf.push_back(row["confidence"].get<double>());
  std::vector<double> sorted = conf;
  std::sort(sorted.begin(), sorted.end());
  // A threshold halfway between two neighbouring confidences near the median, clear of both.
  std::size_t m = sorted.size() / 2;
  while (m + 1 < sorted.size() && sorted[m] - sorted[m - 1] < 1e-4) ++m;
  ASSERT_GT(sorted[m] - sorted[m - 1], 1e-4) << "confidences too close together";
  const double threshold = (sorted[m - 1] + sorted[m]) / 2;

  // The deferred rows, alone, through the second model.
  std::string deferred_rows;
  for (std::size_t i = 0; i < conf.size(); ++i)
    if (conf[i] < threshold) deferred_rows += json({{"id", "q" + std::to_string(i)}, {"text", f.texts[i]}}).dump() + "\n";
  test::write_bytes(f.dir / "deferred.jsonl", deferred_rows);
  std::map<std::string, json> second_alone;
  for (const json& row : run({(f.dir / "deferred.jsonl").string(), "-m", f.second.string(), "--name", "second"}))
    second_alone[row["id"]] = row;
  ASSERT_EQ(second_alone.size(), m);

  const std::vector<json> cascade = run({f.raw.string(), "-m", f.first.string(), "-m", f.second.string(), "--cascade",
                                         "--name", "first", "--name", "second", "--threshold",
                                         fmt::format("{:.17g}", threshold)});
  ASSERT_EQ(cascade.size(), f.texts.size());
  std::size_t by_second = 0;
  for (std::size_t i = 0; i < cascade.size(); ++i) {
    const json& row = cascade[i];
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row["line"], f.lines[i]);
    if (conf[i] < threshold) {
      ++by_second;
      const json& ref = second_alone.at(row["id"]);
      EXPECT_EQ(row["deferred"], true);
      EXPECT_EQ(row["model"], "second");
      EXPECT_EQ(row["label"], ref["label"]);
      ASSERT_EQ(row["top"].size(), 3u);
      for (std::size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(row["top"][k][0], ref["top"][k][0]);
        EXPECT_NEAR(row["top"][k][1].get<double>(), ref["top"][k][1].get<double>(), 1e-4);
      }
      // The second model's confidence is at temperature 1 (the temperature given is the first's).
      EXPECT_NEAR(row["confidence"].get<double>(), reference_confidence(ref["top"], 1.0), 1e-6);
      EXPECT_EQ(row["first_label"], alone[i]["label"]);
      EXPECT_NEAR(row["first_confidence"].get<double>(), conf[i], 1e-6);
    } else {
      EXPECT_EQ(row["deferred"], false);
      EXPECT_EQ(row["model"], "first");
      EXPECT_EQ(row["label"], alone[i]["label"]);
      EXPECT_NEAR(row["confidence"].get<double>(), conf[i], 1e-6);
      EXPECT_FALSE(row.contains("first_label"));
    }
  }
  EXPECT_EQ(by_second, m);
  EXPECT_GT(by_second, 0u);
  EXPECT_LT(by_second, cascade.size());

  // A row exactly at the threshold is answered, not deferred.
  const std::size_t top = static_cast<std::size_t>(std::max_element(conf.begin(), conf.end()) - conf.begin());
  const std::vector<json> at = run({f.raw.string(), "-m", f.first.string(), "--threshold", fmt::format("{:.17g}", conf[top])});
  ASSERT_EQ(at.size(), conf.size());
  for (std::size_t i = 0; i < at.size(); ++i) EXPECT_EQ(at[i]["deferred"], conf[i] < conf[top]) << i;
  EXPECT_EQ(at[top]["deferred"], false);
}

// A bad row stops the run with exit 3, names the file and line, and leaves no output file;
// --on-error skip goes on and counts it. Option mistakes are usage errors (exit 2).
TEST(ClassifyCli, BadRowsNameFileAndLineAndLeaveNoOutput) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  const std::string m = f.first.string(), d = f.data.string();
  test::write_bytes(f.dir / "bad.jsonl",
                    "{\"id\":\"1\",\"text\":\"where is my card\"}\n"
                    "{\"id\":\"2\",\"text\":\"top up failed\"}\n"
                    "{\"id\":\"3\",\"text\": \"unterminated\n"
                    "{\"id\":\"4\",\"text\":\"rate for dollars\"}\n"
                    "{\"id\":\"5\",\"body\":\"no text field\"}\n");
  const fs::path out = f.dir / "out" / "bad-out.jsonl";
  auto r = classify({(f.dir / "bad.jsonl").string(), "-m", m, "--data", d, "-o", out.string(), "--batch-size", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("bad.jsonl:3: not valid JSON"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  if (fs::exists(out.parent_path())) {
    EXPECT_TRUE(fs::is_empty(out.parent_path())) << "a temporary file was left";
  }

  test::write_bytes(f.dir / "missing.jsonl", "{\"text\":\"lost card\"}\n{\"query\":\"lost card\"}\n");
  r = classify({(f.dir / "missing.jsonl").string(), "-m", m, "--data", d, "-o", out.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("missing.jsonl:2: field 'text' is missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--text-field"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));

  r = classify({(f.dir / "bad.jsonl").string(), "-m", m, "--data", d, "-o", out.string(), "--on-error", "skip",
                "--batch-size", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 2 bad rows (bad_json 1, missing_field 1); the first:"), std::string::npos) << r.err;
  const std::vector<json> rows = read_jsonl(out);
  ASSERT_EQ(rows.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i]["line"], std::vector<int>({1, 2, 4})[i]);
  EXPECT_EQ(rows[2]["id"], "4");

  auto usage = [&](std::vector<std::string> args, const std::string& msg) {
    auto u = classify(args);
    EXPECT_EQ(u.exit_code, 2) << u.err;
    EXPECT_NE(u.err.find(msg), std::string::npos) << "stderr: " << u.err << "\nexpected: " << msg;
  };
  const std::string in = f.raw.string();
  usage({in, "-m", m}, "neither given: the labels come from --routing or --data");
  usage({in, "-m", m, "--data", d, "--routing", "r.json"}, "both given");
  usage({in, "-m", m, "-m", m, "--data", d}, "2 --model without --cascade");
  usage({in, "-m", m, "--data", d, "--cascade"}, "--cascade needs two --model");
  usage({in, "-m", m, "--data", d, "--threshold", "1.5"}, "--threshold must be in [0, 1], got 1.5");
  usage({in, "-m", m, "--data", d, "--prompt-template", "no text"}, "does not contain {text}");
}

// stdin ('-') and a CSV file give the rows a JSONL file gives (CSV lines count the header).
TEST(ClassifyCli, StdinAndCsvInputsGiveTheSameRows) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model (its tokenizer)";
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.build());
  const std::vector<std::string> common = {"-m", f.first.string(), "--data", f.data.string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  auto r = classify(with({f.raw.string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> ref = parse_jsonl(r.out);
  ASSERT_EQ(ref.size(), f.texts.size());

  std::string cmd = "exec '" + std::string(HONE_BINARY) + "' classify -";
  for (const std::string& a : common) cmd += " '" + a + "'";
  cmd += " < '" + f.raw.string() + "'";
  r = test::run_command({"/bin/sh", "-c", cmd});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> piped = parse_jsonl(r.out);
  ASSERT_EQ(piped.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(piped[i], ref[i]) << i;

  // CSV (RFC 4180 quoting: one text holds a comma and quotes), extra columns ignored.
  std::string csv = "id,text,source\n";
  for (std::size_t i = 0; i < f.texts.size(); ++i) {
    std::string quoted = "\"";
    for (char c : f.texts[i]) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    csv += "q" + std::to_string(i) + "," + quoted + "\",test\n";
  }
  test::write_bytes(f.dir / "raw.csv", csv);
  r = classify(with({(f.dir / "raw.csv").string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> from_csv = parse_jsonl(r.out);
  ASSERT_EQ(from_csv.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    SCOPED_TRACE(from_csv[i].dump());
    EXPECT_EQ(from_csv[i]["line"], i + 2);
    for (const char* k : {"id", "label", "confidence", "top", "deferred", "model"}) EXPECT_EQ(from_csv[i][k], ref[i][k]) << k;
  }
}

}  // namespace
}  // namespace hone
