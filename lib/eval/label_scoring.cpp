#include "eval/label_scoring.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/error.h"
#include "model/decoder.h"

namespace hone {

// ---------------------------------------------------------------------------- the tree

LabelTrie::LabelTrie(const std::vector<std::vector<std::int32_t>>& answers, const std::vector<std::string>& labels) {
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

namespace {

// ---------------------------------------------------------------------------- model inputs

// The inputs of one forward pass over [B, T] new positions after `past` cached ones: token ids,
// positions, and the explicit attention mask [B, T, past + T] (true: attend), all zero at first.
struct PassInputs {
  at::Tensor ids, pos, mask;
  at::TensorAccessor<std::int64_t, 2> id_a, pos_a;
  at::TensorAccessor<bool, 3> mask_a;

  PassInputs(std::int64_t B, std::int64_t T, std::int64_t past)
      : ids(at::zeros({B, T}, at::kLong)),
        pos(at::zeros({B, T}, at::kLong)),
        mask(at::zeros({B, T, past + T}, at::kBool)),
        id_a(ids.accessor<std::int64_t, 2>()),
        pos_a(pos.accessor<std::int64_t, 2>()),
        mask_a(mask.accessor<bool, 3>()) {}

  // Tree node `node` at (b, t): its token at position prompt_len + depth, attending to the prompt
  // (columns 0 .. prompt_len - 1) and to itself and its ancestors (columns `column(n)`).
  template <class Column>
  void add_node(std::int64_t b, std::int64_t t, const LabelTrie& trie, std::int64_t node, std::int64_t prompt_len,
                Column column) {
    id_a[b][t] = trie.nodes[node].token;
    pos_a[b][t] = prompt_len + trie.nodes[node].depth;
    for (std::int64_t j = 0; j < prompt_len; ++j) mask_a[b][t][j] = true;
    for (std::int64_t n = node; n >= 0; n = trie.nodes[n].parent) mask_a[b][t][column(n)] = true;
  }
};

// The prompts, right-padded, as the first columns of a pass [B, T] (T >= the longest prompt, no
// cache): each prompt token attends causally to its own prompt; every later position attends to
// itself only, for padding or for a tree node the caller adds.
PassInputs prompt_inputs(const PromptBatch& prompts, std::int64_t T) {
  const auto B = static_cast<std::int64_t>(prompts.size());
  PassInputs in(B, T, /*past=*/0);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto P = static_cast<std::int64_t>(prompts[b]->size());
    for (std::int64_t i = 0; i < T; ++i) {
      if (i >= P) {
        in.mask_a[b][i][i] = true;
        continue;
      }
      in.id_a[b][i] = (*prompts[b])[i];
      in.pos_a[b][i] = i;
      for (std::int64_t j = 0; j <= i; ++j) in.mask_a[b][i][j] = true;
    }
  }
  return in;
}

// Log-probabilities [rows, vocab] (float32, CPU) of the token after each of the flat positions
// `rows` of the pass `in` ([B, T] flattened to [B * T]), appending the pass to `cache` if given.
at::Tensor next_token_log_probs(const Decoder& model, const PassInputs& in, const std::vector<std::int64_t>& rows,
                                KVCache* cache) {
  const c10::Device dev = model.device();
  ForwardInput f;
  f.input_ids = in.ids.to(dev);
  f.position_ids = in.pos.to(dev);
  f.attention_mask = in.mask;
  f.cache = cache;
  const at::Tensor hidden = model.forward_hidden(f);  // [B, T, H]
  const at::Tensor picked = hidden.reshape({in.ids.numel(), -1}).index_select(0, at::tensor(rows, at::kLong).to(dev));
  return at::log_softmax(model.logits(picked).to(at::kFloat), -1).cpu();
}

std::int64_t longest(const PromptBatch& prompts) {
  std::int64_t n = 0;
  for (const auto* p : prompts) n = std::max<std::int64_t>(n, static_cast<std::int64_t>(p->size()));
  return n;
}

void check_ranking_args(const LabelTrie& trie, const PromptBatch& prompts, const std::vector<std::int64_t>& gold,
                        std::int64_t top_k, std::int64_t per_round) {
  HONE_CHECK(gold.size() == prompts.size(), UsageError, "{} gold labels for {} prompts", gold.size(), prompts.size());
  for (std::int64_t g : gold)
    HONE_CHECK(g >= -1 && g < trie.label_count(), UsageError, "gold label {} of {} labels", g, trie.label_count());
  HONE_CHECK(top_k >= 1 && top_k <= trie.label_count(), UsageError, "the top {} of {} labels", top_k, trie.label_count());
  HONE_CHECK(per_round >= 1, UsageError, "{} tree nodes per round: must be positive", per_round);
}

}  // namespace

// ---------------------------------------------------------------------------- exhaustive

at::Tensor score_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts) {
  const auto B = static_cast<std::int64_t>(prompts.size());
  const auto I = static_cast<std::int64_t>(trie.internal.size());
  PassInputs in = prompt_inputs(prompts, longest(prompts) + I);
  const std::int64_t T = in.ids.size(1);
  std::vector<std::int64_t> slot_rows;  // [B * (1 + I)] rows of the flattened [B * T] hidden states
  for (std::int64_t b = 0; b < B; ++b) {
    const auto P = static_cast<std::int64_t>(prompts[b]->size());
    slot_rows.push_back(b * T + P - 1);
    for (std::int64_t k = 0; k < I; ++k) {  // internal node k (slot 1 + k) in column P + k
      in.add_node(b, P + k, trie, trie.internal[k], P, [&](std::int64_t n) { return P + trie.slot_of[n] - 1; });
      slot_rows.push_back(b * T + P + k);
    }
  }
  const at::Tensor logp = next_token_log_probs(model, in, slot_rows, /*cache=*/nullptr).view({B, 1 + I, -1});
  const at::Tensor slot = at::tensor(trie.pair_slot, at::kLong), tok = at::tensor(trie.pair_token, at::kLong);
  const at::Tensor label = at::tensor(trie.pair_label, at::kLong);
  const at::Tensor picked = logp.index({at::indexing::Slice(), slot, tok});  // [B, answer tokens]
  return at::zeros({B, trie.label_count()}, at::kFloat).index_add_(1, label, picked);
}

std::vector<LabelRanking> rank_all_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                          const std::vector<std::int64_t>& gold, std::int64_t top_k) {
  check_ranking_args(trie, prompts, gold, top_k, /*per_round=*/1);
  const at::Tensor scores = score_labels(model, trie, prompts);
  std::vector<LabelRanking> out;
  for (std::int64_t b = 0; b < scores.size(0); ++b) {
    const at::Tensor row = scores[b];
    LabelRanking r;
    const at::Tensor top = std::get<1>(row.topk(top_k));
    for (std::int64_t k = 0; k < top.size(0); ++k)
      r.top.emplace_back(row[top[k].item<std::int64_t>()].item<double>(), top[k].item<std::int64_t>());
    if (gold[b] >= 0) r.gold = row[gold[b]].item<double>();
    r.fed = static_cast<std::int64_t>(trie.internal.size());
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------- pruned search

namespace {

constexpr double kUnreached = -std::numeric_limits<double>::infinity();

// One prompt's search.
struct Query {
  std::int64_t prompt_len = 0;
  std::int64_t k = 0;              // labels wanted
  std::vector<double> score;       // partial log-likelihood per node (kUnreached: not reached)
  std::vector<std::int64_t> slot;  // cache position where the node was fed (-1: not fed)
  std::vector<char> forced;        // internal nodes on the gold label's path
  std::vector<std::int64_t> open;  // reached internal nodes not fed yet
  LabelRanking result;
  bool done = false;

  // The k-th best complete label so far (kUnreached until k are complete): the threshold only rises.
  double threshold() const {
    return static_cast<std::int64_t>(result.top.size()) < k ? kUnreached : result.top.back().first;
  }

  // `node` is reached with log-likelihood `s`: a label ending there enters the top k, a node with
  // children opens.
  void settle(const LabelTrie& trie, std::int64_t node, double s) {
    score[node] = s;
    const std::int64_t label = trie.label_of[node];
    if (label >= 0) {
      auto& top = result.top;
      top.emplace_back(s, label);
      std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      if (static_cast<std::int64_t>(top.size()) > k) top.resize(static_cast<std::size_t>(k));
    }
    if (!trie.children[node].empty()) open.push_back(node);
  }

  // The nodes to feed next: the open ones that can still reach the top k (forced ones always),
  // forced first, then the most likely, at most `per_round`. None: the search is done.
  std::vector<std::int64_t> next(std::int64_t per_round) {
    const double th = threshold();
    open.erase(std::remove_if(open.begin(), open.end(), [&](std::int64_t n) { return !forced[n] && score[n] < th; }),
               open.end());
    std::stable_sort(open.begin(), open.end(), [&](std::int64_t a, std::int64_t b) {
      if (forced[a] != forced[b]) return forced[a] > forced[b];
      return score[a] > score[b];
    });
    const auto n = std::min<std::int64_t>(per_round, static_cast<std::int64_t>(open.size()));
    std::vector<std::int64_t> sel(open.begin(), open.begin() + n);
    open.erase(open.begin(), open.begin() + n);
    done = n == 0;
    return sel;
  }
};

class LabelSearch {
 public:
  LabelSearch(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts, const std::vector<std::int64_t>& gold,
              std::int64_t top_k, std::int64_t per_round)
      : model_(model),
        trie_(trie),
        prompts_(prompts),
        per_round_(per_round),
        cache_(model.config(), static_cast<std::int64_t>(prompts.size()), longest(prompts) + 2 * per_round * 8,
               model.device(), model.dtype()),
        queries_(prompts.size()),
        rows_(prompts.size()) {
    const auto nodes = static_cast<std::int64_t>(trie.nodes.size());
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      Query& x = queries_[b];
      x.k = top_k;
      x.prompt_len = static_cast<std::int64_t>(prompts[b]->size());
      x.score.assign(nodes, kUnreached);
      x.slot.assign(nodes, -1);
      x.forced.assign(nodes, 0);
      if (gold[b] >= 0)
        for (std::int64_t n = trie.nodes[trie.end_node[gold[b]]].parent; n >= 0; n = trie.nodes[n].parent) x.forced[n] = 1;
    }
    std::iota(rows_.begin(), rows_.end(), 0);
  }

  std::vector<LabelRanking> run(const std::vector<std::int64_t>& gold) {
    feed_prompts();
    while (true) {
      std::vector<std::vector<std::int64_t>> sel;  // per cache row, the nodes to feed
      const std::int64_t active = select(sel);
      if (active == 0) break;
      if (rows_.size() > 1 && active * 2 <= static_cast<std::int64_t>(rows_.size())) drop_finished(sel);
      feed(sel);
    }
    std::vector<LabelRanking> out;
    for (std::size_t b = 0; b < queries_.size(); ++b) {
      if (gold[b] >= 0) queries_[b].result.gold = queries_[b].score[trie_.end_node[gold[b]]];
      out.push_back(std::move(queries_[b].result));
    }
    return out;
  }

 private:
  // The prompts fill cache positions 0 .. longest - 1; their last tokens reach the depth-0 nodes.
  void feed_prompts() {
    const PassInputs in = prompt_inputs(prompts_, longest(prompts_));
    const std::int64_t P = in.ids.size(1);
    std::vector<std::int64_t> last;
    for (std::size_t b = 0; b < queries_.size(); ++b) last.push_back(static_cast<std::int64_t>(b) * P + queries_[b].prompt_len - 1);
    const at::Tensor lp = next_token_log_probs(model_, in, last, &cache_);
    auto lp_a = lp.accessor<float, 2>();
    for (std::size_t b = 0; b < queries_.size(); ++b)
      for (std::int64_t r : trie_.roots) queries_[b].settle(trie_, r, lp_a[b][trie_.nodes[r].token]);
  }

  // Each cache row's nodes to feed this round; returns how many rows still search.
  std::int64_t select(std::vector<std::vector<std::int64_t>>& sel) {
    sel.assign(rows_.size(), {});
    std::int64_t active = 0;
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      Query& x = queries_[rows_[r]];
      if (x.done) continue;
      sel[r] = x.next(per_round_);
      if (!x.done) ++active;
    }
    return active;
  }

  // Keeps only the cache rows that feed a node this round.
  void drop_finished(std::vector<std::vector<std::int64_t>>& sel) {
    std::vector<std::int64_t> keep, keep_rows;
    std::vector<std::vector<std::int64_t>> keep_sel;
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      if (sel[r].empty()) continue;
      keep.push_back(static_cast<std::int64_t>(r));
      keep_rows.push_back(rows_[r]);
      keep_sel.push_back(std::move(sel[r]));
    }
    cache_.keep_rows(keep);
    rows_ = std::move(keep_rows);
    sel = std::move(keep_sel);
  }

  // One pass: row r feeds sel[r] after the cached positions (shorter rows padded), each node
  // attending to its prompt and its ancestors' cache positions; their children are reached.
  void feed(const std::vector<std::vector<std::int64_t>>& sel) {
    const auto R = static_cast<std::int64_t>(rows_.size());
    std::int64_t T = 0;
    for (const auto& s : sel) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(s.size()));
    const std::int64_t past = cache_.length(), S = past + T;
    if (S > cache_.capacity()) cache_.grow(std::max(S, 2 * cache_.capacity()));
    PassInputs in(R, T, past);
    std::vector<std::int64_t> flat;  // rows of [R * T] that hold a fed node
    for (std::int64_t r = 0; r < R; ++r) {
      Query& x = queries_[rows_[r]];
      for (std::int64_t t = 0; t < T; ++t) {
        in.mask_a[r][t][past + t] = true;
        if (t >= static_cast<std::int64_t>(sel[r].size())) continue;  // padding attends to itself
        const std::int64_t node = sel[r][t];
        x.slot[node] = past + t;
        in.add_node(r, t, trie_, node, x.prompt_len, [&](std::int64_t n) { return x.slot[n]; });
        flat.push_back(r * T + t);
        ++x.result.fed;
      }
    }
    const at::Tensor lp = next_token_log_probs(model_, in, flat, &cache_);
    auto lp_a = lp.accessor<float, 2>();
    std::int64_t i = 0;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t node : sel[r]) {
        Query& x = queries_[rows_[r]];
        for (std::int64_t c : trie_.children[node]) x.settle(trie_, c, x.score[node] + lp_a[i][trie_.nodes[c].token]);
        ++i;
      }
  }

  const Decoder& model_;
  const LabelTrie& trie_;
  const PromptBatch& prompts_;
  const std::int64_t per_round_;
  KVCache cache_;
  std::vector<Query> queries_;
  std::vector<std::int64_t> rows_;  // rows_[r]: the query in cache row r
};

}  // namespace

std::vector<LabelRanking> search_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                        const std::vector<std::int64_t>& gold, std::int64_t top_k,
                                        std::int64_t per_round) {
  check_ranking_args(trie, prompts, gold, top_k, per_round);
  if (prompts.empty()) return {};
  return LabelSearch(model, trie, prompts, gold, top_k, per_round).run(gold);
}

std::vector<LabelRanking> rank_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                      const std::vector<std::int64_t>& gold, std::int64_t top_k, bool exhaustive,
                                      std::int64_t per_round) {
  return exhaustive ? rank_all_labels(model, trie, prompts, gold, top_k)
                    : search_labels(model, trie, prompts, gold, top_k, per_round);
}

LabelScores label_scores(const LabelRanking& ranking, std::int64_t gold_label) {
  LabelScores s;
  for (const auto& [loglik, label] : ranking.top) s.loglik.push_back(loglik);
  s.correct = !ranking.top.empty() && ranking.top.front().second == gold_label;
  return s;
}

double ranking_confidence(const LabelRanking& ranking, double temperature) {
  std::vector<double> loglik;
  for (const auto& [l, label] : ranking.top) loglik.push_back(l);
  return confidence(loglik, temperature);
}

}  // namespace hone
