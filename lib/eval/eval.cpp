#include "eval/eval.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <set>

#include "core/compute.h"
#include "core/device.h"
#include "core/error.h"
#include "core/measure.h"
#include "core/version.h"
#include "data/token_store.h"
#include "data/tokenize.h"
#include "generate/text_generation.h"
#include "model/decoder.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "batch/batches.h"
#include "batch/targets.h"
#include "batch/loss.h"

namespace hone {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------- data

struct Record {
  std::string id;
  std::string line;    // the canonical JSON record
  std::string where;   // file:line
  std::string target;  // the reference answer (completion / last assistant message)
  std::string label;   // classification label ("" when none)
};

struct Dataset {
  std::vector<Record> records;
  std::vector<std::string> labels;  // sorted; empty unless every record has a label
  std::string source;
};

Dataset read_records(const EvalOptions& o) {
  Dataset d;
  std::error_code ec;
  fs::path file = o.data;
  std::set<std::string> labels;
  if (fs::is_directory(o.data, ec)) {
    file = o.data / (o.split + ".jsonl");
    HONE_CHECK(fs::exists(file), InputError, Hint{"--data is a directory hone ingest wrote, a .jsonl file or a token store"},
               "{}: no {}.jsonl (split '{}')", o.data.string(), o.split, o.split);
    if (fs::exists(o.data / "manifest.json")) {
      json m = json::parse(read_file(o.data / "manifest.json"), nullptr, false);
      if (m.is_object() && m.contains("labels") && m["labels"].is_object())
        for (const auto& [label, counts] : m["labels"].items()) labels.insert(label);
    }
  }
  HONE_CHECK(fs::exists(file), InputError, "{}: no such file", file.string());
  d.source = file.string();
  std::ifstream in(file);
  std::string line;
  std::int64_t n = 0;
  bool all_labelled = true;
  std::set<std::string> seen_labels;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", file.string(), n);
    json j = json::parse(line, nullptr, false);
    HONE_CHECK(!j.is_discarded() && j.is_object() && j.contains("format") && j["format"].is_string(), InputError,
               Hint{"evaluate the directory hone ingest wrote (canonical records)"}, "{}: not a canonical record", where);
    Record r;
    r.line = line;
    r.where = where;
    r.id = j.value("id", std::to_string(n));
    const std::string format = j["format"].get<std::string>();
    try {
      if (format == "completion") {
        r.target = j.at("completion").get<std::string>();
        if (j.contains("label") && j["label"].is_string()) r.label = j["label"].get<std::string>();
      } else if (format == "chat") {
        const json& msgs = j.at("messages");
        HONE_CHECK(msgs.is_array() && !msgs.empty() && msgs.back().value("role", "") == "assistant", InputError,
                   "{}: a chat record to evaluate must end with an assistant message", where);
        r.target = msgs.back().at("content").get<std::string>();
      } else {
        HONE_THROW(InputError, Hint{"evaluate the token store (.h5) for the perplexity of text"},
                   "{}: a '{}' record has no answer to compare with", where, format);
      }
    } catch (const json::exception& e) {
      HONE_THROW(InputError, "{}: malformed canonical record: {}", where, e.what());
    }
    all_labelled = all_labelled && !r.label.empty();
    if (!r.label.empty()) seen_labels.insert(r.label);
    d.records.push_back(std::move(r));
    if (o.limit > 0 && static_cast<std::int64_t>(d.records.size()) >= o.limit) break;
  }
  HONE_CHECK(!d.records.empty(), InputError, "{}: no examples", file.string());
  if (o.sample > 0 && o.sample < static_cast<std::int64_t>(d.records.size())) {
    // Evenly spaced over the file, so that a split sorted by label keeps every label.
    std::vector<Record> kept;
    const auto total = static_cast<std::int64_t>(d.records.size());
    for (std::int64_t i = 0; i < o.sample; ++i) kept.push_back(std::move(d.records[i * total / o.sample]));
    d.records = std::move(kept);
  }
  if (all_labelled) {
    labels.insert(seen_labels.begin(), seen_labels.end());
    d.labels.assign(labels.begin(), labels.end());
  }
  return d;
}

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

// ---------------------------------------------------------------------------- prompts

// Prompt and answer tokens exactly as `hone tokenize` makes them for training: the answer is the
// last run of loss tokens (the last assistant turn up to its end-of-turn token).
struct Encoded {
  std::vector<std::int32_t> prompt, answer;
};

struct Encoder {
  const Tokenizer* tok;
  std::optional<ChatTemplate> chat;
  data::ExampleFormat format;

  explicit Encoder(const Tokenizer& t) : tok(&t) {
    if (!t.chat_template().empty()) chat = ChatTemplate::from_tokenizer(t);
    format = {tok, chat ? &*chat : nullptr, tok->stop_ids(), false};
  }
  Encoded encode(const std::string& line, const std::string& where) const {
    const data::TokenizedExample ex = data::tokenize_example(format, line, where);
    std::size_t end = ex.loss.size();
    while (end > 0 && !ex.loss[end - 1]) --end;
    std::size_t start = end;
    while (start > 0 && ex.loss[start - 1]) --start;
    HONE_CHECK(end > start && start > 0, InputError, "{}: the example has no prompt and answer to evaluate", where);
    Encoded e;
    e.prompt.assign(ex.ids.begin(), ex.ids.begin() + static_cast<std::ptrdiff_t>(start));
    e.answer.assign(ex.ids.begin() + static_cast<std::ptrdiff_t>(start), ex.ids.begin() + static_cast<std::ptrdiff_t>(end));
    return e;
  }
};

// ---------------------------------------------------------------------------- constrained scoring

// The labels' answer tokens as a prefix tree. Each node is a token; a label is a path from a
// depth-0 node to its leaf. Only nodes with children are fed to the model (their logits predict
// the next token); the last prompt position predicts the depth-0 tokens.
struct LabelTrie {
  struct Node {
    std::int32_t token;
    std::int64_t parent;  // -1 for depth 0
    std::int64_t depth;
    bool internal = false;
  };
  std::vector<Node> nodes;
  std::vector<std::vector<std::int64_t>> children;  // per node
  std::vector<std::int64_t> roots;                   // depth-0 nodes
  std::vector<std::int64_t> label_of;                // node -> the label it ends, or -1
  std::vector<std::int64_t> end_node;                // label -> its last node
  std::vector<std::int64_t> internal;  // node index of each internal node (parents first)
  std::vector<std::int64_t> slot_of;   // node -> slot (0: prompt end, 1 + k: internal node k), -1 for leaves
  // Per answer token: the slot whose logits predict it, the token, and its label.
  std::vector<std::int64_t> pair_slot, pair_token, pair_label;

  LabelTrie(const std::vector<std::vector<std::int32_t>>& answers, const std::vector<std::string>& labels) {
    std::map<std::pair<std::int64_t, std::int32_t>, std::int64_t> child;
    end_node.assign(answers.size(), -1);
    for (std::size_t l = 0; l < answers.size(); ++l) {
      HONE_CHECK(!answers[l].empty(), InputError, "label '{}' has no answer tokens", labels[l]);
      std::int64_t parent = -1;
      for (std::int32_t t : answers[l]) {
        auto it = child.find({parent, t});
        if (it == child.end()) {
          nodes.push_back({t, parent, parent < 0 ? 0 : nodes[parent].depth + 1});
          it = child.emplace(std::make_pair(parent, t), static_cast<std::int64_t>(nodes.size()) - 1).first;
        }
        if (parent >= 0) nodes[parent].internal = true;
        parent = it->second;
      }
      end_node[l] = parent;
    }
    for (std::size_t l = 0; l < answers.size(); ++l) {
      HONE_CHECK(!nodes[end_node[l]].internal, InputError,
                 "label '{}' tokenizes as a prefix of another label's answer; they cannot be told apart", labels[l]);
      for (std::size_t m = 0; m < l; ++m)
        HONE_CHECK(end_node[l] != end_node[m], InputError, "labels '{}' and '{}' have the same answer tokens",
                   labels[l], labels[m]);
    }
    children.assign(nodes.size(), {});
    label_of.assign(nodes.size(), -1);
    for (std::size_t n = 0; n < nodes.size(); ++n)
      (nodes[n].parent < 0 ? roots : children[nodes[n].parent]).push_back(static_cast<std::int64_t>(n));
    for (std::size_t l = 0; l < answers.size(); ++l) label_of[end_node[l]] = static_cast<std::int64_t>(l);
    slot_of.assign(nodes.size(), -1);
    for (std::size_t n = 0; n < nodes.size(); ++n)
      if (nodes[n].internal) {
        internal.push_back(static_cast<std::int64_t>(n));
        slot_of[n] = static_cast<std::int64_t>(internal.size());
      }
    for (std::size_t l = 0; l < answers.size(); ++l) {
      std::int64_t parent = -1;
      for (std::int32_t t : answers[l]) {
        pair_slot.push_back(parent < 0 ? 0 : slot_of[parent]);
        pair_token.push_back(t);
        pair_label.push_back(static_cast<std::int64_t>(l));
        parent = child.at({parent, t});
      }
    }
  }
};

// Log-likelihood of every label's answer after each prompt of the batch: [B, labels]. One pass:
// each row holds a prompt followed by the tree's internal nodes; a node attends to the prompt and
// to its ancestors (positions continue from the prompt by depth), so the prompt is computed once
// for all labels and a prefix shared by several labels once for all of them.
at::Tensor score_labels(const Decoder& model, const LabelTrie& trie, const std::vector<const std::vector<std::int32_t>*>& prompts,
                        std::int64_t n_labels) {
  const auto B = static_cast<std::int64_t>(prompts.size());
  const auto I = static_cast<std::int64_t>(trie.internal.size());
  std::int64_t T = 0;
  for (const auto* p : prompts) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(p->size()) + I);
  at::Tensor ids = at::zeros({B, T}, at::kLong), pos = at::zeros({B, T}, at::kLong);
  at::Tensor mask = at::zeros({B, T, T}, at::kBool);
  auto id_a = ids.accessor<std::int64_t, 2>();
  auto pos_a = pos.accessor<std::int64_t, 2>();
  auto m = mask.accessor<bool, 3>();
  std::vector<std::int64_t> slot_rows;  // [B * (1 + I)] rows of the flattened [B * T] hidden states
  for (std::int64_t b = 0; b < B; ++b) {
    const auto P = static_cast<std::int64_t>(prompts[b]->size());
    for (std::int64_t i = 0; i < P; ++i) {
      id_a[b][i] = (*prompts[b])[i];
      pos_a[b][i] = i;
      for (std::int64_t j = 0; j <= i; ++j) m[b][i][j] = true;
    }
    slot_rows.push_back(b * T + P - 1);
    for (std::int64_t k = 0; k < I; ++k) {
      const std::int64_t row = P + k;
      const auto& node = trie.nodes[trie.internal[k]];
      id_a[b][row] = node.token;
      pos_a[b][row] = P + node.depth;
      for (std::int64_t j = 0; j < P; ++j) m[b][row][j] = true;
      for (std::int64_t n = trie.internal[k]; n >= 0; n = trie.nodes[n].parent) m[b][row][P + trie.slot_of[n] - 1] = true;
      slot_rows.push_back(b * T + row);
    }
    for (std::int64_t row = P + I; row < T; ++row) m[b][row][row] = true;  // padding attends to itself
  }
  ForwardInput in;
  in.input_ids = ids;
  in.position_ids = pos;
  in.attention_mask = mask;
  const at::Tensor hidden = model.forward_hidden(in);  // [B, T, H]
  const at::Tensor rows = hidden.reshape({B * T, -1}).index_select(0, at::tensor(slot_rows, at::kLong).to(hidden.device()));
  const at::Tensor logp = at::log_softmax(model.logits(rows).to(at::kFloat), -1).view({B, 1 + I, -1}).cpu();
  const at::Tensor slot = at::tensor(trie.pair_slot, at::kLong), tok = at::tensor(trie.pair_token, at::kLong);
  const at::Tensor label = at::tensor(trie.pair_label, at::kLong);
  const at::Tensor picked = logp.index({at::indexing::Slice(), slot, tok});  // [B, answer tokens]
  return at::zeros({B, n_labels}, at::kFloat).index_add_(1, label, picked);
}

// The exact top-k labels of each prompt by best-first search over the label tree, batched
// across prompts with a KV cache. A node's partial log-likelihood bounds every label below it
// (log-probabilities are <= 0), so a node scoring below the k-th best complete label found so
// far can hold none of the top k and is never fed. Each round feeds, per prompt, its
// `per_round` most likely open nodes (and first the nodes on the gold label's path, so that the
// gold label's log-likelihood is always known). A tuned model feeds little more than its
// answer's own path; an uncertain one more of the tree, up to all of it.
struct SearchResult {
  std::vector<std::pair<double, std::int64_t>> top;  // (log-likelihood, label), best first
  double gold = std::numeric_limits<double>::quiet_NaN();
  std::int64_t fed = 0;  // tree nodes fed to the model
};

std::vector<SearchResult> search_labels(const Decoder& model, const LabelTrie& trie,
                                        const std::vector<const std::vector<std::int32_t>*>& prompts,
                                        const std::vector<std::int64_t>& gold, std::int64_t top_k,
                                        std::int64_t per_round) {
  const auto B = static_cast<std::int64_t>(prompts.size());
  const auto nodes = static_cast<std::int64_t>(trie.nodes.size());
  constexpr double kNone = -std::numeric_limits<double>::infinity();
  const c10::Device dev = model.device();
  std::int64_t P = 0;
  for (const auto* p : prompts) P = std::max<std::int64_t>(P, static_cast<std::int64_t>(p->size()));
  KVCache cache(model.config(), B, P + 2 * per_round * 8, dev, model.dtype());

  struct Query {
    std::int64_t prompt_len;
    std::vector<double> score;      // partial log-likelihood per node (kNone: not reached)
    std::vector<std::int64_t> slot; // cache position where the node was fed (-1: not fed)
    std::vector<char> forced;       // internal nodes on the gold label's path
    std::vector<std::int64_t> open; // reached internal nodes not fed yet
    SearchResult result;
    bool done = false;
    double threshold() const {
      return static_cast<std::int64_t>(result.top.size()) < k ? kNone : result.top.back().first;
    }
    std::int64_t k;
  };
  std::vector<Query> q(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    Query& x = q[b];
    x.k = top_k;
    x.prompt_len = static_cast<std::int64_t>(prompts[b]->size());
    x.score.assign(nodes, kNone);
    x.slot.assign(nodes, -1);
    x.forced.assign(nodes, 0);
    for (std::int64_t n = trie.nodes[trie.end_node[gold[b]]].parent; n >= 0; n = trie.nodes[n].parent) x.forced[n] = 1;
  }
  auto settle = [&](Query& x, std::int64_t node, double score) {
    x.score[node] = score;
    const std::int64_t label = trie.label_of[node];
    if (label >= 0) {
      auto& top = x.result.top;
      top.emplace_back(score, label);
      std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      if (static_cast<std::int64_t>(top.size()) > x.k) top.resize(static_cast<std::size_t>(x.k));
    }
    if (!trie.children[node].empty()) x.open.push_back(node);
  };
  // One pass through the cache: the log-probabilities [rows, vocab] at the flat positions `rows`
  // of the [B', T'] inputs.
  auto step = [&](const at::Tensor& ids, const at::Tensor& pos, const at::Tensor& mask,
                  const std::vector<std::int64_t>& rows) {
    ForwardInput in;
    in.input_ids = ids.to(dev);
    in.position_ids = pos.to(dev);
    in.attention_mask = mask;
    in.cache = &cache;
    const at::Tensor hidden = model.forward_hidden(in);
    const at::Tensor picked = hidden.reshape({ids.numel(), -1}).index_select(0, at::tensor(rows, at::kLong).to(dev));
    return at::log_softmax(model.logits(picked).to(at::kFloat), -1).cpu();
  };

  // The prompts (right-padded; each attends causally to its own tokens).
  {
    at::Tensor ids = at::zeros({B, P}, at::kLong), pos = at::zeros({B, P}, at::kLong);
    at::Tensor mask = at::zeros({B, P, P}, at::kBool);
    auto id_a = ids.accessor<std::int64_t, 2>();
    auto pos_a = pos.accessor<std::int64_t, 2>();
    auto m = mask.accessor<bool, 3>();
    std::vector<std::int64_t> last;
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t i = 0; i < P; ++i) {
        if (i < q[b].prompt_len) {
          id_a[b][i] = (*prompts[b])[i];
          pos_a[b][i] = i;
          for (std::int64_t j = 0; j <= i; ++j) m[b][i][j] = true;
        } else {
          m[b][i][i] = true;
        }
      }
      last.push_back(b * P + q[b].prompt_len - 1);
    }
    const at::Tensor lp = step(ids, pos, mask, last);
    auto lp_a = lp.accessor<float, 2>();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t r : trie.roots) settle(q[b], r, lp_a[b][trie.nodes[r].token]);
  }

  // Rounds. `rows[r]` is the query in cache row r; finished queries' rows are dropped when at
  // most half of the rows are still searching.
  std::vector<std::int64_t> rows(static_cast<std::size_t>(B));
  std::iota(rows.begin(), rows.end(), 0);
  while (true) {
    std::vector<std::vector<std::int64_t>> sel(rows.size());
    std::int64_t T = 0, active = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      Query& x = q[rows[r]];
      if (x.done) continue;
      const double th = x.threshold();
      // Drop what can no longer reach the top k (the threshold only rises); forced nodes stay.
      x.open.erase(std::remove_if(x.open.begin(), x.open.end(),
                                  [&](std::int64_t n) { return !x.forced[n] && x.score[n] < th; }),
                   x.open.end());
      std::stable_sort(x.open.begin(), x.open.end(), [&](std::int64_t a, std::int64_t b) {
        if (x.forced[a] != x.forced[b]) return x.forced[a] > x.forced[b];
        return x.score[a] > x.score[b];
      });
      const auto n = std::min<std::int64_t>(per_round, static_cast<std::int64_t>(x.open.size()));
      sel[r].assign(x.open.begin(), x.open.begin() + n);
      x.open.erase(x.open.begin(), x.open.begin() + n);
      if (n == 0) x.done = true;
      else ++active;
      T = std::max(T, n);
    }
    if (active == 0) break;
    if (rows.size() > 1 && active * 2 <= static_cast<std::int64_t>(rows.size())) {
      std::vector<std::int64_t> keep, keep_rows;
      std::vector<std::vector<std::int64_t>> keep_sel;
      for (std::size_t r = 0; r < rows.size(); ++r)
        if (!sel[r].empty()) keep.push_back(static_cast<std::int64_t>(r)), keep_rows.push_back(rows[r]),
                             keep_sel.push_back(std::move(sel[r]));
      cache.keep_rows(keep);
      rows = std::move(keep_rows);
      sel = std::move(keep_sel);
    }
    const auto R = static_cast<std::int64_t>(rows.size());
    const std::int64_t past = cache.length(), S = past + T;
    if (S > cache.capacity()) cache.grow(std::max(S, 2 * cache.capacity()));
    at::Tensor ids = at::zeros({R, T}, at::kLong), pos = at::zeros({R, T}, at::kLong);
    at::Tensor mask = at::zeros({R, T, S}, at::kBool);
    auto id_a = ids.accessor<std::int64_t, 2>();
    auto pos_a = pos.accessor<std::int64_t, 2>();
    auto m = mask.accessor<bool, 3>();
    std::vector<std::int64_t> flat;  // rows of [R * T] that hold a fed node
    for (std::int64_t r = 0; r < R; ++r) {
      Query& x = q[rows[r]];
      for (std::int64_t t = 0; t < T; ++t) {
        m[r][t][past + t] = true;
        if (t >= static_cast<std::int64_t>(sel[r].size())) continue;  // padding attends to itself
        const std::int64_t node = sel[r][t];
        id_a[r][t] = trie.nodes[node].token;
        pos_a[r][t] = x.prompt_len + trie.nodes[node].depth;
        for (std::int64_t j = 0; j < x.prompt_len; ++j) m[r][t][j] = true;
        for (std::int64_t a = trie.nodes[node].parent; a >= 0; a = trie.nodes[a].parent) m[r][t][x.slot[a]] = true;
        x.slot[node] = past + t;
        flat.push_back(r * T + t);
        ++x.result.fed;
      }
    }
    const at::Tensor lp = step(ids, pos, mask, flat);
    auto lp_a = lp.accessor<float, 2>();
    std::int64_t i = 0;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t node : sel[r]) {
        Query& x = q[rows[r]];
        for (std::int64_t c : trie.children[node]) settle(x, c, x.score[node] + lp_a[i][trie.nodes[c].token]);
        ++i;
      }
  }
  std::vector<SearchResult> out;
  for (std::int64_t b = 0; b < B; ++b) {
    q[b].result.gold = q[b].score[trie.end_node[gold[b]]];
    out.push_back(std::move(q[b].result));
  }
  return out;
}

// ---------------------------------------------------------------------------- metrics

struct Prf {
  double accuracy = 0, macro_f1 = 0;
  std::vector<std::tuple<std::string, std::string, std::int64_t>> confused;
};

Prf classification_metrics(const std::vector<std::string>& gold, const std::vector<std::string>& pred) {
  Prf r;
  std::set<std::string> classes(gold.begin(), gold.end());
  classes.insert(pred.begin(), pred.end());
  std::map<std::string, std::int64_t> tp, fp, fn;
  std::map<std::pair<std::string, std::string>, std::int64_t> pairs;
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] == pred[i]) {
      ++correct;
      ++tp[gold[i]];
    } else {
      ++fp[pred[i]];
      ++fn[gold[i]];
      ++pairs[{gold[i], pred[i]}];
    }
  }
  r.accuracy = gold.empty() ? 0 : static_cast<double>(correct) / static_cast<double>(gold.size());
  double f1_sum = 0;
  for (const auto& c : classes) {
    const double t = static_cast<double>(tp[c]), p = t + static_cast<double>(fp[c]), g = t + static_cast<double>(fn[c]);
    const double prec = p > 0 ? t / p : 0, rec = g > 0 ? t / g : 0;
    f1_sum += prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
  }
  r.macro_f1 = classes.empty() ? 0 : f1_sum / static_cast<double>(classes.size());
  std::vector<std::tuple<std::string, std::string, std::int64_t>> v;
  for (const auto& [k, n] : pairs) v.emplace_back(k.first, k.second, n);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return std::get<2>(a) > std::get<2>(b); });
  if (v.size() > 10) v.resize(10);
  r.confused = v;
  return r;
}

// SQuAD's normalisation: lower case, no punctuation, no articles, single spaces.
std::string normalise(const std::string& s) {
  std::string lower;
  for (unsigned char c : s) lower += static_cast<char>(std::ispunct(c) ? ' ' : std::tolower(c));
  std::string out, word;
  auto flush = [&] {
    if (!word.empty() && word != "a" && word != "an" && word != "the") out += (out.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : lower) {
    if (std::isspace(static_cast<unsigned char>(c))) flush();
    else word += c;
  }
  flush();
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos)), hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

ordered_json number_or_null(std::optional<double> v) { return v ? ordered_json(*v) : ordered_json(nullptr); }

// ---------------------------------------------------------------------------- evaluations

struct ModelReport {
  ordered_json row;
  std::vector<ordered_json> predictions;
};

ModelReport evaluate_examples(const EvalOptions& o, const Dataset& d, LoadedModel& lm) {
  const Tokenizer& tok = *lm.lm.tokenizer;
  const Decoder& model = *lm.lm.decoder;
  const Encoder enc(tok);
  const bool classification = !d.labels.empty();
  const bool do_score = classification && (o.method == "score" || o.method == "both");
  const bool do_generate = !classification || o.method == "generate" || o.method == "both";
  const auto N = static_cast<std::int64_t>(d.records.size());

  std::vector<Encoded> examples;
  for (const Record& r : d.records) examples.push_back(enc.encode(r.line, r.where));
  std::vector<ordered_json> preds(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) preds[i] = {{"model", lm.name}, {"id", d.records[i].id}, {"gold", d.records[i].target}};

  ModelReport rep;
  ordered_json& row = rep.row;
  std::vector<double> latency_ms;
  std::int64_t tokens = 0;
  double seconds = 0;

  std::vector<std::string> gold;
  for (const Record& r : d.records) gold.push_back(classification ? r.label : r.target);

  std::optional<Prf> scored, generated;
  if (do_score) {
    // Every label's answer tokens, made as for training (label as the completion of this prompt).
    std::vector<std::vector<std::int32_t>> answers;
    std::map<std::string, std::int64_t> label_index;
    for (const std::string& label : d.labels) {
      label_index.emplace(label, static_cast<std::int64_t>(label_index.size()));
      json j = json::parse(d.records[0].line);
      j["format"] = "completion";
      if (!j.contains("prompt")) j["prompt"] = "x";
      j["completion"] = label;
      j.erase("messages");
      answers.push_back(enc.encode(j.dump(), "label '" + label + "'").answer);
    }
    const LabelTrie trie(answers, d.labels);
    spdlog::info("{}: scoring {} labels ({} answer tokens, {} fed per example) on {} examples", lm.name,
                 d.labels.size(), trie.pair_token.size(), trie.internal.size(), N);
    std::vector<std::string> pred(static_cast<std::size_t>(N));
    const bool exhaustive = o.scoring == "exhaustive";
    const std::int64_t top_k = std::min<std::int64_t>(o.score_top, static_cast<std::int64_t>(d.labels.size()));
    std::int64_t fed = 0;
    const auto t0 = Clock::now();
    for (std::int64_t s = 0; s < N; s += o.batch_size) {
      const std::int64_t e = std::min(N, s + o.batch_size);
      std::vector<const std::vector<std::int32_t>*> prompts;
      std::vector<std::int64_t> gold_index;
      for (std::int64_t i = s; i < e; ++i) {
        prompts.push_back(&examples[i].prompt);
        gold_index.push_back(label_index.at(gold[i]));
      }
      const auto tb = Clock::now();
      std::vector<SearchResult> found;
      if (exhaustive) {
        const at::Tensor scores = score_labels(model, trie, prompts, static_cast<std::int64_t>(d.labels.size()));
        for (std::int64_t i = s; i < e; ++i) {
          const at::Tensor row = scores[i - s];
          SearchResult r;
          const at::Tensor top = std::get<1>(row.topk(top_k));
          for (std::int64_t k = 0; k < top.size(0); ++k)
            r.top.emplace_back(row[top[k].item<std::int64_t>()].item<double>(), top[k].item<std::int64_t>());
          r.gold = row[gold_index[i - s]].item<double>();
          r.fed = static_cast<std::int64_t>(trie.internal.size());
          found.push_back(std::move(r));
        }
      } else {
        found = search_labels(model, trie, prompts, gold_index, top_k, o.score_per_round);
      }
      const double per = seconds_since(tb) * 1000.0 / static_cast<double>(e - s);
      for (std::int64_t i = s; i < e; ++i) {
        const SearchResult& r = found[i - s];
        ordered_json tops = ordered_json::array();
        for (const auto& [score, label] : r.top) tops.push_back({d.labels[label], score});
        pred[i] = d.labels[r.top.front().second];
        preds[i]["scored"] = pred[i];
        preds[i]["scored_top"] = tops;
        preds[i]["gold_logprob"] = r.gold;
        preds[i]["scored_correct"] = pred[i] == gold[i];
        if (!do_generate) latency_ms.push_back(per);
        tokens += static_cast<std::int64_t>(examples[i].prompt.size()) + r.fed;
        fed += r.fed;
      }
      spdlog::debug("{}: scored {}/{}", lm.name, e, N);
    }
    spdlog::info("{}: {} scoring fed {:.1f} tree nodes per example (of {})", lm.name, exhaustive ? "exhaustive" : "pruned",
                 static_cast<double>(fed) / static_cast<double>(std::max<std::int64_t>(1, N)), trie.internal.size());
    seconds += seconds_since(t0);
    scored = classification_metrics(gold, pred);
  }

  std::optional<double> validity, exact, normalised;
  if (do_generate) {
    std::int64_t max_new = o.max_new_tokens;
    if (max_new <= 0) {
      max_new = 64;
      if (classification) {
        std::size_t longest = 0;
        for (const auto& l : d.labels) longest = std::max(longest, tok.encode(l, false, false).size());
        max_new = static_cast<std::int64_t>(longest) + 2;
      }
    }
    std::optional<std::regex> re;
    if (!o.format_regex.empty()) {
      try {
        re.emplace(o.format_regex, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        HONE_THROW(UsageError, "--format-regex '{}' is not a valid regular expression: {}", o.format_regex, e.what());
      }
    }
    const std::set<std::string> label_set(d.labels.begin(), d.labels.end());
    TextGenerationOptions g;
    g.max_new_tokens = max_new;
    // Generation on every example, or on --generate-sample of them (evenly spaced).
    std::vector<std::int64_t> gen;
    const std::int64_t G = o.generate_sample > 0 ? std::min(o.generate_sample, N) : N;
    for (std::int64_t k = 0; k < G; ++k) gen.push_back(k * N / G);
    std::vector<std::string> pred, gen_gold;
    std::int64_t valid = 0, em = 0, nm = 0;
    const auto t0 = Clock::now();
    for (std::int64_t i : gen) {
      const auto tb = Clock::now();
      const TextGenerationResult r = generate_text(lm.lm, examples[i].prompt, g);
      latency_ms.push_back(seconds_since(tb) * 1000.0);
      tokens += r.prompt_tokens + static_cast<std::int64_t>(r.tokens.size());
      const std::string out = trim(r.text);
      pred.push_back(out);
      gen_gold.push_back(gold[i]);
      bool ok = true;
      if (classification) ok = label_set.count(out) != 0;
      else if (o.format_json) ok = !json::parse(out, nullptr, false).is_discarded();
      else if (re) ok = std::regex_match(out, *re);
      valid += ok;
      em += out == trim(gold[i]);
      nm += normalise(out) == normalise(gold[i]);
      preds[i]["generated"] = r.text;
      preds[i]["generated_correct"] = out == trim(gold[i]);
      if (classification || o.format_json || re) preds[i]["valid"] = ok;
      preds[i]["latency_ms"] = latency_ms.back();
      if (pred.size() % 100 == 0) spdlog::debug("{}: generated {}/{}", lm.name, pred.size(), G);
    }
    seconds += seconds_since(t0);
    row["generate_examples"] = G;
    const auto n = static_cast<double>(G);
    exact = static_cast<double>(em) / n;
    normalised = static_cast<double>(nm) / n;
    if (classification || o.format_json || re) validity = static_cast<double>(valid) / n;
    if (classification) generated = classification_metrics(gen_gold, pred);
  }

  const Prf* main = scored ? &*scored : generated ? &*generated : nullptr;
  row["name"] = lm.name;
  row["params"] = lm.params;
  row["adapter_params"] = lm.adapter_params;
  row["bytes"] = lm.bytes;
  row["accuracy"] = main ? ordered_json(main->accuracy) : ordered_json(nullptr);
  row["macro_f1"] = main ? ordered_json(main->macro_f1) : ordered_json(nullptr);
  row["accuracy_method"] = scored ? "score" : generated ? "generate" : "";
  row["score_accuracy"] = scored ? ordered_json(scored->accuracy) : ordered_json(nullptr);
  row["score_macro_f1"] = scored ? ordered_json(scored->macro_f1) : ordered_json(nullptr);
  row["generate_accuracy"] = generated ? ordered_json(generated->accuracy) : ordered_json(nullptr);
  row["generate_macro_f1"] = generated ? ordered_json(generated->macro_f1) : ordered_json(nullptr);
  row["exact_match"] = number_or_null(exact);
  row["normalized_match"] = number_or_null(normalised);
  row["format_validity"] = number_or_null(validity);
  row["latency_ms_p50"] = percentile(latency_ms, 0.5);
  row["latency_ms_p95"] = percentile(latency_ms, 0.95);
  row["latency_method"] = do_generate ? "generate (greedy, batch 1, KV cache)" : fmt::format("score (batch {}, per example)", o.batch_size);
  row["tokens_per_s"] = seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0;
  row["seconds"] = seconds;
  if (main) {
    ordered_json c = ordered_json::array();
    for (const auto& [g, p, n] : main->confused) c.push_back({{"gold", g}, {"predicted", p}, {"count", n}});
    row["most_confused"] = c;
  }
  rep.predictions = std::move(preds);
  return rep;
}

ModelReport evaluate_store(const EvalOptions& o, const data::TokenStore& store, LoadedModel& lm) {
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
  rep.row = {{"name", lm.name},
             {"params", lm.params},
             {"adapter_params", lm.adapter_params},
             {"bytes", lm.bytes},
             {"mean_loss", mean},
             {"perplexity", std::exp(mean)},
             {"loss_tokens", loss_tokens},
             {"latency_ms_p50", percentile(latency_ms, 0.5)},
             {"latency_ms_p95", percentile(latency_ms, 0.95)},
             {"latency_method", fmt::format("forward (batch {}, per sequence)", o.batch_size)},
             {"tokens_per_s", seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0},
             {"seconds", seconds}};
  return rep;
}

// ---------------------------------------------------------------------------- output

std::string fmt_pct(const ordered_json& v) { return v.is_number() ? fmt::format("{:.2f}%", 100 * v.get<double>()) : "-"; }
std::string fmt_num(const ordered_json& v, const char* f) { return v.is_number() ? fmt::format(fmt::runtime(f), v.get<double>()) : "-"; }

std::string markdown(const ordered_json& report) {
  const std::string task = report["task"];
  std::string s;
  if (task == "perplexity") {
    s += "| model | mean loss | perplexity | ms/seq p50 | tokens/s | params | MiB |\n|---|---|---|---|---|---|---|\n";
    for (const auto& m : report["models"])
      s += fmt::format("| {} | {} | {} | {} | {} | {} | {:.1f} |\n", m["name"].get<std::string>(), fmt_num(m["mean_loss"], "{:.4f}"),
                       fmt_num(m["perplexity"], "{:.3f}"), fmt_num(m["latency_ms_p50"], "{:.1f}"),
                       fmt_num(m["tokens_per_s"], "{:.0f}"), m["params"].get<std::int64_t>(),
                       static_cast<double>(m["bytes"].get<std::uint64_t>()) / (1 << 20));
    return s;
  }
  if (task == "classification") {
    s += "| model | accuracy | macro-F1 | generate acc. | format validity | ms p50 | ms p95 | params | MiB |\n"
         "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& m : report["models"])
      s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.1f} |\n", m["name"].get<std::string>(),
                       fmt_pct(m["accuracy"]), fmt_num(m["macro_f1"], "{:.4f}"), fmt_pct(m["generate_accuracy"]),
                       fmt_pct(m["format_validity"]), fmt_num(m["latency_ms_p50"], "{:.1f}"),
                       fmt_num(m["latency_ms_p95"], "{:.1f}"), m["params"].get<std::int64_t>(),
                       static_cast<double>(m["bytes"].get<std::uint64_t>()) / (1 << 20));
    return s;
  }
  s += "| model | exact match | normalised match | format validity | ms p50 | ms p95 | tokens/s | params |\n"
       "|---|---|---|---|---|---|---|---|\n";
  for (const auto& m : report["models"])
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", m["name"].get<std::string>(), fmt_pct(m["exact_match"]),
                     fmt_pct(m["normalized_match"]), fmt_pct(m["format_validity"]), fmt_num(m["latency_ms_p50"], "{:.1f}"),
                     fmt_num(m["latency_ms_p95"], "{:.1f}"), fmt_num(m["tokens_per_s"], "{:.0f}"), m["params"].get<std::int64_t>());
  return s;
}

}  // namespace

std::string run_eval(const EvalOptions& o) {
  HONE_CHECK(!o.models.empty(), UsageError, "no --model to evaluate");
  HONE_CHECK(o.scoring == "pruned" || o.scoring == "exhaustive", UsageError,
             "--scoring must be pruned or exhaustive, got '{}'", o.scoring);
  HONE_CHECK(o.score_per_round > 0, UsageError, "--score-per-round must be positive");
  HONE_CHECK(o.score_top > 0, UsageError, "--score-top must be positive, got {}", o.score_top);
  HONE_CHECK(o.method == "score" || o.method == "generate" || o.method == "both", UsageError,
             "--method is score, generate or both, not '{}'", o.method);
  HONE_CHECK(o.batch_size > 0, UsageError, "--batch-size must be positive");
  HONE_CHECK(o.sample >= 0 && o.limit >= 0 && (o.sample == 0 || o.limit == 0), UsageError,
             "give --limit N (the first N examples) or --sample N (N evenly spaced examples), not both");
  if (o.threads > 0) at::set_num_threads(o.threads);
  const Compute compute = resolve_compute(o.device, o.dtype, local_rank_from_environment());
  const c10::Device device = compute.device;
  const c10::ScalarType dtype = compute.dtype;
  std::error_code ec;
  HONE_CHECK(fs::exists(o.data, ec), InputError, "{}: no such file or directory", o.data.string());
  const bool store_mode = !fs::is_directory(o.data, ec) && file_starts_with(o.data, "\x89HDF");

  ordered_json report = {{"hone_version", version_string()}, {"data", o.data.string()}, {"split", o.split}};
  std::optional<data::TokenStore> store;
  Dataset d;
  if (store_mode) {
    store = data::read_token_store(o.data);
    report["task"] = "perplexity";
  } else {
    d = read_records(o);
    report["task"] = d.labels.empty() ? "generation" : "classification";
    report["examples"] = d.records.size();
    report["subset"] = o.sample > 0 ? fmt::format("{} evenly spaced", o.sample)
                       : o.limit > 0 ? fmt::format("first {}", o.limit) : "all";
    if (!d.labels.empty()) {
      report["labels"] = d.labels.size();
      report["method"] = o.method;
      report["scoring"] = o.scoring;
    }
  }
  ordered_json models = ordered_json::array();
  std::vector<ordered_json> predictions;
  for (const EvalModel& m : o.models) {
    LoadedModel lm = load(m, device, dtype, o.chat_template);
    spdlog::info("evaluating {} ({} parameters)", lm.name, lm.params);
    c10::InferenceMode guard;
    ModelReport r = store_mode ? evaluate_store(o, *store, lm) : evaluate_examples(o, d, lm);
    r.row["model"] = m.model.string();
    r.row["adapter"] = m.adapter.string();
    models.push_back(r.row);
    for (auto& p : r.predictions) predictions.push_back(std::move(p));
  }
  report["dtype"] = compute_type_name(dtype);  // what was computed in (--dtype fast and auto resolved)
  report["models"] = models;
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
  return markdown(report);
}

}  // namespace hone
