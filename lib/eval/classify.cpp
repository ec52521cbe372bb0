// hone classify: the rule (labels, K, temperature, threshold, system message, prompt template)
// from routing.json or an ingested directory, the input read batch by batch into canonical
// records, each model's constrained scoring, and the output written as JSON lines.
#include "eval/classify.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_file.h"
#include "core/measure.h"
#include "data/ingest.h"
#include "data/records.h"
#include "eval/dataset.h"
#include "eval/eval_model.h"
#include "eval/label_scoring.h"
#include "model/decoder.h"
#include "report/routing.h"

namespace hone {

namespace {

using ordered_json = nlohmann::ordered_json;

// A cascade holds back at most this many batches of rows while its deferred rows gather into a
// full batch for the second model (rows are written in input order).
constexpr std::int64_t kCascadeWindow = 8;

// ---------------------------------------------------------------------------- the rule

// What every row is classified by.
struct Rule {
  std::vector<std::string> labels;  // sorted, as eval orders them
  std::optional<std::string> system;
  std::string prompt_template = "{text}";
  std::int64_t top_k = 2;  // K (at most the number of labels)
  double temperature = 1;
  double threshold = 0;
  bool exhaustive = false;
};

// The labels, system message and prompt template of a directory `hone ingest` wrote.
void read_data_dir(const fs::path& dir, Rule& rule) {
  const fs::path manifest = dir / "manifest.json";
  HONE_CHECK(fs::is_regular_file(manifest), InputError, Hint{"--data is a directory hone ingest wrote"},
             "{}: no manifest.json", dir.string());
  const std::string src = manifest.string();
  const auto m = read_json_object<nlohmann::json>(manifest);
  const std::set<std::string> labels = data::manifest_labels(m, src);
  rule.labels.assign(labels.begin(), labels.end());
  if (m.contains("options") && m["options"].is_object())
    rule.prompt_template = json_value<std::string>(m["options"], "prompt_template", "{text}", src);
  rule.system = data_system(dir.string());
}

// routing.json's rule, or the data directory's labels with the defaults; then the explicit options.
Rule resolve_rule(const ClassifyOptions& o) {
  Rule r;
  if (!o.routing.empty()) {
    const Routing routing = read_routing(o.routing);
    r.labels = routing.labels;
    r.system = routing.system;
    r.prompt_template = routing.prompt_template;
    r.top_k = routing.confidence_labels;
    r.temperature = routing.temperature;
    r.threshold = routing.threshold;
    r.exhaustive = routing.scoring == label_scoring_name(LabelScoring::kExhaustive);
  } else {
    read_data_dir(o.data, r);
  }
  if (o.threshold) r.threshold = *o.threshold;
  if (o.temperature) r.temperature = *o.temperature;
  if (o.score_top) r.top_k = *o.score_top;
  if (o.scoring) r.exhaustive = *o.scoring == LabelScoring::kExhaustive;
  if (o.system) r.system = o.system;
  if (o.prompt_template) r.prompt_template = *o.prompt_template;
  r.top_k = std::min<std::int64_t>(r.top_k, static_cast<std::int64_t>(r.labels.size()));
  HONE_CHECK(r.prompt_template.find("{text}") != std::string::npos, UsageError,
             "--prompt-template '{}' does not contain {{text}}", r.prompt_template);
  return r;
}

void check_options(const ClassifyOptions& o) {
  HONE_CHECK(!o.models.empty(), UsageError, "no --model to classify with");
  HONE_CHECK(!o.cascade || o.models.size() == 2, UsageError,
             Hint{"-m FIRST [--adapter A] -m SECOND [--adapter B] --cascade"},
             "--cascade needs two --model (the first answers, the second answers the rows the first defers), got {}",
             o.models.size());
  HONE_CHECK(o.cascade || o.models.size() == 1, UsageError, Hint{"add --cascade to answer deferred rows with the second"},
             "{} --model without --cascade: classify runs one model, or two as a cascade", o.models.size());
  HONE_CHECK(o.routing.empty() != o.data.empty(), UsageError,
             Hint{"--routing routing.json (hone export --routing) or --data DIR (hone ingest), not both"},
             "{}: the labels come from --routing or --data", o.routing.empty() ? "neither given" : "both given");
  HONE_CHECK(o.batch_size > 0, UsageError, "--batch-size must be positive, got {}", o.batch_size);
  HONE_CHECK(o.score_per_round > 0, UsageError, "--score-per-round must be positive, got {}", o.score_per_round);
  HONE_CHECK(!o.score_top || *o.score_top > 0, UsageError, "--score-top must be positive, got {}", *o.score_top);
  HONE_CHECK(!o.threshold || (*o.threshold >= 0 && *o.threshold <= 1), UsageError,
             "--threshold must be in [0, 1], got {}", *o.threshold);
  HONE_CHECK(!o.temperature || (*o.temperature > 0 && std::isfinite(*o.temperature)), UsageError,
             "--temperature must be positive, got {}", *o.temperature);
  HONE_CHECK(!o.text_field.empty(), UsageError, "--text-field is empty");
}

// ---------------------------------------------------------------------------- rows

// One model's answer for a row.
struct Answer {
  std::vector<std::pair<double, std::int64_t>> top;  // (log-likelihood, label), best first
  double confidence = 0;
};

struct Row {
  std::uint64_t line = 0;  // where the record starts in the input (1-based)
  ordered_json id;         // the input's "id" (string or number); null when it has none
  std::string canonical;   // the canonical record its prompt is rendered from
  Answer first, second;    // second: only for deferred rows of a cascade
  bool deferred = false;   // the first confidence is below the threshold
};

ordered_json id_of(const nlohmann::json& fields) {
  const auto it = fields.find("id");
  if (it == fields.end()) return nullptr;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) return it->get<double>();
  return nullptr;
}

// The input's records as rows: each turned into the canonical record `hone ingest --format
// classification` writes (with the first label as its completion, which scoring ignores). A bad
// record is an InputError naming the input and line, or (--on-error skip) counted and dropped.
class RowReader {
 public:
  RowReader(const ClassifyOptions& o, const Rule& rule, ClassifyReport& report)
      : stdin_(o.input == "-"), name_(stdin_ ? "stdin" : o.input.string()), system_(rule.system),
        first_label_(rule.labels.front()), on_error_(o.on_error), report_(report) {
    io_.text_field = o.text_field;
    io_.prompt_template = rule.prompt_template;
    io_.label_field = o.text_field + "/label";  // a key that is not the text field, set on every record
    const data::InputType type = o.input_type ? *o.input_type : stdin_ ? data::InputType::kJsonl : data::input_type(o.input);
    HONE_CHECK(type != data::InputType::kText, UsageError,
               Hint{"give one record per line (.jsonl) or per row (.csv, .tsv)"},
               "{}: a .txt input holds documents, not records to classify", name_);
    reader_ = data::open_reader(stdin_ ? fs::path("/dev/stdin") : o.input, type, io_);
  }

  const std::string& name() const { return name_; }

  // Up to `n` good rows into `rows`; false when the input holds no more.
  bool read(std::vector<Row>& rows, std::int64_t n) {
    rows.clear();
    while (static_cast<std::int64_t>(rows.size()) < n && reader_->next(record_)) {
      if (!record_.problem.kind.empty()) {
        bad(record_.line, record_.problem);
        continue;
      }
      data::Example ex;
      try {
        record_.fields[io_.label_field] = first_label_;
        ex = data::normalise(record_.fields, data::RecordFormat::kClassification, io_);
      } catch (const data::RecordError& e) {
        bad(record_.line, e.problem);
        continue;
      }
      if (system_) data::add_system(ex, *system_);
      Row row;
      row.line = record_.line;
      row.id = id_of(record_.fields);
      row.canonical = data::canonical_json(ex);
      rows.push_back(std::move(row));
    }
    return !rows.empty();
  }

  // The warning for the skipped rows ("" when none).
  std::string skipped_summary() const {
    if (report_.skipped == 0) return "";
    std::string reasons;
    for (const auto& [kind, n] : report_.skipped_by_reason) reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", kind, n);
    return fmt::format("{}: skipped {} bad rows ({}); the first: {}", name_, report_.skipped, reasons, first_skipped_);
  }

 private:
  void bad(std::uint64_t line, const data::RecordProblem& p) {
    const std::string where = fmt::format("{}:{}", name_, line);
    if (on_error_ == data::OnError::kFail) {
      if (p.kind == "missing_field")
        HONE_THROW(InputError, Hint{fmt::format("--text-field names the field that holds the text (now '{}'); "
                                                "--on-error skip skips bad rows", io_.text_field)},
                   "{}: {}", where, p.message);
      HONE_THROW(InputError, Hint{"--on-error skip skips bad rows"}, "{}: {}", where, p.message);
    }
    ++report_.skipped;
    ++report_.skipped_by_reason[p.kind];
    if (first_skipped_.empty()) first_skipped_ = fmt::format("{}: {}", where, p.message);
    spdlog::debug("skipped {}: {}", where, p.message);
  }

  bool stdin_;
  std::string name_;  // the input as errors name it
  std::optional<std::string> system_;
  std::string first_label_;
  data::OnError on_error_;
  ClassifyReport& report_;
  data::IngestOptions io_;
  std::unique_ptr<data::RecordReader> reader_;
  data::RawRecord record_;
  std::string first_skipped_;
};

// ---------------------------------------------------------------------------- scoring

// One model and what its scoring needs: the encoder of its tokenizer, and the labels' prefix tree
// (made from the first row, as eval makes it from its first record).
class Scorer {
 public:
  Scorer(LoadedModel model, const Rule& rule, const ClassifyOptions& o)
      : lm_(std::move(model)), enc_(std::make_unique<ExampleEncoder>(*lm_.lm.tokenizer)), rule_(rule),
        per_round_(o.score_per_round) {}

  const std::string& name() const { return lm_.name; }

  // The answers for `rows` (one scoring pass; at most --batch-size rows). `source` names the input.
  std::vector<Answer> answer(const std::vector<const Row*>& rows, const std::string& source, double temperature) {
    std::vector<EncodedExample> examples;
    examples.reserve(rows.size());
    for (const Row* r : rows) examples.push_back(enc_->encode(r->canonical, fmt::format("{}:{}", source, r->line)));
    if (!trie_) {
      EvalRecord first;
      first.line = rows.front()->canonical;
      trie_.emplace(enc_->label_answers(first, rule_.labels), rule_.labels);
      spdlog::info("{}: {} labels ({} answer tokens, {} tree nodes), top {} by {} scoring", name(), rule_.labels.size(),
                   trie_->pair_token.size(), trie_->internal.size(), rule_.top_k,
                   label_scoring_name(rule_.exhaustive ? LabelScoring::kExhaustive : LabelScoring::kPruned));
    }
    PromptBatch prompts;
    for (const EncodedExample& e : examples) prompts.push_back(&e.prompt);
    const std::vector<std::int64_t> gold(rows.size(), -1);
    const std::vector<LabelRanking> ranked =
        rank_labels(*lm_.lm.decoder, *trie_, prompts, gold, rule_.top_k, rule_.exhaustive, per_round_);
    std::vector<Answer> out(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out[i].top = ranked[i].top;
      out[i].confidence = ranking_confidence(ranked[i], temperature);
    }
    return out;
  }

 private:
  LoadedModel lm_;
  std::unique_ptr<ExampleEncoder> enc_;  // not movable (it points into its own chat template)
  const Rule& rule_;
  std::int64_t per_round_;
  std::optional<LabelTrie> trie_;
};

// ---------------------------------------------------------------------------- output

// stdout (flushed after every batch), or a file written through AtomicFile: renamed into place by
// commit(), removed when the run fails.
class RowWriter {
 public:
  explicit RowWriter(const fs::path& path) {
    if (path.empty()) return;
    if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
    file_ = std::make_unique<AtomicFile>(path);
  }

  void write(const std::string& text) {
    if (file_) return file_->write(text);
    const bool ok = std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
    HONE_CHECK(ok, RuntimeError, "stdout: write failed: {}", std::strerror(errno));
  }

  void commit() {
    if (file_) file_->commit();
  }

 private:
  std::unique_ptr<AtomicFile> file_;
};

// A row's output line. A deferred row of a cascade carries the second model's answer.
std::string row_json(const Row& r, const Rule& rule, const std::string& first, const std::string* second) {
  const bool by_second = r.deferred && second != nullptr;
  const Answer& a = by_second ? r.second : r.first;
  ordered_json j;
  j["line"] = r.line;
  if (!r.id.is_null()) j["id"] = r.id;
  j["label"] = rule.labels[a.top.front().second];
  j["confidence"] = a.confidence;
  j["deferred"] = r.deferred;
  j["model"] = by_second ? *second : first;
  ordered_json top = ordered_json::array();
  for (const auto& [loglik, label] : a.top) top.push_back({rule.labels[label], loglik});
  j["top"] = std::move(top);
  if (by_second) {
    j["first_label"] = rule.labels[r.first.top.front().second];
    j["first_confidence"] = r.first.confidence;
  }
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

std::vector<const Row*> row_pointers(const std::vector<Row>& rows) {
  std::vector<const Row*> out;
  for (const Row& r : rows) out.push_back(&r);
  return out;
}

// The loop: read a batch, score it with the first model, mark the rows below the threshold; a
// cascade gathers those into batches for the second model before the rows are written in order.
void classify_rows(const ClassifyOptions& o, const Rule& rule, RowReader& reader, Scorer& first, Scorer* second,
                   RowWriter& out, ClassifyReport& report) {
  std::vector<Row> batch, pending;
  std::vector<std::size_t> deferred;  // indices into pending
  const auto flush = [&] {
    if (pending.empty()) return;
    // The second model's confidence is at temperature 1: routing.json's temperature is the first's.
    for (std::size_t s = 0; s < deferred.size(); s += static_cast<std::size_t>(o.batch_size)) {
      std::vector<const Row*> chunk;
      for (std::size_t k = s; k < std::min(deferred.size(), s + static_cast<std::size_t>(o.batch_size)); ++k)
        chunk.push_back(&pending[deferred[k]]);
      const std::vector<Answer> answers = second->answer(chunk, reader.name(), /*temperature=*/1.0);
      for (std::size_t k = 0; k < chunk.size(); ++k) pending[deferred[s + k]].second = answers[k];
    }
    std::string text;
    for (const Row& r : pending) text += row_json(r, rule, first.name(), second ? &second->name() : nullptr);
    out.write(text);
    report.rows += static_cast<std::int64_t>(pending.size());
    spdlog::debug("classified {} rows", report.rows);
    pending.clear();
    deferred.clear();
  };
  while (reader.read(batch, o.batch_size)) {
    const std::vector<Answer> answers = first.answer(row_pointers(batch), reader.name(), rule.temperature);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Row& r = batch[i];
      r.first = answers[i];
      r.deferred = r.first.confidence < rule.threshold;
      report.deferred += r.deferred;
      if (r.deferred && second) deferred.push_back(pending.size());
      pending.push_back(std::move(r));
    }
    if (second == nullptr || static_cast<std::int64_t>(deferred.size()) >= o.batch_size ||
        static_cast<std::int64_t>(pending.size()) >= kCascadeWindow * o.batch_size)
      flush();
  }
  flush();
}

}  // namespace

ClassifyReport run_classify(const ClassifyOptions& o) {
  check_options(o);
  const Rule rule = resolve_rule(o);
  if (o.cascade && rule.threshold <= 0)
    spdlog::warn("--cascade with threshold 0: no row is deferred, the second model answers none");
  if (o.threads > 0) at::set_num_threads(o.threads);
  const Compute compute = resolve_compute(o.device, o.dtype, local_rank_from_environment());
  ClassifyReport report;
  RowReader reader(o, rule, report);  // before the models load: a missing input fails at once
  std::vector<std::unique_ptr<Scorer>> scorers;
  for (const EvalModel& m : o.models)
    scorers.push_back(std::make_unique<Scorer>(load_eval_model(m, compute.device, compute.dtype, o.chat_template), rule, o));
  c10::InferenceMode guard;
  spdlog::info("classifying {} with {}{}: {} labels, K {}, temperature {}, threshold {}", reader.name(),
               scorers[0]->name(), o.cascade ? " (deferred rows: " + scorers[1]->name() + ")" : "", rule.labels.size(),
               rule.top_k, rule.temperature, rule.threshold);
  RowWriter out(o.output);
  const auto t0 = std::chrono::steady_clock::now();
  classify_rows(o, rule, reader, *scorers[0], o.cascade ? scorers[1].get() : nullptr, out, report);
  out.commit();
  report.seconds = seconds_since(t0);
  if (const std::string s = reader.skipped_summary(); !s.empty()) spdlog::warn("{}", s);
  spdlog::info("classified {} rows in {:.1f} s ({:.1f} rows/s), {} deferred{}{}", report.rows, report.seconds,
               report.seconds > 0 ? static_cast<double>(report.rows) / report.seconds : 0.0, report.deferred,
               o.cascade ? " (answered by " + scorers[1]->name() + ")" : "",
               o.output.empty() ? "" : "; wrote " + o.output.string());
  return report;
}

}  // namespace hone
