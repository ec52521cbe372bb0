// Metrics of `hone eval` over plain strings and numbers (no model, no LibTorch): classification
// accuracy, macro-F1 and confusions, SQuAD's answer normalisation, latency means and percentiles.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace hone {

struct ClassificationMetrics {
  double accuracy = 0;  // fraction of predictions equal to the gold label
  // Mean over the classes (gold or predicted) of F1 = 2PR / (P + R), 0 where P + R = 0.
  double macro_f1 = 0;
  std::map<std::string, double> f1;  // per class (gold or predicted): the F1 macro_f1 averages
  // The 10 most frequent (gold, predicted, count) errors, most frequent first (ties: sorted by
  // gold, then predicted).
  std::vector<std::tuple<std::string, std::string, std::int64_t>> confused;
};

// `gold[i]` against `pred[i]`; the two are equally long.
ClassificationMetrics classification_metrics(const std::vector<std::string>& gold, const std::vector<std::string>& pred);

// SQuAD's normalisation (Rajpurkar et al. 2016, evaluate-v1.1.py): lower case, punctuation as
// spaces, no articles (a, an, the), words separated by single spaces.
std::string normalise(const std::string& s);

// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string trim(const std::string& s);

// The mean of `v`; 0 for no values.
double mean(const std::vector<double>& v);

// The `q`-quantile (0..1) of `v`, linearly interpolated between the closest ranks (numpy's
// default); 0 for no values.
double percentile(std::vector<double> v, double q);

}  // namespace hone
