// Fuzz target: the JSON Lines reader and the JSON array reader (data/readers.h,
// open_jsonl_reader and open_json_array_reader), every record read and normalised as `hone ingest`
// does. The first input byte chooses the options (fuzz_ingest.h), the rest is the file.
#include "fuzz_ingest.h"
#include "fuzz_target.h"

HONE_FUZZ_TARGET(ingest_jsonl) {
  if (size == 0) return 0;
  const hone::fuzz::IngestInput in = hone::fuzz::ingest_input(data[0]);
  const auto path = hone::fuzz::input_file(data + 1, size - 1, in.variant ? "input.json" : "input.jsonl");
  const auto reader = in.variant ? hone::data::open_json_array_reader(path, in.options)
                                 : hone::data::open_jsonl_reader(path, in.options);
  hone::fuzz::read_all_records(*reader, in.options);
  return 0;
}

// A recipe's chat records, one record of each format, a JSON array, and gzip.
HONE_FUZZ_SEEDS(ingest_jsonl) {
  using hone::fuzz::ingest_seed;
  const std::string chat = hone::fuzz::head_lines(std::string(HONE_DATA_DIR) + "/recipes/support-tickets/train.jsonl", 3);
  if (!chat.empty()) seeds.add("support-tickets.jsonl", ingest_seed(0, chat));
  const std::string formats =
      "{\"text\": \"The lighthouse keeper lit the lamp.\"}\n"
      "{\"prompt\": \"2 + 2 =\", \"completion\": \" 4\"}\n"
      "{\"instruction\": \"Translate\", \"input\": \"bonjour\", \"output\": \"hello\"}\n"
      "\n"
      "{\"conversations\": [{\"from\": \"human\", \"value\": \"Hi \\u2603\"}, {\"from\": \"gpt\", \"value\": \"Hello\"}]}\n"
      "{\"text\": \"I am still waiting on my card?\", \"label\": \"card_arrival\"}\r\n";
  seeds.add("formats.jsonl", ingest_seed(0, formats));
  seeds.add("classification.jsonl", ingest_seed(5 << 3, "{\"text\": \"Where is my card?\", \"label\": \"card_arrival\"}\n"));
  seeds.add("corrections.jsonl",
            ingest_seed(6 << 3, "{\"prompt\": \"Is it late?\", \"output\": \"no\", \"correction\": \"yes\"}\n"
                                "{\"prompt\": \"Is it on time?\", \"output\": \"yes\", \"correction\": \"yes\", "
                                "\"scored_top\": [\"yes\", \"no\"]}\n"));
  seeds.add("array.json", ingest_seed(4, "[\n  {\"prompt\": \"a\", \"completion\": \"b\"},\n  {\"text\": \"[x]\"}\n]\n"));
  seeds.add("small-records.jsonl", ingest_seed(2 | 64, formats));
  seeds.add("formats.jsonl.gz", ingest_seed(0, hone::fuzz::gzip_bytes(formats)));
}
