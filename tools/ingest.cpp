// hone ingest INPUT... -o DIR: validated, canonical examples with deterministic splits.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "data/ingest.h"
#include "options.h"

namespace hone::tools {

Run register_ingest(CLI::App& root) {
  struct Options {
    std::vector<std::string> inputs;  // JSONL, JSON, CSV/TSV, TXT (optionally .gz)
    std::string out;                  // output directory
    std::vector<double> split{0.9, 0.05, 0.05};
    // Kept as names (not enums) so that --print-config writes keys a config file can read back.
    data::IngestOptions ingest;
  };
  auto o = std::make_shared<Options>();
  data::IngestOptions& g = o->ingest;
  CLI::App* cmd = root.add_subcommand("ingest", "Validate raw data (JSONL/CSV/TXT) into canonical train/valid/test splits");
  add_config_options(*cmd);
  cmd->add_option("inputs", o->inputs, "Input files (.jsonl .json .csv .tsv .txt, each optionally .gz)")->required();
  cmd->add_option("-o,--out", o->out, "Output directory")->required();
  add_choice(*cmd, "--format", o->ingest.format,
             Choices<data::RecordFormat>{{"auto", data::RecordFormat::kAuto},
                                         {"text", data::RecordFormat::kText},
                                         {"prompt-completion", data::RecordFormat::kPromptCompletion},
                                         {"alpaca", data::RecordFormat::kAlpaca},
                                         {"chat", data::RecordFormat::kChat},
                                         {"classification", data::RecordFormat::kClassification},
                                         {"corrections", data::RecordFormat::kCorrections}},
             "Record format (auto: from each input's first record; corrections: prompt, model output and "
             "a reviewer's correction, also written as preference pairs to pairs.jsonl)");
  cmd->add_option("--split-ratios", o->split, "Train,valid,test fractions for inputs whose name carries no split")
      ->delimiter(',')
      ->expected(3)
      ->default_str("0.9,0.05,0.05");
  cmd->add_option("--valid-from-train", g.valid_from_train,
                  "Fraction of a named train split (train.csv, ...) moved to valid, by content hash")
      ->capture_default_str();
  cmd->add_option("--train-fraction", g.train_fraction,
                  "Keep this fraction of the train split, chosen by content hash (a smaller, reproducible sample)")
      ->capture_default_str();
  cmd->add_option("--train-offset", g.train_offset,
                  "Where the kept fraction starts in the hash range: samples over disjoint ranges share no example")
      ->capture_default_str();
  add_choice(*cmd, "--on-error", o->ingest.on_error,
             Choices<data::OnError>{{"fail", data::OnError::kFail}, {"skip", data::OnError::kSkip}},
             "Stop at the first bad record, or skip it and log it to rejects.jsonl");
  cmd->add_option("--text-field", g.text_field, "Field holding the text (text, classification)")->capture_default_str();
  cmd->add_option("--label-field", g.label_field, "Field holding the label (classification)")->capture_default_str();
  cmd->add_option("--prompt-field", g.prompt_field, "Field holding the prompt (prompt-completion, corrections)")
      ->capture_default_str();
  cmd->add_option("--completion-field", g.completion_field, "Field holding the completion (prompt-completion)")
      ->capture_default_str();
  cmd->add_option("--output-field", g.output_field,
                  "Field holding the model's output (corrections; default the first of output, scored, generated)");
  cmd->add_option("--correction-field", g.correction_field,
                  "Field holding the reviewer's correction (corrections; e.g. gold); rows without it are dropped")
      ->capture_default_str();
  cmd->add_flag("--confirmed-pairs", g.confirmed_pairs,
                "Corrections: a row whose correction equals the output also becomes a pair, against the model's "
                "runner-up (a runner_up field, or hone eval's scored_top)");
  cmd->add_option("--labels", g.labels,
                  "Label set for corrections: an ingested directory or a file with one label per line; a "
                  "correction outside it is a bad record");
  cmd->add_option("--messages-field", g.messages_field, "Field holding the turns (chat; default messages or conversations)");
  cmd->add_option("--prompt-template", g.prompt_template, "Classification prompt; {text} is replaced by the text")
      ->capture_default_str();
  cmd->add_option("--system", g.system,
                  "System message for every example (prompt-completion and classification records, corrections rows "
                  "and chat records without one); \"\" gives an empty system turn instead of the chat template's "
                  "default");
  cmd->add_flag("--text-blocks", g.text_blocks, "TXT: one document per blank-line-separated block (not per file)");
  cmd->add_option("--max-record-bytes", g.max_record_bytes, "Reject records longer than this")->capture_default_str();
  cmd->add_flag("--overwrite", g.overwrite, "Replace an existing output directory (after the new one is complete)");

  return [o] {
    HONE_CHECK(o->split.size() == 3, UsageError, "--split takes three fractions: train,valid,test");
    o->ingest.split = {o->split[0], o->split[1], o->split[2]};
    const std::vector<data::fs::path> inputs(o->inputs.begin(), o->inputs.end());
    const data::IngestReport r = data::ingest(inputs, o->out, o->ingest);
    std::cout << fmt::format("wrote {}\n  train {}  valid {}  test {}\n  duplicates dropped {}  skipped {}{}\n",
                             r.out_dir.string(), r.counts.train, r.counts.valid, r.counts.test, r.duplicates,
                             r.skipped, r.sampled_out > 0 ? fmt::format("  train sampled out {}", r.sampled_out) : "");
    for (const auto& [reason, n] : r.skipped_by_reason) std::cout << fmt::format("    {}: {}\n", reason, n);
    if (!r.labels.empty()) std::cout << fmt::format("  labels {}\n", r.labels.size());
    if (o->ingest.format == data::RecordFormat::kCorrections)
      std::cout << fmt::format("  pairs {}{}  unchanged {}  uncorrected {}\n", r.corrections.pairs,
                               o->ingest.confirmed_pairs ? fmt::format(" ({} confirmed)", r.corrections.confirmed) : "",
                               r.corrections.unchanged, r.corrections.uncorrected);
  };
}

}  // namespace hone::tools
