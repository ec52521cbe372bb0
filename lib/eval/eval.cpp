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
#include "eval/dataset.h"
#include "eval/label_scoring.h"
#include "eval/metrics.h"
#include "generate/text_generation.h"
#include "model/decoder.h"
#include "report/eval_schema.h"
#include "report/table.h"
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

// ---------------------------------------------------------------------------- models

struct LoadedModel {
  LanguageModel lm;
  std::string name;
  std::int64_t params = 0, adapter_params = 0;
  std::uint64_t bytes = 0;
};

// An adapter's size on disk: its weights and config only (a lora-train run directory also holds
// best/, checkpoints/ and metrics, which serving does not need).
std::uint64_t adapter_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})  // what read_lora_adapter reads
    if (fs::is_regular_file(dir / f, ec)) n += fs::file_size(dir / f, ec);
  return n;
}

std::string default_name(const EvalModel& m) {
  if (!m.name.empty()) return m.name;
  std::string s = m.model.filename().string();
  if (!m.adapter.empty()) s += "+" + m.adapter.filename().string();
  return s;
}

// The chat template that renders its prompts: --chat-template, else the one the adapter's training
// data were rendered with, else the model's own.
LoadedModel load(const EvalModel& m, c10::Device device, c10::ScalarType dtype, const fs::path& chat_template) {
  LoadedModel out;
  LoadOptions lo;
  lo.device = device;
  lo.dtype = dtype;
  out.lm = load_language_model(m.model, lo);
  out.name = default_name(m);
  out.params = out.lm.decoder->config().parameter_count();
  out.bytes = disk_usage(m.model);
  const LoraAdapter a = apply_adapter(out.lm, m.adapter, chat_template, m.model.string());
  if (!m.adapter.empty()) {
    out.adapter_params = a.parameter_count();
    out.bytes += adapter_bytes(m.adapter);
  }
  if (out.lm.decoder->pack_for_cpu_inference()) spdlog::debug("{}: weights packed for oneDNN", out.name);
  return out;
}

// ---------------------------------------------------------------------------- example sets

// One model's run over the examples: the per-example predictions (predictions.jsonl) and what the
// speed columns are made of.
struct ExampleRun {
  const EvalDataset& d;
  const LoadedModel& lm;
  bool classification;
  std::vector<EncodedExample> examples;
  std::vector<std::string> gold;        // per example: its label, or its reference answer
  std::vector<ordered_json> preds;      // per example
  std::vector<double> latency_ms;       // per example (scoring: the batch's time per example)
  std::int64_t tokens = 0;              // prompt and answer tokens through the model
  double seconds = 0;

  ExampleRun(const EvalDataset& dataset, const LoadedModel& model, const ExampleEncoder& enc)
      : d(dataset), lm(model), classification(!dataset.labels.empty()) {
    for (const EvalRecord& r : d.records) {
      examples.push_back(enc.encode(r.line, r.where));
      gold.push_back(classification ? r.label : r.target);
      preds.push_back({{"model", lm.name}, {"id", r.id}, {"gold", r.target}});
    }
  }
  std::int64_t size() const { return static_cast<std::int64_t>(examples.size()); }
};

// Constrained scoring of every example, `o.batch_size` prompts per pass. `timed`: scoring's time per
// example is the latency reported (no generation ran).
ClassificationMetrics score_examples(const EvalOptions& o, const ExampleEncoder& enc, ExampleRun& run, bool timed) {
  const EvalDataset& d = run.d;
  const LabelTrie trie(enc.label_answers(d.records[0], d.labels), d.labels);
  const std::int64_t N = run.size();
  spdlog::info("{}: scoring {} labels ({} answer tokens, {} fed per example) on {} examples", run.lm.name,
               d.labels.size(), trie.pair_token.size(), trie.internal.size(), N);
  std::map<std::string, std::int64_t> label_index;
  for (const std::string& label : d.labels) label_index.emplace(label, static_cast<std::int64_t>(label_index.size()));
  std::vector<std::string> pred(static_cast<std::size_t>(N));
  const std::int64_t top_k = std::min<std::int64_t>(o.score_top, trie.label_count());
  std::int64_t fed = 0;
  const auto t0 = Clock::now();
  for (std::int64_t s = 0; s < N; s += o.batch_size) {
    const std::int64_t e = std::min(N, s + o.batch_size);
    PromptBatch prompts;
    std::vector<std::int64_t> gold_index;
    for (std::int64_t i = s; i < e; ++i) {
      prompts.push_back(&run.examples[i].prompt);
      gold_index.push_back(label_index.at(run.gold[i]));
    }
    const auto tb = Clock::now();
    const Decoder& model = *run.lm.lm.decoder;
    const std::vector<LabelRanking> found =
        o.scoring == LabelScoring::kExhaustive ? rank_all_labels(model, trie, prompts, gold_index, top_k)
                                               : search_labels(model, trie, prompts, gold_index, top_k, o.score_per_round);
    const double per = seconds_since(tb) * 1000.0 / static_cast<double>(e - s);
    for (std::int64_t i = s; i < e; ++i) {
      const LabelRanking& r = found[i - s];
      ordered_json tops = ordered_json::array();
      for (const auto& [score, label] : r.top) tops.push_back({d.labels[label], score});
      pred[i] = d.labels[r.top.front().second];
      run.preds[i]["scored"] = pred[i];
      run.preds[i]["scored_top"] = tops;
      run.preds[i]["gold_logprob"] = r.gold;
      run.preds[i]["scored_correct"] = pred[i] == run.gold[i];
      if (timed) run.latency_ms.push_back(per);
      run.tokens += static_cast<std::int64_t>(run.examples[i].prompt.size()) + r.fed;
      fed += r.fed;
    }
    spdlog::debug("{}: scored {}/{}", run.lm.name, e, N);
  }
  spdlog::info("{}: {} scoring fed {:.1f} tree nodes per example (of {})", run.lm.name, label_scoring_name(o.scoring),
               static_cast<double>(fed) / static_cast<double>(std::max<std::int64_t>(1, N)), trie.internal.size());
  run.seconds += seconds_since(t0);
  return classification_metrics(run.gold, pred);
}

// What greedy generation measured (validity only where a format was asked for or labels give one).
struct GenerationMetrics {
  std::int64_t examples = 0;
  double exact = 0, normalised = 0;
  std::optional<double> validity;
  std::optional<ClassificationMetrics> classification;
};

// --max-new-tokens, else the longest label + 2 tokens, else 64.
std::int64_t generation_length(const EvalOptions& o, const EvalDataset& d, const Tokenizer& tok) {
  if (o.max_new_tokens > 0) return o.max_new_tokens;
  if (d.labels.empty()) return 64;
  std::size_t longest = 0;
  for (const auto& l : d.labels) longest = std::max(longest, tok.encode(l, false, false).size());
  return static_cast<std::int64_t>(longest) + 2;
}

std::optional<std::regex> format_regex(const EvalOptions& o) {
  if (o.format_regex.empty()) return std::nullopt;
  try {
    return std::regex(o.format_regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    HONE_THROW(UsageError, "--format-regex '{}' is not a valid regular expression: {}", o.format_regex, e.what());
  }
}

// Greedy generation for every example, or for --generate-sample of them (evenly spaced); the
// output (trimmed) is compared with the gold answer.
GenerationMetrics generate_examples(const EvalOptions& o, ExampleRun& run) {
  const bool classification = run.classification;
  const std::optional<std::regex> re = format_regex(o);
  const bool validated = classification || o.format_json || re;
  const std::set<std::string> label_set(run.d.labels.begin(), run.d.labels.end());
  TextGenerationOptions g;
  g.max_new_tokens = generation_length(o, run.d, *run.lm.lm.tokenizer);
  const std::int64_t N = run.size();
  const std::int64_t G = o.generate_sample > 0 ? std::min(o.generate_sample, N) : N;
  std::vector<std::string> pred, gen_gold;
  std::int64_t valid = 0, em = 0, nm = 0;
  const auto t0 = Clock::now();
  for (std::int64_t j = 0; j < G; ++j) {
    const std::int64_t i = j * N / G;
    const auto tb = Clock::now();
    const TextGenerationResult r = generate_text(run.lm.lm, run.examples[i].prompt, g);
    run.latency_ms.push_back(seconds_since(tb) * 1000.0);
    run.tokens += r.prompt_tokens + static_cast<std::int64_t>(r.tokens.size());
    const std::string out = trim(r.text);
    const std::string& gold = run.gold[i];
    pred.push_back(out);
    gen_gold.push_back(gold);
    bool ok = true;
    if (classification) ok = label_set.count(out) != 0;
    else if (o.format_json) ok = !json::parse(out, nullptr, false).is_discarded();
    else if (re) ok = std::regex_match(out, *re);
    valid += ok;
    em += out == trim(gold);
    nm += normalise(out) == normalise(gold);
    ordered_json& p = run.preds[i];
    p["generated"] = r.text;
    p["generated_correct"] = out == trim(gold);
    if (validated) p["valid"] = ok;
    p["latency_ms"] = run.latency_ms.back();
    if (pred.size() % 100 == 0) spdlog::debug("{}: generated {}/{}", run.lm.name, pred.size(), G);
  }
  run.seconds += seconds_since(t0);
  GenerationMetrics m;
  m.examples = G;
  const auto n = static_cast<double>(G);
  m.exact = static_cast<double>(em) / n;
  m.normalised = static_cast<double>(nm) / n;
  if (validated) m.validity = static_cast<double>(valid) / n;
  if (classification) m.classification = classification_metrics(gen_gold, pred);
  return m;
}

ordered_json number_or_null(std::optional<double> v) { return v ? ordered_json(*v) : ordered_json(nullptr); }

struct ModelReport {
  ordered_json row;                       // the model's row of the report (eval_schema.h)
  std::vector<ordered_json> predictions;  // per example
};

ModelReport evaluate_examples(const EvalOptions& o, const EvalDataset& d, const LoadedModel& lm) {
  const ExampleEncoder enc(*lm.lm.tokenizer);
  ExampleRun run(d, lm, enc);
  const bool do_score = run.classification && o.method != EvalMethod::kGenerate;
  const bool do_generate = !run.classification || o.method != EvalMethod::kScore;
  std::optional<ClassificationMetrics> scored, generated;
  if (do_score) scored = score_examples(o, enc, run, /*timed=*/!do_generate);
  std::optional<GenerationMetrics> gen;
  if (do_generate) {
    gen = generate_examples(o, run);
    generated = gen->classification;
  }

  ModelReport rep;
  ordered_json& row = rep.row;
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
  }
  rep.predictions = std::move(run.preds);
  return rep;
}

// ---------------------------------------------------------------------------- token stores

ModelReport evaluate_store(const EvalOptions& o, const data::TokenStore& store, const LoadedModel& lm) {
  data::check_tokenizer(store, o.data, *lm.lm.tokenizer, lm.name);
  const data::TokenSplit& split = data::require_split(store, o.data, o.split);
  std::int64_t n = split.sequences();
  if (o.limit > 0) n = std::min(n, o.limit);
  HONE_CHECK(o.sample == 0, UsageError, "--sample applies to example sets; use --limit with a token store");
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
  return t.markdown();
}

void check_options(const EvalOptions& o) {
  HONE_CHECK(!o.models.empty(), UsageError, "no --model to evaluate");
  HONE_CHECK(o.score_per_round > 0, UsageError, "--score-per-round must be positive");
  HONE_CHECK(o.score_top > 0, UsageError, "--score-top must be positive, got {}", o.score_top);
  HONE_CHECK(o.batch_size > 0, UsageError, "--batch-size must be positive");
  HONE_CHECK(o.sample >= 0 && o.limit >= 0 && (o.sample == 0 || o.limit == 0), UsageError,
             "give --limit N (the first N examples) or --sample N (N evenly spaced examples), not both");
}

// The report, then the predictions (JSON lines; beside the report unless --predictions names a file).
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
}

}  // namespace

std::string run_eval(const EvalOptions& o) {
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
    report[k::kTask] = k::kTaskPerplexity;
  } else {
    d = read_eval_dataset(o.data, o.split, o.limit, o.sample);
    report[k::kTask] = d.labels.empty() ? k::kTaskGeneration : k::kTaskClassification;
    report[k::kExamples] = d.records.size();
    report[k::kSubset] = o.sample > 0 ? fmt::format("{} evenly spaced", o.sample)
                         : o.limit > 0 ? fmt::format("first {}", o.limit) : "all";
    if (!d.labels.empty()) {
      report[k::kLabels] = d.labels.size();
      report[k::kMethod] = eval_method_name(o.method);
      report[k::kScoring] = label_scoring_name(o.scoring);
    }
  }
  ordered_json models = ordered_json::array();
  std::vector<ordered_json> predictions;
  for (const EvalModel& m : o.models) {
    LoadedModel lm = load(m, compute.device, compute.dtype, o.chat_template);
    spdlog::info("evaluating {} ({} parameters)", lm.name, lm.params);
    c10::InferenceMode guard;
    ModelReport r = store_mode ? evaluate_store(o, *store, lm) : evaluate_examples(o, d, lm);
    r.row[k::kModel] = m.model.string();
    r.row[k::kAdapter] = m.adapter.string();
    models.push_back(r.row);
    for (auto& p : r.predictions) predictions.push_back(std::move(p));
  }
  report[k::kDtype] = compute_type_name(compute.dtype);  // what was computed in (--dtype fast and auto resolved)
  report[k::kModels] = models;
  write_outputs(o, report, predictions);
  return markdown(report);
}

}  // namespace hone
