// hone eval: perplexity, classification accuracy/F1, exact match, format validity, latency; and the
// CI gate on them (--min, --baseline with --max-drop, --junit).
#include <iostream>

#include "command.h"
#include "core/error.h"
#include "eval/eval.h"
#include "options.h"

namespace hone::tools {

namespace {

// The names --min and --max-drop take: the report's keys of a model's row.
std::string gate_metric_names() {
  std::string names;
  for (const GateMetricInfo& m : gate_metrics()) names += std::string(names.empty() ? "" : ", ") + m.key;
  return names;
}

// --min METRIC=VALUE or --max-drop METRIC=POINTS, each given as `option` (for messages). UsageError
// for an unknown metric (listing the valid ones) or a value that is not a number.
std::vector<GateBound> parse_gate_bounds(const std::string& option, const std::vector<std::string>& texts) {
  std::vector<GateBound> out;
  for (const std::string& text : texts) {
    const auto eq = text.find('=');
    HONE_CHECK(eq != std::string::npos, UsageError, Hint{option + " METRIC=NUMBER, e.g. " + option + " accuracy=" +
                                                         (option == "--min" ? "0.85" : "2")},
               "{} '{}': expected METRIC=NUMBER", option, text);
    const std::string name = text.substr(0, eq), number = text.substr(eq + 1);
    const GateMetricInfo* metric = nullptr;
    for (const GateMetricInfo& m : gate_metrics())
      if (name == m.key) metric = &m;
    HONE_CHECK(metric != nullptr, UsageError, Hint{"the metrics: " + gate_metric_names()},
               "{} {}: unknown metric '{}'", option, text, name);
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    HONE_CHECK(used > 0 && used == number.size(), UsageError, "{} {}: '{}' is not a number", option, text, number);
    out.push_back({metric->metric, v});
  }
  return out;
}

// The gate's options as given: METRIC=NUMBER texts and paths.
struct GateArgs {
  std::vector<std::string> min;       // --min METRIC=VALUE, repeatable
  std::vector<std::string> max_drop;  // --max-drop METRIC=POINTS, repeatable
  std::string baseline;               // --baseline REPORT.json
  std::string junit;                  // --junit FILE.xml
};

void add_gate_options(CLI::App& cmd, GateArgs& g) {
  const std::string group = "Gate (exit code 4 when a check fails, after the report is written)";
  cmd.add_option("--min", g.min,
                 "METRIC=VALUE: each model's metric must reach VALUE (a fraction for accuracy-like metrics; "
                 "a ceiling for perplexity, loss and latency)")
      ->group(group);
  cmd.add_option("--baseline", g.baseline,
                 "The previous model's eval report (same test set: data_hash), which --max-drop compares with; "
                 "with its predictions.jsonl beside it, also a query-by-query comparison (change ± paired SE)")
      ->group(group);
  cmd.add_option("--max-drop", g.max_drop,
                 "METRIC=POINTS: the largest drop from the baseline (percentage points for fractions; a rise "
                 "for lower-is-better metrics; label_f1: any label's F1)")
      ->group(group);
  cmd.add_option("--junit", g.junit, "Write every metric and gate check as JUnit XML test cases here")->group(group);
}

GateOptions gate_options(const GateArgs& g) {
  GateOptions o;
  o.min = parse_gate_bounds("--min", g.min);
  o.max_drop = parse_gate_bounds("--max-drop", g.max_drop);
  o.baseline = g.baseline;
  o.junit = g.junit;
  return o;
}

}  // namespace

Run register_eval(CLI::App& root) {
  struct Options {
    std::vector<std::string> models;    // one or more models, evaluated side by side
    std::vector<std::string> adapters;  // adapter per model ("-" or "none": no adapter)
    std::vector<std::string> names;     // report name per model
    EvalOptions eval;
    std::string data, report, predictions;
    std::string threshold;  // the cascade's: a probability, or "auto"
    GateArgs gate;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("eval", "Measure models (and adapters) on a data set, side by side");
  cmd->footer(
      "Data: a token store (.h5) gives mean loss and perplexity; an ingested directory (or .jsonl of\n"
      "canonical records) whose examples all have labels gives classification metrics (constrained\n"
      "scoring and/or greedy generation); other completion/chat records give exact and normalised match.\n"
      "Several models: repeat --model, with one --adapter per model ('-' for none) and optional --name.\n"
      "Gate metrics (--min, --max-drop; the report's keys of a model's row):\n  " +
      gate_metric_names() + ".");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->models, "Model(s) to evaluate (.gguf or HF directory)")->required();
  cmd->add_option("--adapter", o->adapters, "Adapter directory for each --model ('-': none)");
  cmd->add_option("--name", o->names, "Name of each model in the report");
  cmd->add_option("--data", o->data, "Token store (.h5), ingested directory or canonical .jsonl")->required();
  cmd->add_option("--split", o->eval.split, "Split of the store or directory")->capture_default_str();
  cmd->add_option("--limit", o->eval.limit, "Evaluate the first N examples (0: all)")->capture_default_str();
  cmd->add_option("--generate-sample", o->eval.generate_sample,
                  "Generate for N evenly spaced examples of those evaluated (0: all); scoring still covers all")
      ->capture_default_str();
  cmd->add_option("--sample", o->eval.sample, "Evaluate N evenly spaced examples (a fixed subset that spans a sorted split)")
      ->capture_default_str();
  add_choice(*cmd, "--method", o->eval.method,
             Choices<EvalMethod>{{eval_method_name(EvalMethod::kScore), EvalMethod::kScore},
                                 {eval_method_name(EvalMethod::kGenerate), EvalMethod::kGenerate},
                                 {eval_method_name(EvalMethod::kBoth), EvalMethod::kBoth}},
             "Classification: score, generate or both");
  cmd->add_option("--max-new-tokens", o->eval.max_new_tokens, "Generation length (0: longest label + 2, or 64)")
      ->capture_default_str();
  cmd->add_flag("--format-json", o->eval.format_json, "Generation sets: an output is valid when it parses as JSON")
      ->capture_default_str();
  cmd->add_option("--format-regex", o->eval.format_regex, "Generation sets: an output is valid when it matches");
  add_dtype_option(*cmd, o->eval.dtype, "the weights' and activations' (bf16: about 2x faster where the CPU has AVX512-BF16)");
  add_choice(*cmd, "--scoring", o->eval.scoring,
             Choices<LabelScoring>{{label_scoring_name(LabelScoring::kPruned), LabelScoring::kPruned},
                                   {label_scoring_name(LabelScoring::kExhaustive), LabelScoring::kExhaustive}},
             "Constrained scoring: pruned (best-first search that feeds only what can reach the top --score-top "
             "labels) or exhaustive (every label)");
  cmd->add_option("--score-top", o->eval.score_top,
                  "Scoring: the exact top K labels per example; the confidence is normalised over them")
      ->capture_default_str();
  cmd->add_option("--score-per-round", o->eval.score_per_round, "Pruned scoring: tree nodes fed per example per pass")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->eval.batch_size, "Examples per scoring pass, sequences per perplexity pass")->capture_default_str();
  cmd->add_option("--threads", o->eval.threads, "CPU threads (0: all cores)")->capture_default_str();
  add_device_option(*cmd, o->eval.device);
  cmd->add_option("--chat-template", o->eval.chat_template,
                  "Jinja chat template file for prompts (default: the adapter's training template, else the model's)");
  cmd->add_flag("--calibrate", o->eval.calibrate,
                "Fit a temperature for the confidences on the calibration split (minimum NLL) and apply it");
  cmd->add_option("--calibration-data", o->eval.calibration_data,
                  "Where the calibration split is: an ingested directory or .jsonl (default: --data)");
  cmd->add_option("--calibration-split", o->eval.calibration_split, "The split to calibrate and choose thresholds on")
      ->capture_default_str();
  cmd->add_option("--target-accuracy", o->eval.target_accuracy,
                  "Report the confidence threshold whose answers reach this accuracy (0: none); a cascade routes by it")
      ->capture_default_str();
  cmd->add_flag("--cascade", o->eval.cascade,
                "Two models: the first answers when its confidence >= --threshold, the second answers the rest");
  cmd->add_option("--threshold", o->threshold,
                  "Cascade: the first model's confidence threshold, or 'auto' (for --target-accuracy, on the calibration split)")
      ->default_str("auto");
  cmd->add_option("--report", o->report, "Write the JSON report here (predictions.jsonl goes beside it)");
  cmd->add_option("--predictions", o->predictions, "Per-example predictions (JSON lines)");
  add_gate_options(*cmd, o->gate);
  return [o] {
    EvalOptions e = o->eval;
    e.models = eval_models(o->models, o->adapters, o->names);
    e.threshold = parse_threshold(o->threshold);
    e.data = o->data;
    e.report = o->report;
    e.predictions = o->predictions;
    e.gate = gate_options(o->gate);
    const EvalResult r = run_eval(e);
    std::cout << r.markdown << std::flush;
    require_gate_passed(r.gate);
  };
}

}  // namespace hone::tools
