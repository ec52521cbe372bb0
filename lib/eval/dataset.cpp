#include "eval/dataset.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "text/tokenizer.h"

namespace hone {

using nlohmann::json;

namespace {

// One canonical record of `file` (line `n`) as an example to evaluate.
EvalRecord parse_record(const std::string& line, const std::string& where, std::int64_t n) {
  json j = json::parse(line, nullptr, false);
  HONE_CHECK(!j.is_discarded() && j.is_object() && j.contains("format") && j["format"].is_string(), InputError,
             Hint{"evaluate the directory hone ingest wrote (canonical records)"}, "{}: not a canonical record", where);
  EvalRecord r;
  r.line = line;
  r.where = where;
  r.id = j.value("id", std::to_string(n));
  const std::string format = j["format"].get<std::string>();
  try {
    if (format == "completion") {
      r.target = j.at("completion").get<std::string>();
      if (j.contains("label") && j["label"].is_string()) r.label = j["label"].get<std::string>();
    } else if (format == "chat") {
      const json& msgs = j.at("messages");
      HONE_CHECK(msgs.is_array() && !msgs.empty() && msgs.back().value("role", "") == "assistant", InputError,
                 "{}: a chat record to evaluate must end with an assistant message", where);
      r.target = msgs.back().at("content").get<std::string>();
    } else {
      HONE_THROW(InputError, Hint{"evaluate the token store (.h5) for the perplexity of text"},
                 "{}: a '{}' record has no answer to compare with", where, format);
    }
  } catch (const json::exception& e) {
    HONE_THROW(InputError, "{}: malformed canonical record: {}", where, e.what());
  }
  return r;
}

}  // namespace

EvalDataset read_eval_dataset(const fs::path& data, const std::string& split, std::int64_t limit, std::int64_t sample) {
  EvalDataset d;
  std::error_code ec;
  fs::path file = data;
  std::set<std::string> labels;
  if (fs::is_directory(data, ec)) {
    file = data / (split + ".jsonl");
    HONE_CHECK(fs::exists(file), InputError, Hint{"--data is a directory hone ingest wrote, a .jsonl file or a token store"},
               "{}: no {}.jsonl (split '{}')", data.string(), split, split);
    if (fs::exists(data / "manifest.json")) {
      json m = json::parse(read_file(data / "manifest.json"), nullptr, false);
      if (m.is_object() && m.contains("labels") && m["labels"].is_object())
        for (const auto& [label, counts] : m["labels"].items()) labels.insert(label);
    }
  }
  HONE_CHECK(fs::exists(file), InputError, "{}: no such file", file.string());
  d.source = file.string();
  std::ifstream in(file);
  std::string line;
  std::int64_t n = 0;
  bool all_labelled = true;
  std::set<std::string> seen_labels;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    EvalRecord r = parse_record(line, fmt::format("{}:{}", file.string(), n), n);
    all_labelled = all_labelled && !r.label.empty();
    if (!r.label.empty()) seen_labels.insert(r.label);
    d.records.push_back(std::move(r));
    if (limit > 0 && static_cast<std::int64_t>(d.records.size()) >= limit) break;
  }
  HONE_CHECK(!d.records.empty(), InputError, "{}: no examples", file.string());
  if (sample > 0 && sample < static_cast<std::int64_t>(d.records.size())) {
    // Evenly spaced over the file, so that a split sorted by label keeps every label.
    std::vector<EvalRecord> kept;
    const auto total = static_cast<std::int64_t>(d.records.size());
    for (std::int64_t i = 0; i < sample; ++i) kept.push_back(std::move(d.records[i * total / sample]));
    d.records = std::move(kept);
  }
  if (all_labelled) {
    labels.insert(seen_labels.begin(), seen_labels.end());
    d.labels.assign(labels.begin(), labels.end());
  }
  return d;
}

ExampleEncoder::ExampleEncoder(const Tokenizer& t) {
  if (!t.chat_template().empty()) chat_ = ChatTemplate::from_tokenizer(t);
  format_ = {&t, chat_ ? &*chat_ : nullptr, t.stop_ids(), false};
}

EncodedExample ExampleEncoder::encode(const std::string& line, const std::string& where) const {
  const data::TokenizedExample ex = data::tokenize_example(format_, line, where);
  std::size_t end = ex.loss.size();
  while (end > 0 && !ex.loss[end - 1]) --end;
  std::size_t start = end;
  while (start > 0 && ex.loss[start - 1]) --start;
  HONE_CHECK(end > start && start > 0, InputError, "{}: the example has no prompt and answer to evaluate", where);
  EncodedExample e;
  e.prompt.assign(ex.ids.begin(), ex.ids.begin() + static_cast<std::ptrdiff_t>(start));
  e.answer.assign(ex.ids.begin() + static_cast<std::ptrdiff_t>(start), ex.ids.begin() + static_cast<std::ptrdiff_t>(end));
  return e;
}

std::vector<std::vector<std::int32_t>> ExampleEncoder::label_answers(const EvalRecord& record,
                                                                     const std::vector<std::string>& labels) const {
  std::vector<std::vector<std::int32_t>> answers;
  for (const std::string& label : labels) {
    json j = json::parse(record.line);
    j["format"] = "completion";
    if (!j.contains("prompt")) j["prompt"] = "x";
    j["completion"] = label;
    j.erase("messages");
    answers.push_back(encode(j.dump(), "label '" + label + "'").answer);
  }
  return answers;
}

}  // namespace hone
