#include "eval/junit.h"

#include <fmt/format.h>

#include "core/fs.h"

namespace hone {

std::string xml_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += "\xEF\xBF\xBD";
        else
          out += c;
    }
  }
  return out;
}

namespace {

std::size_t failures(const JUnitSuite& s) {
  std::size_t n = 0;
  for (const JUnitCase& c : s.cases) n += c.failed;
  return n;
}

std::string testcase_xml(const JUnitCase& c) {
  std::string x =
      fmt::format(R"(    <testcase name="{}" classname="{}" time="0")", xml_text(c.name), xml_text(c.classname));
  if (!c.failed && c.output.empty()) return x + "/>\n";
  x += ">\n";
  if (c.failed)
    x += fmt::format(R"(      <failure message="{}" type="gate">{}</failure>)", xml_text(c.failure_message),
                     xml_text(c.failure_text)) +
         "\n";
  if (!c.output.empty()) x += "      <system-out>" + xml_text(c.output) + "</system-out>\n";
  return x + "    </testcase>\n";
}

}  // namespace

std::string junit_xml(const std::string& name, const std::vector<JUnitSuite>& suites) {
  std::size_t tests = 0, failed = 0;
  double seconds = 0;
  for (const JUnitSuite& s : suites) {
    tests += s.cases.size();
    failed += failures(s);
    seconds += s.seconds;
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += fmt::format(R"(<testsuites name="{}" tests="{}" failures="{}" errors="0" time="{:.3f}">)", xml_text(name), tests,
                   failed, seconds) +
       "\n";
  for (const JUnitSuite& s : suites) {
    x += fmt::format(R"(  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="0" time="{:.3f}">)",
                     xml_text(s.name), s.cases.size(), failures(s), s.seconds) +
         "\n";
    for (const JUnitCase& c : s.cases) x += testcase_xml(c);
    x += "  </testsuite>\n";
  }
  return x + "</testsuites>\n";
}

void write_junit(const fs::path& path, const std::string& name, const std::vector<JUnitSuite>& suites) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  write_file_atomic(path, junit_xml(name, suites));
}

}  // namespace hone
