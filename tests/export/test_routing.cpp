// hone export --routing: routing.json from a calibrated eval report (report/routing.h), written
// beside the export (export/export_routing.h), and the reports it refuses, with their messages.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "export/export.h"
#include "export/export_routing.h"
#include "helpers.h"
#include "report/routing.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

// A model's row as `hone eval --calibrate --target-accuracy 0.9` writes it: the temperature fitted
// on the valid split, the threshold chosen there and measured on the test set.
json calibrated_row(const std::string& name, const std::string& model) {
  return {
      {"name", name},
      {"model", model},
      {"adapter", ""},
      {"accuracy", 0.8},
      {"selective",
       {{"confidence", "label_probability"},
        {"confidence_labels", 3},
        {"temperature", 1.75},
        {"calibration",
         {{"data", "runs/x/data"},
          {"split", "valid"},
          {"examples", 150},
          {"temperature", 1.75},
          {"nll", 0.9},
          {"nll_calibrated", 0.6}}},
        {"ece", 0.12},
        {"ece_calibrated", 0.03},
        {"aurc", 0.05},
        {"curve",
         {{{"threshold", 0.99}, {"coverage", 0.1}, {"accuracy", 1.0}},
          {{"threshold", 0.34}, {"coverage", 1.0}, {"accuracy", 0.8}}}},
        {"target_accuracy", 0.9},
        {"target_threshold", {{"threshold", 0.82}, {"chosen_on", "valid"}, {"coverage", 0.7}, {"accuracy", 0.91}}}}}};
}

json classification_report(const fs::path& data, json models) {
  return {{"hone_version", "0.1.0"},
          {"data", data.string()},
          {"split", "test"},
          {"task", "classification"},
          {"examples", 200},
          {"subset", "all"},
          {"labels", 3},
          {"label_names", {"card_arrival", "card_lost", "refund"}},
          {"method", "score"},
          {"scoring", "exhaustive"},
          {"dtype", "f32"},
          {"models", std::move(models)}};
}

fs::path write_report(const fs::path& path, const json& report) {
  test::write_bytes(path, report.dump(2));
  return path;
}

// The message of the InputError that `f` throws ("" when it throws none).
template <class F>
std::string input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.message();
  }
  return "";
}

TEST(ExportRouting, RoutingJsonHoldsTheCalibratedRule) {
  TempDir t;
  fs::create_directories(t / "data");
  test::write_bytes(t / "data/manifest.json", json{{"options", {{"system", "Classify the query."}}}}.dump());
  const fs::path report = write_report(
      t / "report.json", classification_report(t / "data", json::array({calibrated_row("student", "s.gguf")})));
  const Routing r = routing_from_eval_report(report, "");
  EXPECT_EQ(r.evaluated_model, "s.gguf");
  const json j = json::parse(routing_json(r));
  EXPECT_EQ(j["format"], "hone-routing");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["model"], "student");
  EXPECT_EQ(j["confidence"], "label_probability");
  EXPECT_EQ(j["confidence_labels"], 3);
  EXPECT_EQ(j["scoring"], "exhaustive");
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), 1.75);
  EXPECT_DOUBLE_EQ(j["threshold"].get<double>(), 0.82);
  EXPECT_DOUBLE_EQ(j["target_accuracy"].get<double>(), 0.9);
  EXPECT_EQ(j["system"], "Classify the query.");
  EXPECT_EQ(j["chosen_on"], json({{"data", "runs/x/data"}, {"split", "valid"}, {"examples", 150}}));
  EXPECT_EQ(j["evaluated_on"]["data"], (t / "data").string());
  EXPECT_EQ(j["evaluated_on"]["split"], "test");
  EXPECT_DOUBLE_EQ(j["evaluated_on"]["coverage"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(j["evaluated_on"]["accuracy"].get<double>(), 0.91);
  EXPECT_EQ(j["labels"], json({"card_arrival", "card_lost", "refund"}));

  test::write_bytes(t / "routing.json", routing_json(r));
  const Routing back = read_routing(t / "routing.json");
  EXPECT_EQ(back.model, "student");
  EXPECT_EQ(back.labels, r.labels);
  EXPECT_EQ(back.confidence_labels, 3);
  EXPECT_DOUBLE_EQ(back.temperature, 1.75);
  EXPECT_DOUBLE_EQ(back.threshold, 0.82);
  EXPECT_EQ(back.system, std::optional<std::string>("Classify the query."));
  EXPECT_EQ(back.chosen_on_split, "valid");
}

// "": the cascade's first model, else the only one; a report of several models must name one.
TEST(ExportRouting, PicksTheModelToRoute) {
  TempDir t;
  json two = classification_report(
      "runs/x/data", json::array({calibrated_row("tuned", "t.gguf"), calibrated_row("student", "s.gguf")}));
  const fs::path plain = write_report(t / "two.json", two);
  EXPECT_EQ(routing_from_eval_report(plain, "student").model, "student");
  EXPECT_EQ(input_error([&] { routing_from_eval_report(plain, ""); }),
            plain.string() + ": 2 models (tuned, student) and no cascade: which one to route?");
  EXPECT_EQ(input_error([&] { routing_from_eval_report(plain, "base"); }),
            plain.string() + ": no model named 'base' (it has tuned, student)");
  two["cascade"] = {{"name", "student → tuned"}, {"first", "student"}, {"second", "tuned"}};
  const fs::path cascade = write_report(t / "cascade.json", two);
  EXPECT_EQ(routing_from_eval_report(cascade, "").model, "student");
}

TEST(ExportRouting, RefusesReportsWithoutARule) {
  TempDir t;
  auto error_for = [&](const std::string& file, const json& report) {
    const fs::path p = write_report(t / file, report);
    return std::make_pair(p.string(), input_error([&] { routing_from_eval_report(p, ""); }));
  };
  json row = calibrated_row("student", "s.gguf");
  row["selective"]["calibration"] = nullptr;
  auto [p, m] = error_for("uncalibrated.json", classification_report("d", json::array({row})));
  EXPECT_EQ(m, p + ": model 'student' was not calibrated");

  row = calibrated_row("student", "s.gguf");
  row["selective"]["target_threshold"] = nullptr;
  std::tie(p, m) = error_for("nothreshold.json", classification_report("d", json::array({row})));
  EXPECT_EQ(m, p + ": model 'student' has no confidence threshold ('target_threshold')");

  row = calibrated_row("student", "s.gguf");
  row["selective"] = nullptr;
  std::tie(p, m) = error_for("noconfidence.json", classification_report("d", json::array({row})));
  EXPECT_EQ(m, p + ": model 'student' has no confidence ('selective')");

  json generation = classification_report("d", json::array({calibrated_row("student", "s.gguf")}));
  generation["task"] = "generation";
  std::tie(p, m) = error_for("generation.json", generation);
  EXPECT_EQ(m, p + ": a 'generation' report, expected a classification one");

  row = calibrated_row("student", "s.gguf");
  row["selective"]["confidence"] = "mean_token_logprob";
  std::tie(p, m) = error_for("logprob.json", classification_report("d", json::array({row})));
  EXPECT_EQ(m, p + ": model 'student''s confidence is 'mean_token_logprob', routing needs 'label_probability' "
                   "(label scoring)");

  EXPECT_EQ(routing_path(ExportFormat::kGguf, "out/student-q8_0.gguf"), fs::path("out/student-q8_0.routing.json"));
  EXPECT_EQ(routing_path(ExportFormat::kGgufLora, "lora.gguf"), fs::path("lora.routing.json"));
  EXPECT_EQ(routing_path(ExportFormat::kHf, "out/hf"), fs::path("out/hf/routing.json"));
  EXPECT_EQ(routing_path(ExportFormat::kPeft, "out/peft"), fs::path("out/peft/routing.json"));
}

// The warnings export_model logs while `f` runs.
template <class F>
std::string warnings_of(F f) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  sink->set_level(spdlog::level::warn);
  sink->set_pattern("%v");
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.push_back(sink);
  try {
    f();
  } catch (...) {
    sinks.pop_back();
    throw;
  }
  sinks.pop_back();
  return log.str();
}

// The routing goes into a directory output and beside a file output, named after the file; a
// report that cannot route fails before anything is written.
TEST(ExportRouting, WrittenBesideTheExport) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model";
  TempDir t;
  const fs::path model = test::write_tiny_gguf(t.path());
  const fs::path report =
      write_report(t / "report.json",
                   classification_report("runs/x/data", json::array({calibrated_row("student", model.string())})));
  ExportOptions o;
  o.model = model;
  o.format = ExportFormat::kGguf;
  o.dtype = ExportDtype::kQ8_0;
  o.out = t / "exports/student-q8_0.gguf";
  o.routing = report;
  ExportResult r;
  const std::string quiet = warnings_of([&] { r = export_model(o); });
  EXPECT_EQ(quiet.find("was evaluated with"), std::string::npos) << quiet;
  const fs::path beside = t / "exports/student-q8_0.routing.json";
  EXPECT_NE(std::find(r.files.begin(), r.files.end(), beside), r.files.end());
  EXPECT_EQ(test::read_bytes(beside), routing_json(routing_from_eval_report(report, "")));
  EXPECT_TRUE(fs::exists(o.out));

  o.format = ExportFormat::kHf;
  o.dtype = ExportDtype::kAuto;
  o.out = t / "exports/student-hf";
  r = export_model(o);
  EXPECT_NE(std::find(r.files.begin(), r.files.end(), o.out / "routing.json"), r.files.end());
  EXPECT_EQ(read_routing(o.out / "routing.json").threshold, 0.82);

  // The report evaluated another file: written, with a warning naming both.
  o.format = ExportFormat::kGguf;
  o.out = t / "exports/other.gguf";
  fs::copy_file(model, t / "copy.gguf");
  o.model = t / "copy.gguf";
  const std::string warned = warnings_of([&] { export_model(o); });
  EXPECT_NE(warned.find(report.string() + ": model 'student' was evaluated with model " + model.string() +
                        ", this export has " + (t / "copy.gguf").string()),
            std::string::npos)
      << warned;
  EXPECT_TRUE(fs::exists(t / "exports/other.routing.json"));

  // A routing file without its model is refused unless --overwrite.
  fs::remove(o.out);
  try {
    export_model(o);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(e.message(), (t / "exports/other.routing.json").string() + " exists");
  }
  o.routing_model = "nobody";
  o.routing.clear();
  try {
    export_model(o);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(e.message(), "--routing-model nobody needs --routing");
  }

  // The command line: the files written are listed, the refused report exits with code 3.
  test::CommandResult cli = test::run_hone({"export", "-m", model.string(), "--format", "gguf", "-o",
                                            (t / "cli/tuned.gguf").string(), "--routing", report.string()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find((t / "cli/tuned.routing.json").string() + "\n"), std::string::npos) << cli.out;

  json row = calibrated_row("student", model.string());
  row["selective"]["calibration"] = nullptr;
  o.routing = write_report(t / "uncalibrated.json", classification_report("d", json::array({row})));
  o.routing_model.clear();
  o.out = t / "exports/never.gguf";
  EXPECT_EQ(input_error([&] { export_model(o); }), o.routing.string() + ": model 'student' was not calibrated");
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_FALSE(fs::exists(t / "exports/never.routing.json"));
  cli = test::run_hone(
      {"export", "-m", model.string(), "--format", "gguf", "-o", o.out.string(), "--routing", o.routing.string()});
  EXPECT_EQ(cli.exit_code, 3);
  EXPECT_NE(cli.err.find(o.routing.string() + ": model 'student' was not calibrated"), std::string::npos) << cli.err;
  EXPECT_FALSE(fs::exists(o.out));
}

}  // namespace
}  // namespace hone
