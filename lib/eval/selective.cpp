#include "eval/selective.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace hone {

namespace {

// log sum_{i >= from} exp(beta z_i - m), m = beta max z.
double shifted_log_sum(const std::vector<double>& z, double beta, double m, std::size_t from) {
  double s = 0;
  for (std::size_t i = from; i < z.size(); ++i) s += std::exp(beta * z[i] - m);
  return std::log(s);
}

// Indices of the examples, most confident first (ties in index order; callers treat ties as one).
std::vector<std::size_t> by_confidence(const std::vector<double>& confidence) {
  std::vector<std::size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return confidence[a] > confidence[b]; });
  return order;
}

void check_lengths(const std::vector<double>& confidence, const std::vector<bool>& correct) {
  HONE_CHECK(confidence.size() == correct.size(), InputError, "{} confidences for {} answers", confidence.size(),
             correct.size());
}

}  // namespace

double confidence(const std::vector<double>& loglik, double temperature) {
  HONE_CHECK(!loglik.empty(), InputError, "no label scores to take a confidence from");
  // (beta z_0 - m) - log sum exp(beta z - m), m = beta max z: no cancellation of large scores.
  const double beta = 1.0 / temperature, m = beta * *std::max_element(loglik.begin(), loglik.end());
  return std::exp((beta * loglik[0] - m) - shifted_log_sum(loglik, beta, m, 0));
}

double log_doubt(const std::vector<double>& loglik, double temperature) {
  if (loglik.size() < 2) return -std::numeric_limits<double>::infinity();
  // Each sum shifted by its own largest term, so that neither underflows to log 0.
  const double beta = 1.0 / temperature, m = beta * *std::max_element(loglik.begin(), loglik.end());
  const double m1 = beta * *std::max_element(loglik.begin() + 1, loglik.end());
  return (m1 + shifted_log_sum(loglik, beta, m1, 1)) - (m + shifted_log_sum(loglik, beta, m, 0));
}

double mean_nll(const std::vector<LabelScores>& examples, double temperature) {
  double s = 0;
  std::int64_t n = 0;
  for (const LabelScores& x : examples) {
    if (x.loglik.size() < 2) continue;
    s -= x.correct ? std::log(confidence(x.loglik, temperature)) : log_doubt(x.loglik, temperature);
    ++n;
  }
  return n ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

double fit_temperature(const std::vector<LabelScores>& examples) {
  const bool any = std::any_of(examples.begin(), examples.end(), [](const LabelScores& x) { return x.loglik.size() > 1; });
  HONE_CHECK(any, InputError, Hint{"calibrate with --score-top 2 or more"},
             "no example to fit a temperature on: none was scored on two or more labels");
  // The grid: log T from log 0.01 to log 100 in 600 steps.
  constexpr int kSteps = 600;
  const double lo = std::log(0.01), hi = std::log(100.0);
  auto at = [&](int i) { return lo + (hi - lo) * i / kSteps; };
  auto f = [&](double log_t) { return mean_nll(examples, std::exp(log_t)); };
  int best = 0;
  double best_value = f(at(0));
  for (int i = 1; i <= kSteps; ++i) {
    const double v = f(at(i));
    if (v < best_value) {
      best = i;
      best_value = v;
    }
  }
  // Golden-section search over [best - 1, best + 1] (clamped to the range).
  double a = at(std::max(0, best - 1)), b = at(std::min(kSteps, best + 1));
  const double g = (std::sqrt(5.0) - 1) / 2;
  double c = b - g * (b - a), d = a + g * (b - a), fc = f(c), fd = f(d);
  while (b - a > 1e-12) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const double t = std::exp((a + b) / 2);
  return f(std::log(t)) <= best_value ? t : std::exp(at(best));
}

double calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct, int bins) {
  check_lengths(confidence, correct);
  if (confidence.empty()) return 0;
  std::vector<double> conf_sum(static_cast<std::size_t>(bins), 0.0), right(static_cast<std::size_t>(bins), 0.0);
  std::vector<std::int64_t> count(static_cast<std::size_t>(bins), 0);
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    // (b / bins, (b + 1) / bins]: ceil(c * bins) - 1, and 0 for c = 0.
    const double c = std::clamp(confidence[i], 0.0, 1.0);
    const auto b = static_cast<std::size_t>(std::clamp(static_cast<int>(std::ceil(c * bins)) - 1, 0, bins - 1));
    conf_sum[b] += c;
    right[b] += correct[i] ? 1.0 : 0.0;
    ++count[b];
  }
  double ece = 0;
  const auto n = static_cast<double>(confidence.size());
  for (std::size_t b = 0; b < count.size(); ++b)
    if (count[b]) ece += std::abs(right[b] - conf_sum[b]) / n;  // (n_b / N) |acc_b - conf_b|
  return ece;
}

std::vector<CoveragePoint> coverage_curve(const std::vector<double>& confidence, const std::vector<bool>& correct) {
  check_lengths(confidence, correct);
  const std::vector<std::size_t> order = by_confidence(confidence);
  std::vector<CoveragePoint> curve;
  const auto n = static_cast<double>(order.size());
  std::int64_t kept = 0, right = 0;
  for (std::size_t j = 0; j < order.size(); ++j) {
    ++kept;
    right += correct[order[j]] ? 1 : 0;
    const double c = confidence[order[j]];
    if (j + 1 < order.size() && confidence[order[j + 1]] == c) continue;  // a tie: keep it whole
    curve.push_back({c, static_cast<double>(kept) / n, static_cast<double>(right) / static_cast<double>(kept)});
  }
  return curve;
}

std::vector<CoveragePoint> thin_curve(const std::vector<CoveragePoint>& curve, std::size_t points) {
  if (curve.size() <= points || points < 2) return curve;
  std::vector<CoveragePoint> out;
  for (std::size_t i = 0; i < points; ++i) out.push_back(curve[i * (curve.size() - 1) / (points - 1)]);
  return out;
}

double aurc(const std::vector<double>& confidence, const std::vector<bool>& correct) {
  check_lengths(confidence, correct);
  if (confidence.empty()) return 0;
  // Each point stands for the examples of its tie group, all of which see its risk.
  double area = 0, covered = 0;
  for (const CoveragePoint& p : coverage_curve(confidence, correct)) {
    area += (p.coverage - covered) * (1.0 - p.accuracy);
    covered = p.coverage;
  }
  return area;
}

std::optional<CoveragePoint> threshold_for(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                           double target) {
  std::optional<CoveragePoint> best;
  for (const CoveragePoint& p : coverage_curve(confidence, correct))
    if (p.accuracy >= target) best = p;  // later points have lower thresholds and more coverage
  return best;
}

CoveragePoint at_threshold(const std::vector<double>& confidence, const std::vector<bool>& correct, double threshold) {
  check_lengths(confidence, correct);
  std::int64_t kept = 0, right = 0;
  for (std::size_t i = 0; i < confidence.size(); ++i)
    if (confidence[i] >= threshold) {
      ++kept;
      right += correct[i] ? 1 : 0;
    }
  const double n = static_cast<double>(std::max<std::size_t>(1, confidence.size()));
  return {threshold, static_cast<double>(kept) / n,
          kept ? static_cast<double>(right) / static_cast<double>(kept) : std::numeric_limits<double>::quiet_NaN()};
}

}  // namespace hone
