#include "eval/example_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/measure.h"
#include "generate/text_generation.h"
#include "model/decoder.h"

namespace hone {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

using Clock = std::chrono::steady_clock;

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

// The row of predictions.jsonl that an example starts with: the model, the id, the example's prompt
// and system message exactly as its canonical record holds them (what `hone ingest --format
// corrections` reads back), and the gold answer. A completion record's prompt is its `prompt`, its
// system message its `system`; a chat record's prompt is its last user turn (the one the answer
// replies to), its system message its system turn. No `system` where the record has none.
ordered_json prediction_row(const std::string& model, const EvalRecord& r) {
  const json j = json::parse(r.line);
  std::string prompt;
  std::optional<std::string> system;
  if (j.contains("messages") && j["messages"].is_array()) {
    for (const json& m : j["messages"]) {
      const std::string role = m.value("role", "");
      if (role == "user") prompt = m.value("content", "");
      if (role == "system" && !system) system = m.value("content", "");
    }
  } else {
    prompt = j.value("prompt", "");
    if (j.contains("system") && j["system"].is_string()) system = j["system"].get<std::string>();
  }
  ordered_json row = {{"model", model}, {"id", r.id}, {"prompt", prompt}};
  if (system) row["system"] = *system;
  row["gold"] = r.target;
  return row;
}

}  // namespace

ExampleRun::ExampleRun(const EvalDataset& dataset, const LoadedModel& model, const ExampleEncoder& encoder)
    : d(dataset), lm(model), enc(encoder), classification(!dataset.labels.empty()) {
  std::map<std::string, std::int64_t> label_index;
  for (const std::string& label : d.labels) label_index.emplace(label, static_cast<std::int64_t>(label_index.size()));
  for (const EvalRecord& r : d.records) {
    examples.push_back(enc.encode(r.line, r.where));
    gold.push_back(classification ? r.label : r.target);
    if (classification) gold_label.push_back(label_index.at(r.label));
    preds.push_back(prediction_row(lm.name, r));
  }
}

std::vector<LabelRanking> score_subset(const EvalOptions& o, ExampleRun& run, const std::vector<std::int64_t>& indices,
                                       std::vector<double>& ms) {
  if (!run.trie) run.trie.emplace(run.enc.label_answers(run.d.records[0], run.d.labels), run.d.labels);
  const LabelTrie& trie = *run.trie;
  const auto n = static_cast<std::int64_t>(indices.size());
  const std::int64_t top_k = std::min<std::int64_t>(o.score_top, trie.label_count());
  std::vector<LabelRanking> out;
  for (std::int64_t s = 0; s < n; s += o.batch_size) {
    const std::int64_t e = std::min(n, s + o.batch_size);
    PromptBatch prompts;
    std::vector<std::int64_t> gold;
    for (std::int64_t j = s; j < e; ++j) {
      prompts.push_back(&run.examples[indices[j]].prompt);
      gold.push_back(run.gold_label[indices[j]]);
    }
    const auto tb = Clock::now();
    std::vector<LabelRanking> found = rank_labels(*run.lm.lm.decoder, trie, prompts, gold, top_k,
                                                  o.scoring == LabelScoring::kExhaustive, o.score_per_round);
    const double per = seconds_since(tb) * 1000.0 / static_cast<double>(e - s);
    for (auto& r : found) {
      ms.push_back(per);
      out.push_back(std::move(r));
    }
    spdlog::debug("{}: scored {}/{}", run.lm.name, e, n);
  }
  return out;
}

ClassificationMetrics score_examples(const EvalOptions& o, ExampleRun& run, bool timed) {
  const EvalDataset& d = run.d;
  const std::int64_t N = run.size();
  std::vector<std::int64_t> all(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) all[i] = i;
  if (!run.trie) run.trie.emplace(run.enc.label_answers(d.records[0], d.labels), d.labels);
  spdlog::info("{}: scoring {} labels ({} answer tokens, {} fed per example) on {} examples", run.lm.name,
               d.labels.size(), run.trie->pair_token.size(), run.trie->internal.size(), N);
  const auto t0 = Clock::now();
  run.score_ms.clear();
  run.rankings = score_subset(o, run, all, run.score_ms);
  std::vector<std::string> pred(static_cast<std::size_t>(N));
  std::int64_t fed = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const LabelRanking& r = run.rankings[i];
    ordered_json tops = ordered_json::array();
    for (const auto& [score, label] : r.top) tops.push_back({d.labels[label], score});
    pred[i] = d.labels[r.top.front().second];
    run.preds[i]["scored"] = pred[i];
    run.preds[i]["scored_top"] = tops;
    run.preds[i]["gold_logprob"] = r.gold;
    run.preds[i]["scored_correct"] = pred[i] == run.gold[i];
    if (timed) run.latency_ms.push_back(run.score_ms[i]);
    run.tokens += static_cast<std::int64_t>(run.examples[i].prompt.size()) + r.fed;
    fed += r.fed;
  }
  spdlog::info("{}: {} scoring fed {:.1f} tree nodes per example (of {})", run.lm.name, label_scoring_name(o.scoring),
               static_cast<double>(fed) / static_cast<double>(std::max<std::int64_t>(1, N)), run.trie->internal.size());
  run.seconds += seconds_since(t0);
  return classification_metrics(run.gold, pred);
}

GenerationMetrics generate_examples(const EvalOptions& o, ExampleRun& run) {
  const bool classification = run.classification;
  const std::optional<std::regex> re = format_regex(o);
  const bool validated = classification || o.format_json || re;
  const std::set<std::string> label_set(run.d.labels.begin(), run.d.labels.end());
  TextGenerationOptions g;
  g.max_new_tokens = generation_length(o, run.d, *run.lm.lm.tokenizer);
  const std::int64_t N = run.size();
  const std::int64_t G = o.generate_sample > 0 ? std::min(o.generate_sample, N) : N;
  run.gen_logprob.assign(static_cast<std::size_t>(N), std::numeric_limits<double>::quiet_NaN());
  run.gen_correct.assign(static_cast<std::size_t>(N), false);
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
    run.gen_logprob[i] = mean_logprob(r);
    run.gen_correct[i] = out == trim(gold);
    ordered_json& p = run.preds[i];
    p["generated"] = r.text;
    p["generated_correct"] = out == trim(gold);
    if (validated) p["valid"] = ok;
    p["generated_mean_logprob"] = std::isfinite(run.gen_logprob[i]) ? ordered_json(run.gen_logprob[i]) : ordered_json(nullptr);
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

}  // namespace hone
