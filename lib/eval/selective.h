// Confidence and selective prediction over plain numbers (no model, no LibTorch): how sure a
// classifier is of each answer, how well that confidence is calibrated, and how accuracy grows as
// the least confident answers are left out (or handed to another model).
//
//   confidence           the probability of the best label under softmax(log-likelihoods / T) over
//                        the labels scored
//   fit_temperature      the T that minimises the negative log-likelihood of the answers being
//                        right (temperature scaling, after Guo et al. 2017)
//   calibration_error    the expected calibration error over equal-width confidence bins
//   coverage_curve, aurc accuracy against coverage when only the answers at or above a confidence
//                        threshold are kept; the area under the risk (1 - accuracy) curve
//                        (Geifman & El-Yaniv 2017), lower is better
//   threshold_for        the lowest threshold whose kept answers reach a target accuracy
//
// Ties: answers with equal confidence are kept or left out together, so every quantity depends
// only on the values, never on the order of the examples.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hone {

// One example's label scores: the log-likelihoods of the labels its confidence is normalised over
// (the best first) and whether the best one is the gold label.
struct LabelScores {
  std::vector<double> loglik;  // best first; at least one
  bool correct = false;
};

// softmax(loglik / temperature)[0]: the probability of the best label. 1 for a single label.
double confidence(const std::vector<double>& loglik, double temperature);

// log(1 - confidence), computed as log sum_{j > 0} softmax_j (no cancellation near 1). -inf for a
// single label.
double log_doubt(const std::vector<double>& loglik, double temperature);

// The mean negative log-likelihood of the answers being right, the confidence read as the
// probability that the best label is the gold one: -mean[y log c + (1 - y) log(1 - c)]. This is
// the likelihood the reported confidence (and ECE) is about; the gold label's own likelihood over
// every label (Guo et al.'s objective) would need every label scored, which pruned scoring avoids.
// Examples with a single label carry no information and are left out (NaN for none).
double mean_nll(const std::vector<LabelScores>& examples, double temperature);

// The temperature in [0.01, 100] that minimises mean_nll: the best of 601 log-spaced temperatures,
// then a golden-section search between its two neighbours to a relative width of 1e-12.
// InputError when no example has two or more labels.
double fit_temperature(const std::vector<LabelScores>& examples);

// Expected calibration error: sum over `bins` equal-width bins of (n_b / N) |accuracy_b -
// mean confidence_b|. Bin b holds the confidences in (b / bins, (b + 1) / bins], bin 0 also 0.
// 0 for no examples.
double calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct, int bins = 15);

// One point of the accuracy-coverage curve: the answers with confidence >= threshold.
struct CoveragePoint {
  double threshold = 0;
  double coverage = 0;  // kept / all
  double accuracy = 0;  // correct kept / kept
};

// One point per distinct confidence, highest threshold (lowest coverage) first; the last point
// keeps everything.
std::vector<CoveragePoint> coverage_curve(const std::vector<double>& confidence, const std::vector<bool>& correct);

// At most `points` points of the curve (the first and last always), for reports.
std::vector<CoveragePoint> thin_curve(const std::vector<CoveragePoint>& curve, std::size_t points);

// Area under the risk-coverage curve: the mean over the examples of the error rate among the
// answers at least as confident as that example's. 0 is perfect ranking with no errors.
double aurc(const std::vector<double>& confidence, const std::vector<bool>& correct);

// The point of lowest threshold (largest coverage) whose accuracy is at least `target`; none when
// no threshold reaches it.
std::optional<CoveragePoint> threshold_for(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                           double target);

// The answers kept at `threshold`, as a point of the curve (coverage 0 and accuracy NaN when none).
CoveragePoint at_threshold(const std::vector<double>& confidence, const std::vector<bool>& correct, double threshold);

}  // namespace hone
