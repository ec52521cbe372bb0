#include "core/error.h"

#include "helpers.h"

namespace hone {
namespace {

int checked_divide(int a, int b) {
  HONE_CHECK(b != 0, UsageError, Hint{"pass a non-zero divisor"}, "cannot divide {} by zero", a);
  return a / b;
}

TEST(Error, CheckThrowsTypedErrorWithMessageHintAndLocation) {
  EXPECT_EQ(checked_divide(6, 3), 2);
  try {
    checked_divide(7, 0);
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_EQ(e.message(), "cannot divide 7 by zero");
    EXPECT_EQ(e.hint(), "pass a non-zero divisor");
    EXPECT_EQ(e.where().rfind("tests/core/test_error.cpp:", 0), 0u) << "repository-relative: " << e.where();
    EXPECT_EQ(e.exit_code(), ExitCode::kUsage);
  }
}

TEST(Error, KindsMapToDocumentedExitCodes) {
  EXPECT_EQ(static_cast<int>(RuntimeError(HONE_HERE, "x").exit_code()), 1);
  EXPECT_EQ(static_cast<int>(UsageError(HONE_HERE, "x").exit_code()), 2);
  EXPECT_EQ(static_cast<int>(InputError(HONE_HERE, "x").exit_code()), 3);
  EXPECT_EQ(static_cast<int>(NotImplementedError(HONE_HERE, "x").exit_code()), 1);
}

TEST(Error, ThrowWithoutHint) {
  EXPECT_HONE_ERROR(HONE_THROW(InputError, "{}: line {}: bad", "f.jsonl", 3), InputError, "f.jsonl: line 3: bad");
  try {
    HONE_THROW(RuntimeError, "plain");
  } catch (const Error& e) {
    EXPECT_TRUE(e.hint().empty());
    EXPECT_STREQ(e.what(), "plain");
  }
}

}  // namespace
}  // namespace hone
