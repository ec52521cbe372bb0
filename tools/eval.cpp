// hone eval: perplexity, classification accuracy/F1, exact match, format validity, latency.
#include <iostream>

#include "command.h"
#include "core/error.h"
#include "eval/eval.h"
#include "options.h"

namespace hone::tools {

Run register_eval(CLI::App& root) {
  struct Options {
    std::vector<std::string> models;    // one or more models, evaluated side by side
    std::vector<std::string> adapters;  // adapter per model ("-" or "none": no adapter)
    std::vector<std::string> names;     // report name per model
    EvalOptions eval;
    std::string data, report, predictions;
    std::string threshold;  // the cascade's: a probability, or "auto"
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("eval", "Measure models (and adapters) on a data set, side by side");
  cmd->footer(
      "Data: a token store (.h5) gives mean loss and perplexity; an ingested directory (or .jsonl of\n"
      "canonical records) whose examples all have labels gives classification metrics (constrained\n"
      "scoring and/or greedy generation); other completion/chat records give exact and normalised match.\n"
      "Several models: repeat --model, with one --adapter per model ('-' for none) and optional --name.");
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
  return [o] {
    EvalOptions e = o->eval;
    e.models = eval_models(o->models, o->adapters, o->names);
    e.threshold = parse_threshold(o->threshold);
    e.data = o->data;
    e.report = o->report;
    e.predictions = o->predictions;
    std::cout << run_eval(e) << std::flush;
  };
}

}  // namespace hone::tools
