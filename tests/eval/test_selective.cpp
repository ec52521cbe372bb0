// Confidence, calibration and selective prediction over plain numbers (eval/selective.h), against
// values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "eval/selective.h"

namespace hone {
namespace {

TEST(Selective, ConfidenceIsTheBestLabelsSoftmaxProbability) {
  // softmax([-1, -2]) = [1 / (1 + e^-1), ...]; at T = 2 the gap halves.
  EXPECT_NEAR(confidence({-1.0, -2.0}, 1.0), 1.0 / (1.0 + std::exp(-1.0)), 1e-15);
  EXPECT_NEAR(confidence({-1.0, -2.0}, 2.0), 1.0 / (1.0 + std::exp(-0.5)), 1e-15);
  EXPECT_EQ(confidence({-7.0}, 1.0), 1.0);
  // Far below zero (long answers): still exact, no underflow.
  EXPECT_NEAR(confidence({-1000.0, -1001.0, -1001.0}, 1.0), 1.0 / (1.0 + 2 * std::exp(-1.0)), 1e-15);
  // log(1 - c) = log softmax_1: exact even where c rounds to 1.
  EXPECT_NEAR(log_doubt({-1.0, -2.0}, 1.0), -std::log(1.0 + std::exp(1.0)), 1e-15);
  EXPECT_NEAR(log_doubt({0.0, -60.0}, 1.0), -60.0, 1e-12);
  EXPECT_NEAR(log_doubt({0.0, -900.0, -901.0}, 1.0), -900.0 + std::log(1.0 + std::exp(-1.0)), 1e-9);
  EXPECT_EQ(log_doubt({-3.0}, 1.0), -std::numeric_limits<double>::infinity());
}

TEST(Selective, TheFittedTemperatureMinimisesTheNll) {
  // Overconfident: a confidence of about 0.93 for answers right two times in three, so the best T
  // is above 1.
  std::vector<LabelScores> xs;
  for (int i = 0; i < 40; ++i) xs.push_back({{-0.1 * i, -0.1 * i - 3.0, -0.1 * i - 4.0}, i % 3 != 0});
  xs.push_back({{-2.0}, false});  // one label: no information (and an infinite NLL if counted)
  // The NLL by hand for one example: -log c when right, -log(1 - c) when wrong.
  const double c = confidence(xs[0].loglik, 2.0);
  EXPECT_NEAR(mean_nll({xs[0]}, 2.0), -std::log(1 - c), 1e-12);
  EXPECT_NEAR(mean_nll({xs[1]}, 2.0), -std::log(confidence(xs[1].loglik, 2.0)), 1e-12);
  const double t = fit_temperature(xs);
  EXPECT_GT(t, 1.0);
  const double at = mean_nll(xs, t);
  for (double f : {0.9999, 1.0001, 0.9, 1.1, 0.5, 2.0}) EXPECT_LT(at, mean_nll(xs, t * f)) << f;
  // Underconfident (always right, tiny gaps): the lowest temperature allowed.
  std::vector<LabelScores> sure;
  for (int i = 0; i < 5; ++i) sure.push_back({{-1.0, -1.01}, true});
  EXPECT_NEAR(fit_temperature(sure), 0.01, 1e-12);
  EXPECT_THROW(fit_temperature({{{-1.0}, true}}), InputError);
}

TEST(Selective, CalibrationErrorOverFifteenBins) {
  // Bin (0.6, 0.667]: 0.62 and 0.65, one right (accuracy 0.5, mean confidence 0.635); bin
  // (0.933, 1]: 0.95 and 1.0, both right (accuracy 1, mean confidence 0.975); 0 sits in bin 0.
  const std::vector<double> c{0.62, 0.65, 0.95, 1.0, 0.0};
  const std::vector<bool> ok{true, false, true, true, false};
  EXPECT_NEAR(calibration_error(c, ok), (2 * 0.135 + 2 * 0.025 + 0.0) / 5, 1e-15);
  // 0.1 and 0.125 share bin 1 (1/15, 2/15]; 0.5 is alone in bin 7.
  EXPECT_NEAR(calibration_error({0.1, 0.125, 0.5}, {true, false, true}), (2 * (0.5 - 0.1125) + 0.5) / 3, 1e-15);
  EXPECT_EQ(calibration_error({}, {}), 0.0);
}

TEST(Selective, CurveAreaAndThresholdKeepTiesTogether) {
  // Confidences 0.9 (right), 0.8 and 0.8 (one right), 0.5 (wrong).
  const std::vector<double> c{0.8, 0.9, 0.5, 0.8};
  const std::vector<bool> ok{true, true, false, false};
  const auto curve = coverage_curve(c, ok);
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_DOUBLE_EQ(curve[0].threshold, 0.9);
  EXPECT_DOUBLE_EQ(curve[0].coverage, 0.25);
  EXPECT_DOUBLE_EQ(curve[0].accuracy, 1.0);
  EXPECT_DOUBLE_EQ(curve[1].coverage, 0.75);
  EXPECT_DOUBLE_EQ(curve[1].accuracy, 2.0 / 3);
  EXPECT_DOUBLE_EQ(curve[2].accuracy, 0.5);
  // Risk per example: 0 (0.9), 1/3 twice (the 0.8 tie), 1/2 (0.5).
  EXPECT_NEAR(aurc(c, ok), (0 + 2.0 / 3 + 0.5) / 4, 1e-15);
  // The order of the examples does not matter.
  EXPECT_NEAR(aurc({0.8, 0.8, 0.9, 0.5}, {false, true, true, false}), aurc(c, ok), 1e-15);
  auto t = threshold_for(c, ok, 0.6);
  ASSERT_TRUE(t);
  EXPECT_DOUBLE_EQ(t->threshold, 0.8);
  EXPECT_DOUBLE_EQ(t->coverage, 0.75);
  EXPECT_DOUBLE_EQ(threshold_for(c, ok, 0.5)->threshold, 0.5);
  EXPECT_DOUBLE_EQ(threshold_for(c, ok, 1.0)->threshold, 0.9);
  EXPECT_FALSE(threshold_for({0.3}, {false}, 0.1));
  const CoveragePoint p = at_threshold(c, ok, 0.85);
  EXPECT_DOUBLE_EQ(p.coverage, 0.25);
  EXPECT_DOUBLE_EQ(p.accuracy, 1.0);
  EXPECT_TRUE(std::isnan(at_threshold(c, ok, 0.95).accuracy));
  const auto thin = thin_curve(coverage_curve({0.1, 0.2, 0.3, 0.4, 0.5}, {true, true, true, true, true}), 3);
  ASSERT_EQ(thin.size(), 3u);
  EXPECT_DOUBLE_EQ(thin.front().threshold, 0.5);
  EXPECT_DOUBLE_EQ(thin.back().coverage, 1.0);
}

}  // namespace
}  // namespace hone
