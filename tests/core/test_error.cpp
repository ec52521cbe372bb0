#include "core/error.h"
#include "core/json_file.h"

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

namespace hone {
namespace {

// json_value: an integer key holds an integer that fits; a float (1e90 would be undefined
// behaviour to convert), a negative count or an out-of-range value is the file's error.
TEST(JsonValue, IntegerKeysHoldIntegersThatFit) {
  const nlohmann::json j = nlohmann::json::parse(
      R"({"n": 7, "big": 1.3e90, "half": 2.5, "neg": -3, "huge": 18446744073709551615, "s": "x"})");
  EXPECT_EQ(json_value<std::int64_t>(j, "n", 0, "c.json"), 7);
  EXPECT_EQ(json_value<std::int64_t>(j, "absent", 4, "c.json"), 4);
  EXPECT_EQ(json_value<std::int64_t>(j, "neg", 0, "c.json"), -3);
  EXPECT_DOUBLE_EQ(json_value<double>(j, "big", 0.0, "c.json"), 1.3e90);
  for (const char* key : {"big", "half", "huge", "s"})
    EXPECT_THROW(json_value<std::int64_t>(j, key, 0, "c.json"), InputError) << key;
  EXPECT_THROW(json_value<std::uint32_t>(j, "neg", 0u, "c.json"), InputError);
  EXPECT_THROW(json_value<std::int32_t>(j, "huge", 0, "c.json"), InputError);
  try {
    json_value<std::int64_t>(j, "big", 0, "c.json");
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("c.json: 'big' has the wrong type: 1.3e+90"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hone
