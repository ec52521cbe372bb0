// JUnit XML, the test-report format that CI systems (GitHub Actions reporters, GitLab, Jenkins)
// display: <testsuites> holding one <testsuite> per group, each holding <testcase> elements; a
// failed case holds <failure message="...">. The schema CI tools accept is Ant's JUnit report
// (testsuites/testsuite/testcase with name, classname, tests, failures, time).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"

namespace hone {

struct JUnitCase {
  std::string name;       // what was checked
  std::string classname;  // the group it belongs to (CI tools show it as the case's path)
  bool failed = false;
  std::string failure_message;  // <failure message="..."> (one line)
  std::string failure_text;     // the failure's body (details, several lines)
  std::string output;           // <system-out>: what was measured ("" : none)
};

struct JUnitSuite {
  std::string name;
  double seconds = 0;  // the suite's time attribute
  std::vector<JUnitCase> cases;
};

// `s` for XML 1.0 text and attribute values: &, <, >, " and ' as entities, tab, LF and CR as
// character references (attribute values keep them), and the other control characters, which
// XML 1.0 cannot hold at all, as U+FFFD.
std::string xml_text(std::string_view s);

// The document: <?xml ...?><testsuites name="name" tests failures> and the suites.
std::string junit_xml(const std::string& name, const std::vector<JUnitSuite>& suites);

// Writes junit_xml atomically.
void write_junit(const fs::path& path, const std::string& name, const std::vector<JUnitSuite>& suites);

}  // namespace hone
