#include "report/report.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/measure.h"
#include "core/json_file.h"
#include "core/plot.h"

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

double num(const ordered_json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : "-"; }
std::string fixed(double v, int digits) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "-"; }
std::string mib(double bytes) { return std::isfinite(bytes) ? fmt::format("{:.1f}", bytes / (1024.0 * 1024.0)) : "-"; }
std::string millions(double n) { return std::isfinite(n) ? fmt::format("{:.1f}M", n / 1e6) : "-"; }

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

// How to serve an export, as shell commands (one per line). `system`: the system message the
// data were ingested with (ingest --system), which the served model must be given too.
// `chat_template`: the template training used, given to servers of outputs that lack it (a GGUF
// LoRA adapter; a PEFT adapter carries it as chat_template.jinja, which vLLM is pointed at).
std::string serve_command(const std::string& format, const fs::path& path, const fs::path& base,
                          const std::optional<std::string>& system, const fs::path& chat_template) {
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
  if (format == "gguf")
    return fmt::format("llama-cli -m {}{}\nprintf '%s\\n' {}{} > Modelfile && ollama create tuned -f Modelfile "
                       "&& ollama run tuned",
                       p + " -cnv", sys_flag, shell_quote("FROM " + p),
                       system ? " " + shell_quote("SYSTEM \"\"\"" + *system + "\"\"\"") : "");
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

// The system message of an ingested data directory (its manifest's options.system), if any.
std::optional<std::string> data_system(const std::string& data) {
  std::error_code ec;
  const fs::path manifest = fs::path(data) / "manifest.json";
  if (data.empty() || !fs::is_regular_file(manifest, ec)) return std::nullopt;
  const ordered_json m = read_json_file(manifest, "an ingest manifest");
  if (!m.contains("options") || !m["options"].contains("system") || !m["options"]["system"].is_string())
    return std::nullopt;
  return m["options"]["system"].get<std::string>();
}

const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};

}  // namespace

std::string write_report(const ReportOptions& o) {
  HONE_CHECK(!o.evals.empty(), UsageError, "give at least one --eval report (from hone eval --report)");
  HONE_CHECK(!o.out.empty(), UsageError, "-o DIR is required");

  // Models, from the evaluation reports, in order.
  ordered_json models = ordered_json::array();
  ordered_json test_set;
  std::set<std::string> names;
  for (const fs::path& e : o.evals) {
    const ordered_json r = read_json_file(e, "a hone eval report");
    HONE_CHECK(r.contains("models") && r["models"].is_array(), InputError, "{}: no 'models' (not a hone eval report)",
               e.string());
    const std::string src = e.string();
    const ordered_json here = {{"data", json_value<std::string>(r, "data", "", src)},
                               {"split", json_value<std::string>(r, "split", "", src)},
                               {"task", json_value<std::string>(r, "task", "", src)},
                               {"examples", r.value("examples", ordered_json(nullptr))},
                               {"subset", json_value<std::string>(r, "subset", "all", src)},
                               {"labels", r.value("labels", ordered_json(nullptr))}};
    if (test_set.is_null()) test_set = here;
    HONE_CHECK(here["split"] == test_set["split"] && here["data"] == test_set["data"], InputError,
               Hint{"evaluate every model on the same data set and split"},
               "{}: evaluated on split '{}' of {}, the first report on split '{}' of {}", e.string(),
               here["split"].get<std::string>(), here["data"].get<std::string>(), test_set["split"].get<std::string>(),
               test_set["data"].get<std::string>());
    for (const auto& m : r["models"]) {
      HONE_CHECK(m.is_object(), InputError, "{}: 'models' holds {}, expected objects", src, m.dump());
      const std::string name = json_value<std::string>(m, "name", "", src);
      HONE_CHECK(names.insert(name).second, InputError, "{}: a second model named '{}'", e.string(), name);
      ordered_json row = {{"name", name}};
      for (const char* k : {"accuracy", "macro_f1", "exact_match", "format_validity", "latency_ms_p50", "latency_ms_p95", "tokens_per_s",
                            "params", "adapter_params", "bytes", "model", "adapter"})
        row[k] = m.contains(k) ? m[k] : ordered_json(nullptr);
      row["examples"] = here["examples"];
      row["subset"] = here["subset"];
      row["train_seconds"] = nullptr;
      models.push_back(row);
    }
  }

  // Training runs, attached to their models.
  ordered_json runs = ordered_json::array();
  for (const auto& [name, dir] : o.runs) {
    const ordered_json run = read_json_file(dir / "run.json", "a lora-train or distill run directory");
    const std::string command = json_value<std::string>(run, "command", "lora-train", (dir / "run.json").string());
    bool found = false;
    for (auto& m : models)
      if (m["name"] == name) {
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

  const std::optional<std::string> system = data_system(test_set["data"].get<std::string>());
  test_set["system"] = system ? ordered_json(*system) : ordered_json(nullptr);
  ordered_json exports = ordered_json::array();
  for (const auto& [format, path] : o.exports) {
    HONE_CHECK(fs::exists(path), InputError, "--export {}={}: no such file or directory", format, path.string());
    exports.push_back({{"format", format},
                       {"path", path.string()},
                       {"bytes", disk_usage(path)},
                       {"serve", serve_command(format, path, o.base_model, system, o.chat_template)}});
  }

  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const ordered_json report = {{"title", o.title}, {"created", when}, {"test_set", test_set},
                               {"models", models}, {"runs", runs},    {"exports", exports}};

  // Markdown.
  const std::string set_line =
      fmt::format("Test set: the '{}' split of {}{}; each model's examples are listed in the table.",
                  test_set["split"].get<std::string>(), test_set["data"].get<std::string>(),
                  test_set["labels"].is_number() ? fmt::format(" ({} labels)", test_set["labels"].dump()) : "") +
      (system ? fmt::format(" Every prompt carries the system message \"{}\" (hone ingest --system): serve the tuned "
                            "models with it, as the commands below do.",
                            *system)
              : "");
  auto examples = [](const ordered_json& m) {
    return fmt::format("{} ({})", m["examples"].dump(), m["subset"].get<std::string>());
  };
  std::string md = fmt::format("# {}\n\n{}\n\n", o.title, set_line);
  md += "| model | test examples | accuracy | macro-F1 | exact match | format validity | latency p50 ms | latency p95 ms | params | size MiB | training |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& m : models)
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", m["name"].get<std::string>(), examples(m),
                      pct(num(m, "accuracy")), fixed(num(m, "macro_f1"), 4), pct(num(m, "exact_match")),
                      pct(num(m, "format_validity")),
                      fixed(num(m, "latency_ms_p50"), 1), fixed(num(m, "latency_ms_p95"), 1), millions(num(m, "params")),
                      mib(num(m, "bytes")), format_duration(num(m, "train_seconds")));
  if (!exports.empty()) {
    md += "\n## Exported files\n\n| format | path | size MiB | serve it with |\n|---|---|---|---|\n";
    for (const auto& e : exports) {
      std::string serve = e["serve"].get<std::string>();
      for (auto& c : serve)
        if (c == '\n') c = ';';
      md += fmt::format("| {} | `{}` | {} | `{}` |\n", e["format"].get<std::string>(), e["path"].get<std::string>(),
                        mib(num(e, "bytes")), serve);
    }
  }
  md += fmt::format("\nThe loss curves and charts are in report.html. Created {} by hone.\n", when);

  // HTML with inline SVG.
  std::vector<std::string> cats;
  BarSeries acc{"accuracy", {}, kColors[0]}, f1{"macro-F1", {}, kColors[1]}, valid{"format validity", {}, kColors[2]};
  BarSeries em{"exact match", {}, kColors[4]};
  BarSeries lat{"latency p50 (ms)", {}, kColors[3]};
  for (const auto& m : models) {
    cats.push_back(m["name"].get<std::string>());
    acc.values.push_back(100 * num(m, "accuracy"));
    f1.values.push_back(100 * num(m, "macro_f1"));
    valid.values.push_back(100 * num(m, "format_validity"));
    em.values.push_back(100 * num(m, "exact_match"));
    lat.values.push_back(num(m, "latency_ms_p50"));
  }
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                     xml_escape(o.title) +
                     "</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
                     "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}"
                     "td{text-align:right}td:first-child{text-align:left}pre{background:#f4f4f4;padding:6px;"
                     "white-space:pre-wrap}svg{max-width:100%;height:auto}</style></head><body>\n";
  html += "<h1>" + xml_escape(o.title) + "</h1>\n<p>" + xml_escape(set_line) + "</p>\n<table><tr>";
  for (const char* h : {"model", "test examples", "accuracy", "macro-F1", "exact match", "format validity", "latency p50 ms", "latency p95 ms", "params",
                        "size MiB", "training"})
    html += fmt::format("<th>{}</th>", h);
  html += "</tr>\n";
  for (const auto& m : models)
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        xml_escape(m["name"].get<std::string>()), examples(m), pct(num(m, "accuracy")), fixed(num(m, "macro_f1"), 4),
                        pct(num(m, "exact_match")),
                        pct(num(m, "format_validity")), fixed(num(m, "latency_ms_p50"), 1),
                        fixed(num(m, "latency_ms_p95"), 1), millions(num(m, "params")), mib(num(m, "bytes")),
                        format_duration(num(m, "train_seconds")));
  html += "</table>\n";
  html += bar_chart_svg("Quality on the test set", "percent", cats, {acc, f1, em, valid}, "{:.1f}");
  html += bar_chart_svg("Latency per example (p50)", "milliseconds", cats, {lat}, "{:.0f}");
  if (!runs.empty()) html += "<h2>Training</h2>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    const fs::path metrics = fs::path(r["dir"].get<std::string>()) / "metrics.jsonl";
    html += fmt::format("<p>{}: <code>hone {}</code>, {} steps, {}, {} tokens/s</p>\n",
                        xml_escape(r["name"].get<std::string>()), r["command"].get<std::string>(), r["steps"].dump(),
                        format_duration(num(r, "train_seconds")), fixed(num(r, "tokens_per_s"), 0));
    if (fs::exists(metrics))
      html += loss_curve_svg(metrics, r["name"].get<std::string>(), "loss (nats per loss token)");
  }
  if (!exports.empty()) {
    html += "<h2>Exported files</h2>\n<table><tr><th>format</th><th>path</th><th>size MiB</th><th>serve it with</th></tr>\n";
    for (const auto& e : exports)
      html += fmt::format("<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><pre>{}</pre></td></tr>\n",
                          e["format"].get<std::string>(), xml_escape(e["path"].get<std::string>()),
                          mib(num(e, "bytes")), xml_escape(e["serve"].get<std::string>()));
    html += "</table>\n";
  }
  html += fmt::format("<p>Created {} by hone.</p>\n</body></html>\n", when);

  fs::create_directories(o.out);
  write_file_atomic(o.out / "report.json", report.dump(2) + "\n");
  write_file_atomic(o.out / "report.md", md);
  write_file_atomic(o.out / "report.html", html);
  return md;
}

}  // namespace hone
