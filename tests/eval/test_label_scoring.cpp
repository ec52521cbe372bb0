// Constrained label scoring (eval/label_scoring.h) on tiny random models built in C++: the tree
// pass equals one plain forward pass per label, and the pruned search finds exactly the
// exhaustive top k, for every k and nodes-per-round, in batches of prompts of different lengths.
#include "eval/label_scoring.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <string>
#include <vector>

#include "helpers.h"
#include "model/decoder.h"
#include "model/model_fixtures.h"

namespace hone {
namespace {

using Tokens = std::vector<std::int32_t>;

// Log-likelihoods from two computations (one pass with a tree mask, or a KV cache fed in rounds)
// agree to float32 rounding.
constexpr double kTol = 1e-5;

// Labels whose answers share prefixes: 7 -> 9 -> 11 is shared by two, 7 -> 9 by three, 7 by five;
// answers of 1 to 4 tokens.
const std::vector<Tokens> kAnswers = {{5}, {7, 3}, {7, 4}, {7, 9, 2}, {7, 9, 11, 6}, {12, 3}, {12, 8, 8},
                                      {20, 21, 22, 23}, {7, 9, 11, 40}};

// Prompts of different lengths (1 to 13 tokens), so that batches are right-padded.
const std::vector<Tokens> kPrompts = {{1, 2, 3},
                                      {4, 5, 6, 7, 8, 9, 10},
                                      {11},
                                      {30, 31, 32, 33, 34},
                                      {50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62}};

std::vector<std::string> names_of(const std::vector<Tokens>& answers) {
  std::vector<std::string> names;
  for (std::size_t l = 0; l < answers.size(); ++l) names.push_back("label" + std::to_string(l));
  return names;
}

PromptBatch batch_of(const std::vector<Tokens>& prompts) {
  PromptBatch b;
  for (const auto& p : prompts) b.push_back(&p);
  return b;
}

// The reference: log p(answer | prompt) from one plain causal forward pass over prompt + answer.
double plain_log_likelihood(const Decoder& model, const Tokens& prompt, const Tokens& answer) {
  std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
  ids.insert(ids.end(), answer.begin(), answer.end());
  ForwardInput in;
  in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  const at::Tensor logp = at::log_softmax(model.forward(in).to(at::kFloat), -1)[0];  // [T, vocab]
  double sum = 0;
  for (std::size_t i = 0; i < answer.size(); ++i)
    sum += logp[static_cast<std::int64_t>(prompt.size() + i) - 1][answer[i]].item<double>();
  return sum;
}

// `pruned` has the labels and log-likelihoods of `exhaustive`, rank by rank. Two labels whose
// exhaustive log-likelihoods are closer than rounding may come in either order.
void expect_same_ranking(const LabelRanking& pruned, const LabelRanking& exhaustive, const at::Tensor& scores) {
  ASSERT_EQ(pruned.top.size(), exhaustive.top.size());
  for (std::size_t r = 0; r < pruned.top.size(); ++r) {
    const auto [p_score, p_label] = pruned.top[r];
    const auto [e_score, e_label] = exhaustive.top[r];
    EXPECT_NEAR(p_score, e_score, kTol) << "rank " << r;
    if (p_label != e_label) {
      EXPECT_NEAR(scores[p_label].item<double>(), scores[e_label].item<double>(), 10 * kTol)
          << "rank " << r << ": label " << p_label << " instead of " << e_label;
    }
  }
  if (std::isnan(exhaustive.gold)) {
    EXPECT_TRUE(std::isnan(pruned.gold));
  } else {
    EXPECT_NEAR(pruned.gold, exhaustive.gold, kTol);
  }
}

// A tiny random model of a family. "llama-flat": llama with its output head scaled down, so that
// next-token distributions are nearly uniform and labels of one length score within a few
// hundredths of each other. "llama-sharp": scaled up, so that some next tokens are almost certain
// and a node's bound is close to its labels' scores (the pruning decides at the margin).
ModelWeights tiny_weights(const std::string& name) {
  const bool variant = name.rfind("llama-", 0) == 0;
  ModelWeights w = test::random_weights(test::tiny_config(variant ? "llama" : name), 11);
  if (name == "llama-flat") w.tensors.at("lm_head.weight") *= 0.05;
  if (name == "llama-sharp") w.tensors.at("lm_head.weight") *= 5.0;
  return w;
}

class EvalLabelScoring : public ::testing::TestWithParam<std::string> {
 protected:
  EvalLabelScoring() : model_(tiny_weights(GetParam())) {
    // Matrices of a few dozen rows: more threads only add OpenMP's waiting (orders of magnitude
    // when other processes share the cores).
    at::set_num_threads(1);
  }
  c10::InferenceMode guard_;
  Decoder model_;
};

TEST_P(EvalLabelScoring, TreePassEqualsOneForwardPerLabel) {
  const LabelTrie trie(kAnswers, names_of(kAnswers));
  ASSERT_EQ(trie.label_count(), static_cast<std::int64_t>(kAnswers.size()));
  const at::Tensor scores = score_labels(model_, trie, batch_of(kPrompts));
  ASSERT_EQ(scores.sizes(), at::IntArrayRef({static_cast<std::int64_t>(kPrompts.size()), trie.label_count()}));
  for (std::size_t b = 0; b < kPrompts.size(); ++b)
    for (std::size_t l = 0; l < kAnswers.size(); ++l)
      EXPECT_NEAR(scores[b][l].item<double>(), plain_log_likelihood(model_, kPrompts[b], kAnswers[l]), 1e-4)
          << "prompt " << b << " label " << l;
}

TEST_P(EvalLabelScoring, PrunedSearchFindsTheExhaustiveTopK) {
  const LabelTrie trie(kAnswers, names_of(kAnswers));
  const PromptBatch prompts = batch_of(kPrompts);
  const at::Tensor scores = score_labels(model_, trie, prompts);
  const std::vector<std::int64_t> gold = {0, 4, 8, 6, 3};  // leaves at depths 0, 3, 3, 2, 2
  const std::int64_t L = trie.label_count();
  const auto internal = static_cast<std::int64_t>(trie.internal.size());
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{2}, L}) {
    const auto exhaustive = rank_all_labels(model_, trie, prompts, gold, k);
    for (std::int64_t per_round : {1, 2, 5}) {
      SCOPED_TRACE("top " + std::to_string(k) + ", " + std::to_string(per_round) + " per round");
      const auto pruned = search_labels(model_, trie, prompts, gold, k, per_round);
      ASSERT_EQ(pruned.size(), prompts.size());
      for (std::size_t b = 0; b < prompts.size(); ++b) {
        SCOPED_TRACE("prompt " + std::to_string(b));
        EXPECT_EQ(exhaustive[b].fed, internal);
        expect_same_ranking(pruned[b], exhaustive[b], scores[b]);
        // Each node is fed at most once; every label complete needs every internal node.
        EXPECT_LE(pruned[b].fed, internal);
        if (k == L) {
          EXPECT_EQ(pruned[b].fed, internal);
        }
      }
    }
  }
}

TEST_P(EvalLabelScoring, BatchedPromptsEqualPromptsAlone) {
  const LabelTrie trie(kAnswers, names_of(kAnswers));
  const std::vector<std::int64_t> gold = {1, 2, 3, 5, 7};
  const at::Tensor batched = score_labels(model_, trie, batch_of(kPrompts));
  const auto searched = search_labels(model_, trie, batch_of(kPrompts), gold, 3, 2);
  for (std::size_t b = 0; b < kPrompts.size(); ++b) {
    SCOPED_TRACE("prompt " + std::to_string(b));
    const PromptBatch one = {&kPrompts[b]};
    const at::Tensor alone = score_labels(model_, trie, one);
    EXPECT_LT((alone[0] - batched[b]).abs().max().item<double>(), 1e-5);
    const auto single = search_labels(model_, trie, one, {gold[b]}, 3, 2);
    expect_same_ranking(searched[b], single[0], alone[0]);
  }
}

TEST_P(EvalLabelScoring, ManyLabelsGrowTheCacheAndDropFinishedPrompts) {
  // 30 labels of 3 tokens under 6 first tokens: 36 internal nodes; one per round outgrows the
  // cache's first capacity (prompt + 16), and prompts finish at different rounds.
  std::vector<Tokens> answers;
  for (std::int32_t a = 3; a < 9; ++a)
    for (std::int32_t c = 10; c < 15; ++c) answers.push_back({a, c, (a * 7 + c * 3) % 97});
  const LabelTrie trie(answers, names_of(answers));
  ASSERT_EQ(trie.internal.size(), 36u);
  const PromptBatch prompts = batch_of(kPrompts);
  const at::Tensor scores = score_labels(model_, trie, prompts);
  const std::vector<std::int64_t> gold = {0, 29, 13, -1, 7};  // -1: no gold label
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{4}, trie.label_count()}) {
    SCOPED_TRACE("top " + std::to_string(k));
    const auto exhaustive = rank_all_labels(model_, trie, prompts, gold, k);
    const auto pruned = search_labels(model_, trie, prompts, gold, k, /*per_round=*/1);
    for (std::size_t b = 0; b < prompts.size(); ++b) expect_same_ranking(pruned[b], exhaustive[b], scores[b]);
    EXPECT_TRUE(std::isnan(pruned[3].gold));
  }
}

TEST_P(EvalLabelScoring, SingleLabel) {
  const std::vector<Tokens> answers = {{7, 9}};
  const LabelTrie trie(answers, names_of(answers));
  const PromptBatch prompts = batch_of(kPrompts);
  const auto pruned = search_labels(model_, trie, prompts, {0, 0, 0, 0, 0}, 1, 2);
  const auto exhaustive = rank_all_labels(model_, trie, prompts, {0, 0, 0, 0, 0}, 1);
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    ASSERT_EQ(pruned[b].top.size(), 1u);
    EXPECT_EQ(pruned[b].top[0].second, 0);
    EXPECT_NEAR(pruned[b].top[0].first, plain_log_likelihood(model_, kPrompts[b], answers[0]), 1e-4);
    EXPECT_EQ(pruned[b].gold, pruned[b].top[0].first);
    EXPECT_EQ(pruned[b].fed, 1);  // the one internal node, 7
    expect_same_ranking(pruned[b], exhaustive[b], score_labels(model_, trie, {prompts[b]})[0]);
  }
}

// Labels picked from the model's own distributions so that pruning decides at the margin. A =
// (a1, a2) with a2 the likeliest token after a1; X, a label the search completes before it looks
// at a1 (one token, or two under a likelier first token), scores just below A. Then a1's bound
// s(a1) = s(A) - log p(a2 | a1) lies barely above the threshold s(X), and only a search that
// feeds exactly the nodes whose bound reaches the threshold finds that A beats X.
TEST(EvalLabelScoringMargin, ANodeJustAboveTheThresholdIsFed) {
  at::set_num_threads(1);
  c10::InferenceMode guard;
  const Decoder model(tiny_weights("llama-sharp"));
  const std::int64_t V = model.config().vocab_size;
  for (const Tokens& prompt : kPrompts) {
    // first[t]: log p(t | prompt); second[t][u]: log p(u | prompt, t).
    std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
    ids.push_back(0);
    at::Tensor batch = at::tensor(ids, at::kLong).unsqueeze(0).repeat({V, 1});
    batch.select(1, -1).copy_(at::arange(V, at::kLong));
    ForwardInput in;
    in.input_ids = batch;
    const at::Tensor logp = at::log_softmax(model.forward(in).to(at::kDouble), -1);  // [V, P + 1, V]
    const at::Tensor first = logp[0][-2], second = logp.select(1, -1);
    const at::Tensor pairs = first.unsqueeze(1) + second;  // [V, V]: log p(t, u | prompt)
    double best_margin = INFINITY;
    Tokens a, x;
    for (std::int64_t a1 = 0; a1 < V; ++a1) {
      const std::int64_t a2 = second[a1].argmax().item<std::int64_t>();
      const double s_a = pairs[a1][a2].item<double>();
      // Candidates for X below s(A) (by more than rounding): one token other than a1, or two under
      // a likelier first token.
      const double below = s_a - 1e-3;
      const at::Tensor one = at::where(first < below, first, -INFINITY).index_fill(0, at::tensor({a1}), -INFINITY);
      const at::Tensor two = at::where((first > first[a1]).unsqueeze(1) & (pairs < below), pairs, -INFINITY);
      const bool one_wins = one.max().item<double>() >= two.max().item<double>();
      const double s_x = one_wins ? one.max().item<double>() : two.max().item<double>();
      if (first[a1].item<double>() - s_x >= best_margin) continue;
      best_margin = first[a1].item<double>() - s_x;
      a = {static_cast<std::int32_t>(a1), static_cast<std::int32_t>(a2)};
      const std::int64_t flat = two.argmax().item<std::int64_t>();
      x = one_wins ? Tokens{static_cast<std::int32_t>(one.argmax().item<std::int64_t>())}
                   : Tokens{static_cast<std::int32_t>(flat / V), static_cast<std::int32_t>(flat % V)};
    }
    EXPECT_LT(best_margin, 0.01) << "no close call to test";
    const LabelTrie trie({x, a}, {"X", "A"});
    const auto found = search_labels(model, trie, {&prompt}, {-1}, /*top_k=*/1, /*per_round=*/1);
    ASSERT_EQ(found[0].top.size(), 1u);
    EXPECT_EQ(found[0].top[0].second, 1) << "A's first token bound exceeds X by " << best_margin;
    const at::Tensor scores = score_labels(model, trie, {&prompt})[0];
    EXPECT_GT(scores[1].item<double>(), scores[0].item<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(Families, EvalLabelScoring, ::testing::Values("llama", "qwen2", "llama-flat"));

// ---------------------------------------------------------------------------- the tree

TEST(EvalLabelTrie, SharedPrefixesAreOneNode) {
  const LabelTrie trie(kAnswers, names_of(kAnswers));
  // Nodes: 5 | 7, 3, 4, 9, 2, 11, 6, 40 | 12, 3, 8, 8 | 20, 21, 22, 23.
  EXPECT_EQ(trie.nodes.size(), 17u);
  EXPECT_EQ(trie.roots.size(), 4u);
  // Internal: 7, 9, 11 | 12, 8 | 20, 21, 22 (the slots fed after the prompt).
  EXPECT_EQ(trie.internal.size(), 8u);
  EXPECT_EQ(trie.pair_token.size(), 25u);  // every answer token of every label
  for (std::int64_t l = 0; l < trie.label_count(); ++l) {
    // A label's leaf, walked up to its root, spells its answer.
    Tokens spelt;
    for (std::int64_t n = trie.end_node[l]; n >= 0; n = trie.nodes[n].parent) spelt.insert(spelt.begin(), trie.nodes[n].token);
    EXPECT_EQ(spelt, kAnswers[l]);
    EXPECT_EQ(trie.label_of[trie.end_node[l]], l);
  }
}

TEST(EvalLabelTrie, LabelsThatCannotBeToldApartAreRefused) {
  // A label whose answer is a prefix of another's: scoring would compare a label with its own
  // beginning.
  EXPECT_HONE_ERROR(LabelTrie({{7, 9}, {7, 9, 2}}, {"short", "long"}), InputError,
                    "label 'short' tokenizes as a prefix of another label's answer");
  EXPECT_HONE_ERROR(LabelTrie({{7, 9, 2}, {7, 9}}, {"long", "short"}), InputError,
                    "label 'short' tokenizes as a prefix of another label's answer");
  EXPECT_HONE_ERROR(LabelTrie({{3, 4}, {5}, {3, 4}}, {"a", "b", "c"}), InputError,
                    "labels 'c' and 'a' have the same answer tokens");
  EXPECT_HONE_ERROR(LabelTrie({{3}, {}}, {"a", "empty"}), InputError, "label 'empty' has no answer tokens");
}

TEST(EvalLabelTrie, BadArgumentsAreUsageErrors) {
  Decoder model(test::random_weights(test::tiny_config("llama"), 11));
  const LabelTrie trie(kAnswers, names_of(kAnswers));
  const PromptBatch prompts = batch_of(kPrompts);
  EXPECT_HONE_ERROR(search_labels(model, trie, prompts, {0}, 1, 2), UsageError, "1 gold labels for 5 prompts");
  EXPECT_HONE_ERROR(search_labels(model, trie, prompts, {0, 0, 0, 0, 9}, 1, 2), UsageError, "gold label 9 of 9 labels");
  EXPECT_HONE_ERROR(search_labels(model, trie, prompts, {0, 0, 0, 0, 0}, 10, 2), UsageError, "the top 10 of 9 labels");
  EXPECT_HONE_ERROR(search_labels(model, trie, prompts, {0, 0, 0, 0, 0}, 1, 0), UsageError, "0 tree nodes per round");
  EXPECT_HONE_ERROR(rank_all_labels(model, trie, prompts, {0, 0, 0, 0, 0}, 0), UsageError, "the top 0 of 9 labels");
}

}  // namespace
}  // namespace hone
