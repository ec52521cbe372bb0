#include "report/report.h"

#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <optional>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/measure.h"
#include "core/json_file.h"
#include "core/plot.h"
#include "report/eval_schema.h"
#include "report/gate_section.h"
#include "report/routing.h"
#include "report/selective_charts.h"
#include "report/sizes.h"
#include "report/table.h"

namespace hone {

using ordered_json = nlohmann::ordered_json;

namespace {

// The JSON object in `p`; read_json_object's errors, with what the file was expected to be.
ordered_json read_json_file(const fs::path& p, const std::string& what) {
  try {
    return read_json_object<ordered_json>(p);
  } catch (const InputError& e) {
    throw InputError(HONE_HERE, fmt::format("{} ({})", e.message(), what), e.hint());
  }
}

// `s` as one shell word in single quotes.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `s` as a Python string literal in single quotes, to be placed inside a double-quoted shell word.
std::string py_in_dquotes(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') q += '\\';
    if (c == '\n') {
      q += "\\n";
      continue;
    }
    q += c;
  }
  q += "'";
  std::string out;  // then escaped for the shell's double quotes
  for (char c : q) {
    if (c == '"' || c == '$' || c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// How to serve an export, as shell commands (one per line). `model`: the evaluated model it holds
// (the Ollama model's name; "tuned" when none is named). `system`: the system message the data
// were ingested with (ingest --system), which the served model must be given too.
// `chat_template`: the template training used, given to servers of outputs that lack it (a GGUF
// LoRA adapter; a PEFT adapter carries it as chat_template.jinja, which vLLM is pointed at).
std::string serve_command(const std::string& format, const fs::path& path, const std::string& model,
                          const fs::path& base, const std::optional<std::string>& system,
                          const fs::path& chat_template) {
  const std::string p = path.string(), b = base.empty() ? "BASE" : base.string();
  std::error_code ec;
  const fs::path peft_template = path / "chat_template.jinja";
  const fs::path vllm_template = !chat_template.empty() ? chat_template
                                 : fs::is_regular_file(peft_template, ec) ? peft_template
                                                                          : fs::path();
  const std::string vllm_flag = vllm_template.empty() ? "" : " --chat-template " + shell_quote(vllm_template.string());
  const std::string llama_flag =
      chat_template.empty() ? "" : " --jinja --chat-template-file " + shell_quote(chat_template.string());
  const std::string sys_flag = system ? " -sys " + shell_quote(*system) : "";
  const std::string sys_note =
      system ? "  # send the system message " + shell_quote(*system) + " with every request" : "";
  const std::string ollama_name = shell_quote(model.empty() ? "tuned" : model);
  if (format == "gguf")
    return fmt::format("llama-cli -m {}{}\nprintf '%s\\n' {}{} > Modelfile && ollama create {} -f Modelfile "
                       "&& ollama run {}",
                       p + " -cnv", sys_flag, shell_quote("FROM " + p),
                       system ? " " + shell_quote("SYSTEM \"\"\"" + *system + "\"\"\"") : "", ollama_name, ollama_name);
  if (format == "gguf-lora") return fmt::format("llama-cli -m {} --lora {} -cnv{}{}", b, p, llama_flag, sys_flag);
  const std::string messages =
      system ? "[{'role': 'system', 'content': " + py_in_dquotes(*system) + "}, {'role': 'user', 'content': 'Hello'}]"
             : "'Hello'";
  if (format == "hf")
    return fmt::format("vllm serve {0}{2}\npython -c \"from transformers import pipeline; "
                       "print(pipeline('text-generation', model='{0}')({1})[0]['generated_text'])\"", p, messages,
                       sys_note);
  if (format == "peft")
    return fmt::format("vllm serve HF_BASE --enable-lora --lora-modules tuned={0}{3}{2}\npython -c \"from transformers import "
                       "AutoModelForCausalLM; from peft import PeftModel; "
                       "m = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained('HF_BASE'), '{0}')\"  "
                       "# HF_BASE: the base as an HF directory (hone export -m {1} --format hf -o HF_BASE)", p, b, sys_note, vllm_flag);
  return "";
}

// The models of the eval reports, in order, each with the keys of the report's table, the test
// set they were evaluated on (the first report's; every report must name the same data and split),
// the cascade of the report that has one (null: none), and the gates of the reports that have one.
struct Evaluated {
  ordered_json models = ordered_json::array();
  ordered_json test_set;
  ordered_json cascade;
  std::string cascade_src;  // the report it came from
  ordered_json gates = ordered_json::array();  // read_gate's objects, in --eval order
};

Evaluated read_evals(const std::vector<fs::path>& evals) {
  namespace k = eval_report;
  Evaluated out;
  std::set<std::string> names;  // of the models of the reports read so far
  for (const fs::path& e : evals) {
    const ordered_json r = read_json_file(e, "a hone eval report");
    HONE_CHECK(r.contains(k::kModels) && r[k::kModels].is_array(), InputError, "{}: no '{}' (not a hone eval report)",
               e.string(), k::kModels);
    const std::string src = e.string();
    const ordered_json here = {{k::kData, json_value<std::string>(r, k::kData, "", src)},
                               {k::kSplit, json_value<std::string>(r, k::kSplit, "", src)},
                               {k::kTask, json_value<std::string>(r, k::kTask, "", src)},
                               {k::kExamples, r.value(k::kExamples, ordered_json(nullptr))},
                               {k::kSubset, json_value<std::string>(r, k::kSubset, "all", src)},
                               {k::kLabels, r.value(k::kLabels, ordered_json(nullptr))}};
    ordered_json& test_set = out.test_set;
    if (test_set.is_null()) test_set = here;
    HONE_CHECK(here[k::kSplit] == test_set[k::kSplit] && here[k::kData] == test_set[k::kData], InputError,
               Hint{"evaluate every model on the same data set and split"},
               "{}: evaluated on split '{}' of {}, the first report on split '{}' of {}", e.string(),
               here[k::kSplit].get<std::string>(), here[k::kData].get<std::string>(),
               test_set[k::kSplit].get<std::string>(), test_set[k::kData].get<std::string>());
    // A cascade's report also holds its two models alone: a model an earlier report already gave is
    // kept from that report, and the repeated row is left out.
    const bool has_cascade = r.contains(k::kCascade) && !r[k::kCascade].is_null();
    if (has_cascade) {
      HONE_CHECK(out.cascade.is_null(), InputError, Hint{"give hone report one cascade"},
                 "{}: a second cascade (the first is in {})", src, out.cascade_src);
      out.cascade = read_cascade(r[k::kCascade], r[k::kModels], here[k::kSubset].get<std::string>(), src);
      out.cascade_src = src;
    }
    if (r.contains(k::kGate) && !r[k::kGate].is_null()) out.gates.push_back(read_gate(r[k::kGate], src));
    const std::set<std::string> earlier = names;
    for (const auto& m : r[k::kModels]) {
      HONE_CHECK(m.is_object(), InputError, "{}: '{}' holds {}, expected objects", src, k::kModels, m.dump());
      const std::string name = json_value<std::string>(m, k::kName, "", src);
      if (has_cascade && earlier.count(name)) {
        // The cascade's run calibrated its models: its confidence replaces an uncalibrated one.
        const bool calibrated = m.contains(k::kSelective) && m[k::kSelective].is_object() &&
                                m[k::kSelective].contains(k::kCalibration) && m[k::kSelective][k::kCalibration].is_object();
        for (auto& row : out.models)
          if (calibrated && row[k::kName] == name) row[k::kSelective] = m[k::kSelective];
        continue;
      }
      if (!names.insert(name).second) {
        if (out.cascade.is_object() && !has_cascade)
          HONE_THROW(InputError, Hint{"give the cascade's report after the reports of its models"},
                     "{}: a second model named '{}'", src, name);
        HONE_THROW(InputError, "{}: a second model named '{}'", src, name);
      }
      ordered_json row = {{k::kName, name}};
      for (const char* key : {k::kAccuracy, k::kMacroF1, k::kExactMatch, k::kFormatValidity, k::kLatencyMsP50,
                              k::kLatencyMsP95, k::kLatencyMsMean, k::kTokensPerS, k::kParams, k::kAdapterParams,
                              k::kBytes, k::kModel, k::kAdapter, k::kSelective, k::kBaselineComparison})
        row[key] = m.contains(key) ? m[key] : ordered_json(nullptr);
      row[k::kExamples] = here[k::kExamples];
      row[k::kSubset] = here[k::kSubset];
      row["train_seconds"] = nullptr;
      out.models.push_back(row);
    }
  }
  return out;
}

// The training runs (name, run directory), each attached to the evaluated model of that name.
ordered_json read_runs(const std::vector<std::pair<std::string, fs::path>>& named_runs, ordered_json& models) {
  ordered_json runs = ordered_json::array();
  for (const auto& [name, dir] : named_runs) {
    const ordered_json run = read_json_file(dir / "run.json", "a lora-train or distill run directory");
    const std::string command = json_value<std::string>(run, "command", "lora-train", (dir / "run.json").string());
    bool found = false;
    for (auto& m : models)
      if (m[eval_report::kName] == name) {
        m["train_seconds"] = run.value("train_seconds", ordered_json(nullptr));
        found = true;
      }
    HONE_CHECK(found, UsageError, "--run {}={}: no evaluated model is named '{}'", name, dir.string(), name);
    runs.push_back({{"name", name},
                    {"dir", dir.string()},
                    {"command", command},
                    {"steps", run.value("steps", ordered_json(nullptr))},
                    {"train_seconds", run.value("train_seconds", ordered_json(nullptr))},
                    {"tokens_per_s", run.value("tokens_per_s", ordered_json(nullptr))},
                    {"best_valid_loss", run.value("best_valid_loss", ordered_json(nullptr))},
                    {"trainable_parameters", run.value("trainable_parameters", ordered_json(nullptr))}});
  }
  return runs;
}

// The exports, each with its size, stored weight type, model (checked against the evaluated ones)
// and serve commands.
ordered_json read_exports(const ReportOptions& o, const ordered_json& models, const std::optional<std::string>& system) {
  ordered_json exports = ordered_json::array();
  for (const ReportExport& e : o.exports) {
    const std::string spec = (e.model.empty() ? "" : e.model + ":") + e.format + "=" + e.path.string();
    HONE_CHECK(fs::exists(e.path), InputError, "--export {}: no such file or directory", spec);
    const bool known = e.model.empty() || std::any_of(models.begin(), models.end(), [&](const ordered_json& m) {
                         return m[eval_report::kName] == e.model;
                       });
    HONE_CHECK(known, UsageError, Hint{"MODEL is the name of a model of an --eval report"},
               "--export {}: no evaluated model is named '{}'", spec, e.model);
    const std::string weights = stored_weights(e.path);
    exports.push_back({{"format", e.format},
                       {"path", e.path.string()},
                       {"bytes", disk_usage(e.path)},
                       {"serve", serve_command(e.format, e.path, e.model, o.base_model, system, o.chat_template)},
                       {"model", e.model.empty() ? ordered_json(nullptr) : ordered_json(e.model)},
                       {"weights", weights.empty() ? ordered_json(nullptr) : ordered_json(weights)}});
  }
  return exports;
}

// The models side by side, and the cascade (null: none) as a last row of the cells it has; `escape`
// turns a text into a cell (xml_escape for HTML).
template <class Escape>
Table model_table(const ordered_json& models, const ordered_json& cascade, Escape escape) {
  namespace k = eval_report;
  Table t{{"model", "test examples", "accuracy", "macro-F1", "exact match", "format validity", "latency p50 ms",
           "latency p95 ms", "params", "size MiB", "training"},
          {}};
  for (const auto& m : models)
    t.rows.push_back({escape(m[k::kName].get<std::string>()),
                      escape(fmt::format("{} ({})", m[k::kExamples].dump(), m[k::kSubset].get<std::string>())),
                      format_percent(json_number(m, k::kAccuracy)), format_fixed(json_number(m, k::kMacroF1), 4),
                      format_percent(json_number(m, k::kExactMatch)), format_percent(json_number(m, k::kFormatValidity)),
                      format_fixed(json_number(m, k::kLatencyMsP50), 1), format_fixed(json_number(m, k::kLatencyMsP95), 1),
                      format_millions(json_number(m, k::kParams)), format_mib(json_number(m, k::kBytes)),
                      format_duration(json_number(m, "train_seconds"))});
  if (cascade.is_object()) {
    const ordered_json& n = cascade[k::kExamples];
    t.rows.push_back(
        {escape(cascade_label(cascade)),
         escape(n.is_number() ? fmt::format("{} ({})", n.dump(), cascade[k::kSubset].get<std::string>()) : "-"),
         format_percent(json_number(cascade, k::kAccuracy)), format_fixed(json_number(cascade, k::kMacroF1), 4), "-",
         "-", "-", "-", "-", "-", "-"});
  }
  return t;
}

// The exported files with the commands that serve them; `code` and `pre` wrap a path and the
// commands (markdown: in backticks, on one line; HTML: escaped in <code> and <pre>).
template <class Code, class Pre>
Table export_table(const ordered_json& exports, Code code, Pre pre) {
  Table t{{"model", "format", "weights", "path", "size MiB", "serve it with"}, {}};
  auto text = [](const ordered_json& v) { return v.is_string() ? v.get<std::string>() : std::string("-"); };
  for (const auto& e : exports)
    t.rows.push_back({text(e["model"]), e["format"].get<std::string>(), text(e["weights"]),
                      code(e["path"].get<std::string>()), format_mib(json_number(e, "bytes")),
                      pre(e["serve"].get<std::string>())});
  return t;
}

// The sentence under the title: the test set, and the system message the models must be served with.
std::string test_set_line(const ordered_json& test_set, const std::optional<std::string>& system) {
  namespace k = eval_report;
  return fmt::format("Test set: the '{}' split of {}{}; each model's examples are listed in the table.",
                     test_set[k::kSplit].get<std::string>(), test_set[k::kData].get<std::string>(),
                     test_set[k::kLabels].is_number() ? fmt::format(" ({} labels)", test_set[k::kLabels].dump()) : "") +
         (system ? fmt::format(" Every prompt carries the system message \"{}\" (hone ingest --system): serve the tuned "
                               "models with it, as the commands below do.",
                               *system)
                 : "");
}

std::string markdown_page(const ReportOptions& o, const ordered_json& report, const std::string& set_line) {
  std::string md = fmt::format("# {}\n\n{}\n\n", o.title, set_line);
  md += model_table(report["models"], report[eval_report::kCascade], [](const std::string& s) { return s; })
            .markdown();
  md += confidence_markdown(report);
  md += gate_section_markdown(report);
  if (report["sizes"].size() > 1) {
    const std::string line = evaluated_sizes_line(report["models"]);
    md += "\n## Sizes on disk\n\n" + size_table(report["models"], report["sizes"]).markdown() +
          (line.empty() ? "" : "\n" + line + "\n");
  }
  if (!report["exports"].empty()) {
    auto one_line = [](std::string s) {
      for (auto& c : s)
        if (c == '\n') c = ';';
      return "`" + s + "`";
    };
    md += "\n## Exported files\n\n" +
          export_table(report["exports"], [](const std::string& s) { return "`" + s + "`"; }, one_line).markdown();
  }
  md += fmt::format("\nThe loss curves and charts are in report.html. Created {} by hone.\n",
                    report["created"].get<std::string>());
  return md;
}

// The quality and latency charts, one bar per model.
std::string charts_svg(const ordered_json& models) {
  namespace k = eval_report;
  std::vector<std::string> cats;
  BarSeries acc{"accuracy", {}, kPlotColors[0]}, f1{"macro-F1", {}, kPlotColors[1]};
  BarSeries valid{"format validity", {}, kPlotColors[2]};
  BarSeries em{"exact match", {}, kPlotColors[4]};
  BarSeries lat{"latency p50 (ms)", {}, kPlotColors[3]};
  for (const auto& m : models) {
    cats.push_back(m[k::kName].get<std::string>());
    acc.values.push_back(100 * json_number(m, k::kAccuracy));
    f1.values.push_back(100 * json_number(m, k::kMacroF1));
    valid.values.push_back(100 * json_number(m, k::kFormatValidity));
    em.values.push_back(100 * json_number(m, k::kExactMatch));
    lat.values.push_back(json_number(m, k::kLatencyMsP50));
  }
  return bar_chart_svg("Quality on the test set", "percent", cats, {acc, f1, em, valid}, "{:.1f}") +
         bar_chart_svg("Latency per example (p50)", "milliseconds", cats, {lat}, "{:.0f}");
}

std::string html_page(const ReportOptions& o, const ordered_json& report, const std::string& set_line) {
  const ordered_json& runs = report["runs"];
  const ordered_json& exports = report["exports"];
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                     xml_escape(o.title) +
                     "</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
                     "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}"
                     "td{text-align:right}td:first-child{text-align:left}pre{background:#f4f4f4;padding:6px;"
                     "white-space:pre-wrap}svg{max-width:100%;height:auto}</style></head><body>\n";
  html += "<h1>" + xml_escape(o.title) + "</h1>\n<p>" + xml_escape(set_line) + "</p>\n";
  html += model_table(report["models"], report[eval_report::kCascade], xml_escape).html();
  html += charts_svg(report["models"]);
  html += confidence_html(report);
  html += gate_section_html(report);
  if (!runs.empty()) html += "<h2>Training</h2>\n";
  for (const auto& r : runs) {
    const fs::path metrics = fs::path(r["dir"].get<std::string>()) / "metrics.jsonl";
    html += fmt::format("<p>{}: <code>hone {}</code>, {} steps, {}, {} tokens/s</p>\n",
                        xml_escape(r["name"].get<std::string>()), r["command"].get<std::string>(), r["steps"].dump(),
                        format_duration(json_number(r, "train_seconds")), format_fixed(json_number(r, "tokens_per_s"), 0));
    if (fs::exists(metrics))
      html += loss_curve_svg(metrics, r["name"].get<std::string>(), "loss (nats per loss token)");
  }
  if (report["sizes"].size() > 1) {
    const std::string line = evaluated_sizes_line(report["models"]);
    html += "<h2>Sizes on disk</h2>\n" + size_table(report["models"], report["sizes"]).html() +
            (line.empty() ? "" : "<p>" + xml_escape(line) + "</p>\n");
  }
  if (!exports.empty()) {
    html += "<h2>Exported files</h2>\n" +
            export_table(exports, [](const std::string& s) { return "<code>" + xml_escape(s) + "</code>"; },
                         [](const std::string& s) { return "<pre>" + xml_escape(s) + "</pre>"; })
                .html();
  }
  html += fmt::format("<p>Created {} by hone.</p>\n</body></html>\n", report["created"].get<std::string>());
  return html;
}

}  // namespace

std::string write_report(const ReportOptions& o) {
  HONE_CHECK(!o.evals.empty(), UsageError, "give at least one --eval report (from hone eval --report)");
  HONE_CHECK(!o.out.empty(), UsageError, "-o DIR is required");
  Evaluated evaluated = read_evals(o.evals);
  ordered_json runs = read_runs(o.runs, evaluated.models);
  ordered_json& test_set = evaluated.test_set;
  const std::optional<std::string> system = data_system(test_set[eval_report::kData].get<std::string>());
  test_set["system"] = system ? ordered_json(*system) : ordered_json(nullptr);
  ordered_json exports = read_exports(o, evaluated.models, system);

  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const ordered_json report = {{"title", o.title}, {"created", when}, {"test_set", test_set},
                               {"models", evaluated.models}, {eval_report::kCascade, evaluated.cascade},
                               {kReportGates, evaluated.gates},
                               {"runs", runs}, {"exports", exports},
                               {"sizes", size_rows(evaluated.models, exports)}};
  const std::string set_line = test_set_line(test_set, system);
  const std::string md = markdown_page(o, report, set_line);
  const std::string html = html_page(o, report, set_line);
  fs::create_directories(o.out);
  write_file_atomic(o.out / "report.json", report.dump(2) + "\n");
  write_file_atomic(o.out / "report.md", md);
  write_file_atomic(o.out / "report.html", html);
  return md;
}

}  // namespace hone
