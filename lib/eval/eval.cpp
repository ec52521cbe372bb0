#include "eval/eval.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>

#include "batch/batches.h"
#include "batch/targets.h"
#include "core/compute.h"
#include "core/device.h"
#include "core/error.h"
#include "core/measure.h"
#include "core/version.h"
#include "data/token_store.h"
#include "eval/baseline_comparison.h"
#include "eval/calibration.h"
#include "eval/cascade.h"
#include "eval/dataset.h"
#include "eval/example_run.h"
#include "eval/eval_model.h"
#include "eval/label_scoring.h"
#include "eval/metrics.h"
#include "generate/text_generation.h"
#include "model/decoder.h"
#include "report/eval_schema.h"
#include "report/table.h"
#include "text/sha256.h"
#include "text/tokenizer.h"

namespace hone {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const char* eval_method_name(EvalMethod method) {
  switch (method) {
    case EvalMethod::kScore: return "score";
    case EvalMethod::kGenerate: return "generate";
    case EvalMethod::kBoth: return "both";
  }
  return "";
}

const char* label_scoring_name(LabelScoring scoring) {
  return scoring == LabelScoring::kExhaustive ? "exhaustive" : "pruned";
}

namespace {

namespace k = eval_report;
using Clock = std::chrono::steady_clock;

ordered_json number_or_null(std::optional<double> v) { return v ? ordered_json(*v) : ordered_json(nullptr); }

struct ModelReport {
  ordered_json row;                       // the model's row of the report (eval_schema.h)
  std::vector<ordered_json> predictions;  // per example
};

// One model on an example set (and on the calibration split, where there is one). The encoder and
// the run stay alive for a cascade, which scores with them again.
struct ExampleEval {
  std::unique_ptr<ExampleEncoder> enc;
  std::unique_ptr<ExampleRun> run;
  SelectiveResult selective;
  ModelReport rep;
};

// The row's confidence: by scoring where it ran (over two labels or more), else by generation.
// Sets each prediction's `confidence`; null where none was measured.
ordered_json add_confidence(const EvalOptions& o, const EvalDataset* cal_d, ExampleEval& ev) {
  ExampleRun& run = *ev.run;
  if (!run.rankings.empty() && o.score_top >= 2) {
    std::optional<CalibrationSet> cal;
    if (cal_d) {
      ExampleRun cal_run(*cal_d, run.lm, *ev.enc);
      spdlog::info("{}: scoring the {} split to calibrate on", run.lm.name, o.calibration_split);
      score_examples(o, cal_run, /*timed=*/false);
      cal = CalibrationSet{cal_d->source, o.calibration_split, std::move(cal_run.rankings), cal_run.gold_label};
    }
    ev.selective = classification_selective(o, run.rankings, run.gold_label, cal ? &*cal : nullptr);
  } else if (!run.classification && !run.gen_logprob.empty()) {
    ev.selective = generation_selective(o, run.gen_logprob, run.gen_correct);
  } else {
    return nullptr;
  }
  for (std::size_t i = 0; i < run.preds.size(); ++i) {
    const double c = ev.selective.confidence[i];
    if (std::isfinite(c)) run.preds[i]["confidence"] = c;
  }
  return ev.selective.json;
}

ExampleEval evaluate_examples(const EvalOptions& o, const EvalDataset& d, const EvalDataset* cal_d, const LoadedModel& lm) {
  ExampleEval ev;
  ev.enc = std::make_unique<ExampleEncoder>(*lm.lm.tokenizer);
  ev.run = std::make_unique<ExampleRun>(d, lm, *ev.enc);
  ExampleRun& run = *ev.run;
  const bool do_score = run.classification && o.method != EvalMethod::kGenerate;
  const bool do_generate = !run.classification || o.method != EvalMethod::kScore;
  std::optional<ClassificationMetrics> scored, generated;
  if (do_score) scored = score_examples(o, run, /*timed=*/!do_generate);
  std::optional<GenerationMetrics> gen;
  if (do_generate) {
    gen = generate_examples(o, run);
    generated = gen->classification;
  }

  ordered_json& row = ev.rep.row;
  if (gen) row[k::kGenerateExamples] = gen->examples;
  const ClassificationMetrics* main = scored ? &*scored : generated ? &*generated : nullptr;
  auto metric = [](const ClassificationMetrics* m, double ClassificationMetrics::*field) {
    return m ? ordered_json(m->*field) : ordered_json(nullptr);
  };
  const ClassificationMetrics* by_score = scored ? &*scored : nullptr;
  const ClassificationMetrics* by_generation = generated ? &*generated : nullptr;
  row[k::kName] = lm.name;
  row[k::kParams] = lm.params;
  row[k::kAdapterParams] = lm.adapter_params;
  row[k::kBytes] = lm.bytes;
  row[k::kAccuracy] = metric(main, &ClassificationMetrics::accuracy);
  row[k::kMacroF1] = metric(main, &ClassificationMetrics::macro_f1);
  row[k::kAccuracyMethod] = scored      ? eval_method_name(EvalMethod::kScore)
                            : generated ? eval_method_name(EvalMethod::kGenerate)
                                        : "";
  row[k::kScoreAccuracy] = metric(by_score, &ClassificationMetrics::accuracy);
  row[k::kScoreMacroF1] = metric(by_score, &ClassificationMetrics::macro_f1);
  row[k::kGenerateAccuracy] = metric(by_generation, &ClassificationMetrics::accuracy);
  row[k::kGenerateMacroF1] = metric(by_generation, &ClassificationMetrics::macro_f1);
  row[k::kExactMatch] = number_or_null(gen ? std::optional(gen->exact) : std::nullopt);
  row[k::kNormalizedMatch] = number_or_null(gen ? std::optional(gen->normalised) : std::nullopt);
  row[k::kFormatValidity] = number_or_null(gen ? gen->validity : std::nullopt);
  row[k::kLatencyMsMean] = mean(run.latency_ms);
  row[k::kLatencyMsP50] = percentile(run.latency_ms, 0.5);
  row[k::kLatencyMsP95] = percentile(run.latency_ms, 0.95);
  row[k::kLatencyMethod] = do_generate ? "generate (greedy, batch 1, KV cache)" : fmt::format("score (batch {}, per example)", o.batch_size);
  row[k::kTokensPerS] = run.seconds > 0 ? static_cast<double>(run.tokens) / run.seconds : 0.0;
  row[k::kSeconds] = run.seconds;
  if (main) {
    ordered_json c = ordered_json::array();
    for (const auto& [g, p, n] : main->confused)
      c.push_back({{k::kConfusedGold, g}, {k::kConfusedPredicted, p}, {k::kConfusedCount, n}});
    row[k::kMostConfused] = c;
    ordered_json f1 = ordered_json::object();
    for (const std::string& label : d.labels) f1[label] = main->f1.count(label) ? main->f1.at(label) : 0.0;
    row[k::kLabelF1] = f1;
  }
  row[k::kSelective] = add_confidence(o, cal_d, ev);
  ev.rep.predictions = run.preds;
  return ev;
}

// ---------------------------------------------------------------------------- token stores

// The sequences of the split evaluated: the first --limit, else all.
std::int64_t store_sequences(const EvalOptions& o, const data::TokenSplit& split) {
  HONE_CHECK(o.sample == 0, UsageError, "--sample applies to example sets; use --limit with a token store");
  return o.limit > 0 ? std::min(split.sequences(), o.limit) : split.sequences();
}

// The report's data_hash of a token store (eval_schema.h): its evaluated sequences' tokens.
std::string store_hash(const EvalOptions& o, const data::TokenStore& store) {
  const data::TokenSplit& split = data::require_split(store, o.data, o.split);
  const std::int64_t n = store_sequences(o, split);
  Sha256 h;
  h.update("hone-eval-store\n");
  for (std::int64_t s = 0; s < n; ++s) {
    const std::int64_t t0 = split.example_offsets[split.sequence_offsets[s]];
    const std::int64_t t1 = split.example_offsets[split.sequence_offsets[s + 1]];
    const std::uint64_t len = static_cast<std::uint64_t>(t1 - t0);
    h.update(&len, sizeof len);
    h.update(split.input_ids.data() + t0, len * sizeof(std::int32_t));
    h.update(split.loss_mask.data() + t0, len);
  }
  return h.hex_digest();
}

// The report's data_hash of an example set (eval_schema.h): its evaluated records' canonical lines.
std::string examples_hash(const EvalDataset& d) {
  Sha256 h;
  h.update("hone-eval-examples\n");
  for (const EvalRecord& r : d.records) {
    h.update(r.line);
    h.update("\n");
  }
  return h.hex_digest();
}

ModelReport evaluate_store(const EvalOptions& o, const data::TokenStore& store, const LoadedModel& lm) {
  data::check_tokenizer(store, o.data, *lm.lm.tokenizer, lm.name);
  const data::TokenSplit& split = data::require_split(store, o.data, o.split);
  const std::int64_t n = store_sequences(o, split);
  const Decoder& model = *lm.lm.decoder;
  double loss_sum = 0;
  std::int64_t loss_tokens = 0, tokens = 0;
  std::vector<double> latency_ms;
  const auto t0 = Clock::now();
  for (std::int64_t s = 0; s < n; s += o.batch_size) {
    std::vector<std::int64_t> seqs;
    for (std::int64_t i = s; i < std::min(n, s + o.batch_size); ++i) seqs.push_back(i);
    const auto tb = Clock::now();
    const Batch b = make_batch(split, seqs, model.device());
    if (b.loss_tokens == 0) continue;
    loss_sum += cross_entropy_sum(model, b, /*checkpoint_layers=*/false, /*chunk=*/1024).item<double>();
    loss_tokens += b.loss_tokens;
    tokens += b.tokens;
    latency_ms.push_back(seconds_since(tb) * 1000.0 / static_cast<double>(seqs.size()));
  }
  const double seconds = seconds_since(t0);
  ModelReport rep;
  const double mean = loss_tokens ? loss_sum / static_cast<double>(loss_tokens) : 0.0;
  rep.row = {{k::kName, lm.name},
             {k::kParams, lm.params},
             {k::kAdapterParams, lm.adapter_params},
             {k::kBytes, lm.bytes},
             {k::kMeanLoss, mean},
             {k::kPerplexity, std::exp(mean)},
             {k::kLossTokens, loss_tokens},
             {k::kLatencyMsP50, percentile(latency_ms, 0.5)},
             {k::kLatencyMsP95, percentile(latency_ms, 0.95)},
             {k::kLatencyMethod, fmt::format("forward (batch {}, per sequence)", o.batch_size)},
             {k::kTokensPerS, seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0},
             {k::kSeconds, seconds}};
  return rep;
}

// ---------------------------------------------------------------------------- output

// The models' confidence (where measured) and the cascade, under the main table.
std::string confidence_markdown(const ordered_json& report) {
  auto num = [](const ordered_json& m, const char* key) { return json_number(m, key); };
  Table t{{"model", "confidence", "temperature", "ECE", "ECE calibrated", "AURC", "AURC calibrated", "threshold",
           "coverage", "accuracy kept"},
          {}};
  for (const auto& m : report[k::kModels]) {
    if (!m.contains(k::kSelective) || !m[k::kSelective].is_object()) continue;
    const ordered_json& s = m[k::kSelective];
    const ordered_json& th = s[k::kSelectiveThreshold];
    const bool has = th.is_object();
    t.rows.push_back({m[k::kName].get<std::string>(), s[k::kConfidence].get<std::string>(),
                      format_fixed(num(s, k::kTemperature), 3), format_fixed(num(s, k::kEce), 4),
                      format_fixed(num(s, k::kEceCalibrated), 4), format_fixed(num(s, k::kAurc), 4),
                      format_fixed(num(s, k::kAurcCalibrated), 4),
                      has ? fmt::format("{:.4f} ({})", th[k::kThresholdValue].get<double>(), th[k::kChosenOn].get<std::string>()) : "-",
                      has ? format_percent(num(th, k::kCoverage)) : "-", has ? format_percent(num(th, k::kAccuracy)) : "-"});
  }
  std::string md = t.rows.empty() ? "" : "\n" + t.markdown();
  if (report.contains(k::kCascade)) {
    const ordered_json& c = report[k::kCascade];
    md += fmt::format("\nCascade {}: threshold {:.4f}{}, {} deferred; accuracy {} ({:+.1f} points against {} alone), "
                      "{:.2f} ms per query ({:.2f}x {}'s).\n",
                      c[k::kName].get<std::string>(), num(c, k::kThresholdValue),
                      c[k::kChosenOn].get<std::string>().empty() ? "" : " (chosen on " + c[k::kChosenOn].get<std::string>() + ")",
                      format_percent(num(c, k::kDeferred)), format_percent(num(c, k::kAccuracy)),
                      100 * num(c, k::kAccuracyGap), c[k::kCascadeSecond].get<std::string>(), num(c, k::kLatencyMsMean),
                      num(c, k::kLatencyRatio), c[k::kCascadeSecond].get<std::string>());
  }
  return md;
}

// The report's models as a markdown table, with the columns of its task.
std::string markdown(const ordered_json& report) {
  const std::string task = report[k::kTask];
  auto num = [](const ordered_json& m, const char* key) { return json_number(m, key); };
  auto params = [](const ordered_json& m) { return fmt::format("{}", m[k::kParams].get<std::int64_t>()); };
  Table t;
  if (task == k::kTaskPerplexity)
    t.header = {"model", "mean loss", "perplexity", "ms/seq p50", "tokens/s", "params", "MiB"};
  else if (task == k::kTaskClassification)
    t.header = {"model", "accuracy", "macro-F1", "generate acc.", "format validity", "ms p50", "ms p95", "params", "MiB"};
  else
    t.header = {"model", "exact match", "normalised match", "format validity", "ms p50", "ms p95", "tokens/s", "params"};
  for (const auto& m : report[k::kModels]) {
    const std::string name = m[k::kName].get<std::string>();
    if (task == k::kTaskPerplexity)
      t.rows.push_back({name, format_fixed(num(m, k::kMeanLoss), 4), format_fixed(num(m, k::kPerplexity), 3),
                        format_fixed(num(m, k::kLatencyMsP50), 1), format_fixed(num(m, k::kTokensPerS), 0), params(m),
                        format_mib(num(m, k::kBytes))});
    else if (task == k::kTaskClassification)
      t.rows.push_back({name, format_percent(num(m, k::kAccuracy)), format_fixed(num(m, k::kMacroF1), 4),
                        format_percent(num(m, k::kGenerateAccuracy)), format_percent(num(m, k::kFormatValidity)),
                        format_fixed(num(m, k::kLatencyMsP50), 1), format_fixed(num(m, k::kLatencyMsP95), 1), params(m),
                        format_mib(num(m, k::kBytes))});
    else
      t.rows.push_back({name, format_percent(num(m, k::kExactMatch)), format_percent(num(m, k::kNormalizedMatch)),
                        format_percent(num(m, k::kFormatValidity)), format_fixed(num(m, k::kLatencyMsP50), 1),
                        format_fixed(num(m, k::kLatencyMsP95), 1), format_fixed(num(m, k::kTokensPerS), 0), params(m)});
  }
  if (report.contains(k::kCascade)) {
    const ordered_json& c = report[k::kCascade];
    t.rows.push_back({c[k::kName].get<std::string>() + " (cascade)", format_percent(num(c, k::kAccuracy)),
                      format_fixed(num(c, k::kMacroF1), 4), "-", "-", format_fixed(num(c, k::kLatencyMsP50), 1),
                      format_fixed(num(c, k::kLatencyMsP95), 1), "-", "-"});
  }
  return t.markdown() + confidence_markdown(report);
}

void check_options(const EvalOptions& o) {
  HONE_CHECK(!o.models.empty(), UsageError, "no --model to evaluate");
  HONE_CHECK(o.score_per_round > 0, UsageError, "--score-per-round must be positive");
  HONE_CHECK(o.score_top > 0, UsageError, "--score-top must be positive, got {}", o.score_top);
  HONE_CHECK(o.batch_size > 0, UsageError, "--batch-size must be positive");
  HONE_CHECK(o.sample >= 0 && o.limit >= 0 && (o.sample == 0 || o.limit == 0), UsageError,
             "give --limit N (the first N examples) or --sample N (N evenly spaced examples), not both");
  HONE_CHECK(o.target_accuracy >= 0 && o.target_accuracy <= 1, UsageError,
             "--target-accuracy must be in (0, 1], got {}", o.target_accuracy);
  const bool confidence = o.calibrate || o.cascade || o.target_accuracy > 0;
  HONE_CHECK(!confidence || o.score_top >= 2 || o.method == EvalMethod::kGenerate, UsageError,
             Hint{"--score-top 2 or more: the confidence is normalised over the top labels"},
             "--calibrate, --cascade and --target-accuracy need --score-top 2 or more, got {}", o.score_top);
  if (!o.cascade) {
    HONE_CHECK(!o.threshold, UsageError, "--threshold applies to --cascade");
    return;
  }
  HONE_CHECK(o.models.size() == 2, UsageError, Hint{"-m FIRST [--adapter A] -m SECOND [--adapter B] --cascade"},
             "--cascade takes exactly two models (the first answers, the second takes what it defers), got {}",
             o.models.size());
  HONE_CHECK(o.method == EvalMethod::kScore, UsageError, Hint{"add --method score"},
             "--cascade routes by the scored labels' confidence: give --method score");
  HONE_CHECK(o.threshold || o.target_accuracy > 0, UsageError,
             Hint{"--threshold T, or --threshold auto with --target-accuracy A (chosen on the calibration split)"},
             "--cascade needs a threshold");
  HONE_CHECK(!o.threshold || (*o.threshold >= 0 && *o.threshold <= 1), UsageError,
             "--threshold must be in [0, 1] (a probability), got {}", *o.threshold);
}

// The calibration split's examples, where --calibrate or a cascade's threshold needs them. Never the
// evaluated examples themselves.
std::optional<EvalDataset> calibration_dataset(const EvalOptions& o) {
  if (!o.calibrate && !(o.cascade && !o.threshold)) return std::nullopt;
  const fs::path data = o.calibration_data.empty() ? o.data : o.calibration_data;
  std::error_code ec;
  HONE_CHECK(fs::is_directory(data, ec) || !o.calibration_data.empty(), UsageError,
             Hint{"give --calibration-data FILE.jsonl (or evaluate an ingested directory, which has a valid split)"},
             "{} is a file: there is no '{}' split to calibrate on", data.string(), o.calibration_split);
  HONE_CHECK(!(fs::equivalent(data, o.data, ec) && o.calibration_split == o.split), UsageError,
             Hint{"calibrate on another split (--calibration-split valid) or --calibration-data"},
             "the calibration split '{}' of {} is the evaluated one: the temperature and threshold would be "
             "chosen on the examples they are measured on", o.split, o.data.string());
  EvalDataset cal = read_eval_dataset(data, o.calibration_split, 0, 0);
  HONE_CHECK(!cal.labels.empty(), InputError, "{}: the '{}' split has no labels to calibrate on", cal.source,
             o.calibration_split);
  return cal;
}

// A cascade's row with its example's prompt and system message (from the first model's row of the
// same example) after its id, as every row of predictions.jsonl has them.
ordered_json with_prompt(const ordered_json& row, const ordered_json& example) {
  ordered_json out;
  for (const auto& [key, value] : row.items()) {
    out[key] = value;
    if (key != "id") continue;
    for (const char* k : {"prompt", "system"})
      if (example.contains(k)) out[k] = example[k];
  }
  return out;
}

// The report, then the predictions (JSON lines; beside the report unless --predictions names a
// file), then the JUnit file.
void write_outputs(const EvalOptions& o, const ordered_json& report, const std::vector<ordered_json>& predictions) {
  if (!o.report.empty()) {
    if (!o.report.parent_path().empty()) fs::create_directories(o.report.parent_path());
    write_file_atomic(o.report, report.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n");
  }
  fs::path pred_path = o.predictions;
  if (pred_path.empty() && !o.report.empty()) pred_path = o.report.parent_path() / "predictions.jsonl";
  if (!pred_path.empty() && !predictions.empty()) {
    std::string text;
    for (const auto& p : predictions) text += p.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
    write_file_atomic(pred_path, text);
  }
  if (!o.gate.junit.empty()) write_gate_junit(o.gate.junit, report);
}

}  // namespace

EvalResult run_eval(const EvalOptions& o) {
  check_options(o);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const Compute compute = resolve_compute(o.device, o.dtype, local_rank_from_environment());
  std::error_code ec;
  HONE_CHECK(fs::exists(o.data, ec), InputError, "{}: no such file or directory", o.data.string());
  const bool store_mode = !fs::is_directory(o.data, ec) && file_starts_with(o.data, "\x89HDF");

  ordered_json report = {{k::kHoneVersion, version_string()}, {k::kData, o.data.string()}, {k::kSplit, o.split}};
  std::optional<data::TokenStore> store;
  EvalDataset d;
  if (store_mode) {
    store = data::read_token_store(o.data);
    HONE_CHECK(!store->meta.preference, InputError,
               Hint{"evaluate the examples' store, or the ingested directory, instead"},
               "{}: a store of preference pairs; its perplexity would mix the chosen and the rejected answers",
               o.data.string());
    report[k::kTask] = k::kTaskPerplexity;
    report[k::kDataHash] = store_hash(o, *store);
  } else {
    d = read_eval_dataset(o.data, o.split, o.limit, o.sample);
    report[k::kTask] = d.labels.empty() ? k::kTaskGeneration : k::kTaskClassification;
    report[k::kExamples] = d.records.size();
    report[k::kSubset] = o.sample > 0 ? fmt::format("{} evenly spaced", o.sample)
                         : o.limit > 0 ? fmt::format("first {}", o.limit) : "all";
    if (!d.labels.empty()) {
      report[k::kLabels] = d.labels.size();
      report[k::kLabelNames] = d.labels;
      report[k::kMethod] = eval_method_name(o.method);
      report[k::kScoring] = label_scoring_name(o.scoring);
    }
    report[k::kDataHash] = examples_hash(d);
  }
  const Gate gate(o.gate, report);  // reads the baseline: a report of other examples stops here
  HONE_CHECK(!(o.calibrate || o.cascade) || (!store_mode && !d.labels.empty()), UsageError,
             Hint{"evaluate a classification set (an ingested directory whose examples all have labels)"},
             "--calibrate and --cascade apply to classification sets: they need every label's score");
  const std::optional<EvalDataset> cal = store_mode ? std::nullopt : calibration_dataset(o);
  if (cal)
    HONE_CHECK(cal->labels == d.labels, InputError, "{} has labels the evaluated set lacks (or lacks some it has)",
               cal->source);
  ordered_json models = ordered_json::array();
  std::vector<ordered_json> predictions;
  // A cascade keeps both models and their runs: it scores with them again.
  std::vector<std::unique_ptr<LoadedModel>> kept;
  std::vector<ExampleEval> evals;
  for (const EvalModel& m : o.models) {
    auto lm = std::make_unique<LoadedModel>(load_eval_model(m, compute.device, compute.dtype, o.chat_template));
    if (!o.gate.baseline.empty()) gate.baseline_row(lm->name);  // before measuring: a missing row stops here
    spdlog::info("evaluating {} ({} parameters)", lm->name, lm->params);
    c10::InferenceMode guard;
    ModelReport r;
    if (store_mode) {
      r = evaluate_store(o, *store, *lm);
    } else {
      evals.push_back(evaluate_examples(o, d, cal ? &*cal : nullptr, *lm));
      r = evals.back().rep;
      if (!o.cascade) evals.pop_back();
    }
    r.row[k::kModel] = m.model.string();
    r.row[k::kAdapter] = m.adapter.string();
    models.push_back(r.row);
    for (auto& p : r.predictions) predictions.push_back(std::move(p));
    if (o.cascade) kept.push_back(std::move(lm));
  }
  ordered_json cascade = nullptr;
  if (o.cascade) {
    c10::InferenceMode guard;
    const SelectiveResult& first = evals[0].selective;
    HONE_CHECK(o.threshold || first.threshold, InputError,
               Hint{"lower --target-accuracy, or give --threshold T"},
               "{} reaches accuracy {} at no confidence threshold on the {} split: nothing to route by",
               kept[0]->name, o.target_accuracy, first.chosen_on);
    const double threshold = o.threshold ? *o.threshold : *first.threshold;
    CascadeResult c = run_cascade(o, *evals[0].run, first.confidence, *evals[1].run, threshold,
                                  o.threshold ? "" : first.chosen_on);
    cascade = c.json;
    for (std::size_t i = 0; i < c.predictions.size(); ++i)
      predictions.push_back(with_prompt(c.predictions[i], evals[0].run->preds[i]));
  }
  report[k::kDtype] = compute_type_name(compute.dtype);  // what was computed in (--dtype fast and auto resolved)
  report[k::kModels] = models;
  if (!cascade.is_null()) report[k::kCascade] = cascade;
  // Each row paired with its baseline row example by example (informational; no gate reads it).
  const std::string compared = add_baseline_comparisons(gate, o.gate.baseline, report, predictions);
  GateResult checked = gate.check(report);
  if (o.gate.any()) report[k::kGate] = checked.json;
  write_outputs(o, report, predictions);
  return {markdown(report) + compared + checked.markdown, std::move(checked)};
}

}  // namespace hone
