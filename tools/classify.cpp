// hone classify: batch inference with a classification model (and a cascade to a second one).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "eval/classify.h"
#include "options.h"

namespace hone::tools {

Run register_classify(CLI::App& root) {
  struct Options {
    std::vector<std::string> models;    // the classifier; with --cascade, then the model for deferred rows
    std::vector<std::string> adapters;  // adapter per model ("-" or "none": no adapter)
    std::vector<std::string> names;     // output name per model
    std::string input, out, routing, data, chat_template;
    std::string threshold = "auto";  // a probability, or "auto": routing.json's, else 0
    ClassifyOptions classify;
  };
  auto o = std::make_shared<Options>();
  ClassifyOptions& c = o->classify;
  CLI::App* cmd = root.add_subcommand("classify", "Label records with a classifier (and a cascade): JSON lines out");
  cmd->footer(
      "Each input record gives one JSON line: line, id (when the record has one), label, confidence,\n"
      "deferred (confidence below the threshold), model, top ([label, log-likelihood] of the top K).\n"
      "The labels and the rule come from --routing (hone export --routing) or --data (hone ingest);\n"
      "--threshold, --temperature, --score-top, --scoring and --system override routing.json's\n"
      "(without it: threshold 0, temperature 1, top 2, pruned scoring).\n"
      "Cascade: -m FIRST [--adapter A] -m SECOND [--adapter B] --cascade; the second model answers the\n"
      "deferred rows (first_label and first_confidence keep the first's answer).");
  add_config_options(*cmd);
  cmd->add_option("input", o->input, "Records to classify (.jsonl .json .csv .tsv, each optionally .gz; '-': stdin)")
      ->required();
  cmd->add_option("-m,--model", o->models, "Model to classify with (.gguf or HF directory); a second with --cascade")
      ->required();
  cmd->add_option("--adapter", o->adapters, "Adapter directory for each --model ('-': none)");
  cmd->add_option("--name", o->names, "Name of each model in the output ('model'; default: from the paths)");
  cmd->add_flag("--cascade", c.cascade,
                "Two models: the first answers when its confidence >= --threshold, the second answers the rest");
  cmd->add_option("-o,--out", o->out, "Output file of JSON lines (default: stdout), written whole or not at all");
  cmd->add_option("--routing", o->routing, "routing.json: labels, system message, K, temperature, threshold, scoring");
  cmd->add_option("--data", o->data, "Ingested directory whose labels, system message and prompt template apply");
  cmd->add_option("--threshold", o->threshold,
                  "The first model's confidence threshold: rows below it are deferred, or 'auto' (routing.json's, else 0)")
      ->capture_default_str();
  cmd->add_option("--temperature", c.temperature, "Softmax temperature of the confidence (default: routing's, else 1)");
  cmd->add_option("--score-top", c.score_top,
                  "Scoring: the exact top K labels per example; the confidence is normalised over them");
  // "auto" (unset): routing.json's scoring, else pruned.
  add_choice(*cmd, "--scoring", c.scoring,
             Choices<std::optional<LabelScoring>>{
                 {"auto", std::nullopt},
                 {label_scoring_name(LabelScoring::kPruned), LabelScoring::kPruned},
                 {label_scoring_name(LabelScoring::kExhaustive), LabelScoring::kExhaustive}},
             "Constrained scoring: pruned (best-first search that feeds only what can reach the top --score-top "
             "labels) or exhaustive (every label)");
  cmd->add_option("--score-per-round", c.score_per_round, "Pruned scoring: tree nodes fed per example per pass")
      ->capture_default_str();
  cmd->add_option("--system", c.system, "System message of the prompts (default: routing's, or the data's)");
  cmd->add_option("--prompt-template", c.prompt_template, "Classification prompt; {text} is replaced by the text");
  cmd->add_option("--text-field", c.text_field, "Field holding the text to classify")->capture_default_str();
  add_choice(*cmd, "--input-type", c.input_type,
             Choices<std::optional<data::InputType>>{{"auto", std::nullopt},
                                                     {"jsonl", data::InputType::kJsonl},
                                                     {"json", data::InputType::kJson},
                                                     {"csv", data::InputType::kCsv},
                                                     {"tsv", data::InputType::kTsv}},
             "Input type (auto: from the file name; stdin: jsonl)");
  add_choice(*cmd, "--on-error", c.on_error,
             Choices<data::OnError>{{"fail", data::OnError::kFail}, {"skip", data::OnError::kSkip}},
             "Stop at the first bad record (exit 3), or skip it and count it in a warning at the end");
  cmd->add_option("--batch-size", c.batch_size, "Examples per batch: read, scored and written together")
      ->capture_default_str();
  cmd->add_option("--threads", c.threads, "CPU threads (0: all cores)")->capture_default_str();
  add_dtype_option(*cmd, c.dtype, "the weights' and activations' (bf16: about 2x faster where the CPU has AVX512-BF16)");
  add_device_option(*cmd, c.device);
  cmd->add_option("--chat-template", o->chat_template,
                  "Jinja chat template file for prompts (default: the adapter's training template, else the model's)");
  return [o] {
    ClassifyOptions c = o->classify;
    c.models = eval_models(o->models, o->adapters, o->names);
    c.threshold = parse_threshold(o->threshold);
    c.input = o->input;
    c.output = o->out;
    c.routing = o->routing;
    c.data = o->data;
    c.chat_template = o->chat_template;
    run_classify(c);
  };
}

}  // namespace hone::tools
