// Constrained label scoring: which of a closed set of labels a causal LM finds most likely after a
// prompt, by the log-likelihood of each label's answer tokens,
//   log p(label | prompt) = sum_i log p(a_i | prompt, a_1 .. a_{i-1}),
// as lm-evaluation-harness scores multiple-choice answers (no length normalisation).
//
// The labels' answers form a prefix tree (LabelTrie), so that a prefix several labels share is
// computed once. Two ways to score:
//   score_labels      exhaustive: one forward pass per batch of prompts feeds each prompt with the
//                     whole tree after it (a tree-shaped attention mask) and gives every label's
//                     log-likelihood. Cost: the tree's internal nodes per prompt.
//   search_labels     pruned: the exact top k labels by best-first search over the tree through a
//                     KV cache; feeds only the nodes that can still reach the top k. Cost: about the
//                     answer's own path for a confident model, up to the whole tree.
// Both give the same top-k labels and log-likelihoods (up to float rounding between the two
// computations); tests/eval/test_label_scoring.cpp checks it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "eval/selective.h"

namespace hone {

class Decoder;

// Prompts of a batch, by pointer (the token vectors live in the caller's examples).
using PromptBatch = std::vector<const std::vector<std::int32_t>*>;

// The labels' answer tokens as a prefix tree. Each node is a token; a label is a path from a
// depth-0 node to its leaf. Only internal nodes (with children) are fed to the model: their
// logits predict the next token; the last prompt position predicts the depth-0 tokens.
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
  // Per answer token of every label: the slot whose logits predict it, the token, and its label.
  std::vector<std::int64_t> pair_slot, pair_token, pair_label;

  // `answers[l]`: label l's answer tokens; `labels[l]` names it in errors. InputError when an
  // answer is empty, is a prefix of another answer, or equals another (the labels could not be
  // told apart).
  LabelTrie(const std::vector<std::vector<std::int32_t>>& answers, const std::vector<std::string>& labels);

  std::int64_t label_count() const { return static_cast<std::int64_t>(end_node.size()); }
};

// Log-likelihood of every label's answer after each prompt: [B, labels] float32 on the CPU. One
// forward pass: each row holds a prompt followed by the tree's internal nodes; a node attends to
// the prompt and to its ancestors (positions continue from the prompt by depth).
at::Tensor score_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts);

// The best labels of one prompt.
struct LabelRanking {
  std::vector<std::pair<double, std::int64_t>> top;  // (log-likelihood, label), best first
  // The gold label's log-likelihood (NaN where no gold label was given).
  double gold = std::numeric_limits<double>::quiet_NaN();
  std::int64_t fed = 0;  // tree nodes fed to the model for this prompt
};

// score_labels, ranked: each prompt's `top_k` best labels (1 <= top_k <= labels) and the
// log-likelihood of label `gold[b]` (-1: none). `fed` is every internal node.
std::vector<LabelRanking> rank_all_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                          const std::vector<std::int64_t>& gold, std::int64_t top_k);

// The exact top `top_k` labels (1 <= top_k <= labels) of each prompt by best-first search over the
// tree, batched across prompts with a KV cache. A node's partial log-likelihood bounds every label
// below it (log-probabilities are <= 0), so a node scoring below the k-th best complete label
// found so far can hold none of the top k and is never fed. Each round feeds, per prompt, its
// `per_round` (> 0) most likely open nodes, the nodes on the path of label `gold[b]` first (-1:
// none), so that the gold label's log-likelihood is always known. Prompts whose search has ended
// leave the cache when at most half of its rows still search.
std::vector<LabelRanking> search_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                        const std::vector<std::int64_t>& gold, std::int64_t top_k,
                                        std::int64_t per_round);

// Either scoring: rank_all_labels (`exhaustive`) or search_labels (pruned, `per_round` nodes per
// prompt per pass). Gives the same labels either way.
std::vector<LabelRanking> rank_labels(const Decoder& model, const LabelTrie& trie, const PromptBatch& prompts,
                                      const std::vector<std::int64_t>& gold, std::int64_t top_k, bool exhaustive,
                                      std::int64_t per_round);

// What a confidence is computed from: the log-likelihoods of the ranked labels (best first) and
// whether the best is `gold_label`.
LabelScores label_scores(const LabelRanking& ranking, std::int64_t gold_label);

// The confidence of the ranking's best label: softmax over its top labels at `temperature`.
double ranking_confidence(const LabelRanking& ranking, double temperature);

}  // namespace hone
