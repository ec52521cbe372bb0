// The metrics of hone eval (eval/metrics.h) against values worked out by hand, and the table
// writer and cell formats that `hone eval` and `hone report` share (report/table.h).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/eval.h"
#include "eval/metrics.h"
#include "report/eval_schema.h"
#include "report/table.h"

namespace hone {
namespace {

TEST(EvalMetrics, ClassificationAccuracyMacroF1AndConfusions) {
  const std::vector<std::string> gold = {"a", "a", "a", "b", "b", "c"};
  const std::vector<std::string> pred = {"a", "a", "b", "b", "a", "a"};
  const ClassificationMetrics m = classification_metrics(gold, pred);
  EXPECT_DOUBLE_EQ(m.accuracy, 3.0 / 6.0);
  // a: P 2/4, R 2/3, F1 4/7; b: P 1/2, R 1/2, F1 1/2; c: 0.
  EXPECT_NEAR(m.macro_f1, (4.0 / 7.0 + 0.5 + 0.0) / 3.0, 1e-12);
  ASSERT_EQ(m.confused.size(), 3u);  // (a, b), (b, a), (c, a): once each, in (gold, predicted) order
  EXPECT_EQ(m.confused[0], std::make_tuple(std::string("a"), std::string("b"), std::int64_t{1}));
  EXPECT_EQ(m.confused[2], std::make_tuple(std::string("c"), std::string("a"), std::int64_t{1}));
  const ClassificationMetrics none = classification_metrics({}, {});
  EXPECT_EQ(none.accuracy, 0.0);
  EXPECT_EQ(none.macro_f1, 0.0);
}

TEST(EvalMetrics, SquadNormalisationTrimAndPercentiles) {
  EXPECT_EQ(normalise("  The Cat, sat on a MAT!  "), "cat sat on mat");
  EXPECT_EQ(normalise("An apple\tand\nthe pear."), "apple and pear");
  EXPECT_EQ(trim(" \t yes\r\n"), "yes");
  EXPECT_EQ(trim(" \n"), "");
  EXPECT_EQ(percentile({}, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.5), 2.5);  // numpy.percentile([1, 2, 3, 4], 50)
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 0.95), 4.8);
  EXPECT_EQ(mean({}), 0.0);
  EXPECT_DOUBLE_EQ(mean({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.95), 7.0);
}

TEST(EvalReportTable, MarkdownAndHtmlFromOneTable) {
  Table t{{"model", "accuracy"}, {{"base", "27.00%"}, {"tuned", "-"}}};
  EXPECT_EQ(t.markdown(), "| model | accuracy |\n|---|---|\n| base | 27.00% |\n| tuned | - |\n");
  EXPECT_EQ(t.html(),
            "<table><tr><th>model</th><th>accuracy</th></tr>\n<tr><td>base</td><td>27.00%</td></tr>\n"
            "<tr><td>tuned</td><td>-</td></tr>\n</table>\n");
}

TEST(EvalReportTable, CellFormatsShowMissingValuesAsADash) {
  EXPECT_EQ(format_percent(0.27), "27.00%");
  EXPECT_EQ(format_fixed(0.123456, 4), "0.1235");
  EXPECT_EQ(format_fixed(2.0 / 3.0, 0), "1");
  EXPECT_EQ(format_mib(1.5 * 1024 * 1024), "1.5");
  EXPECT_EQ(format_millions(134515008), "134.5M");
  for (double missing : {std::nan(""), static_cast<double>(INFINITY)}) {
    EXPECT_EQ(format_percent(missing), "-");
    EXPECT_EQ(format_fixed(missing, 1), "-");
    EXPECT_EQ(format_mib(missing), "-");
    EXPECT_EQ(format_millions(missing), "-");
  }
  const nlohmann::ordered_json row = {{eval_report::kAccuracy, 0.5}, {eval_report::kMacroF1, nullptr}};
  EXPECT_EQ(json_number(row, eval_report::kAccuracy), 0.5);
  EXPECT_TRUE(std::isnan(json_number(row, eval_report::kMacroF1)));
  EXPECT_TRUE(std::isnan(json_number(row, eval_report::kExactMatch)));
}

TEST(EvalReportTable, ChoiceNamesAreTheReportsStrings) {
  EXPECT_STREQ(eval_method_name(EvalMethod::kScore), "score");
  EXPECT_STREQ(eval_method_name(EvalMethod::kGenerate), "generate");
  EXPECT_STREQ(eval_method_name(EvalMethod::kBoth), "both");
  EXPECT_STREQ(label_scoring_name(LabelScoring::kPruned), "pruned");
  EXPECT_STREQ(label_scoring_name(LabelScoring::kExhaustive), "exhaustive");
}

}  // namespace
}  // namespace hone
