// Fuzz target: the plain-text reader (data/readers.h, open_text_reader: one document per file, or
// per blank-line-separated block), every record read and normalised as `hone ingest` does. The
// first input byte chooses the options (fuzz_ingest.h; its variant bit is --text-blocks), the rest
// is the file.
#include "fuzz_ingest.h"
#include "fuzz_target.h"

HONE_FUZZ_TARGET(ingest_txt) {
  if (size == 0) return 0;
  const hone::fuzz::IngestInput in = hone::fuzz::ingest_input(data[0]);
  const auto path = hone::fuzz::input_file(data + 1, size - 1, "input.txt");
  const auto reader = hone::data::open_text_reader(path, in.options);
  hone::fuzz::read_all_records(*reader, in.options);
  return 0;
}

// The text hone's examples use, as one document and as blocks, with a byte-order mark and CRLF.
HONE_FUZZ_SEEDS(ingest_txt) {
  using hone::fuzz::ingest_seed;
  const std::string text = hone::fuzz::head_lines(std::string(HONE_DATA_DIR) + "/texts/lighthouse.txt", 20);
  if (!text.empty()) seeds.add("lighthouse.txt", ingest_seed(0, text));
  seeds.add("blocks.txt", ingest_seed(4, "\xEF\xBB\xBF" "First block,\r\nstill first.\r\n\r\n  \t\nSecond block.\n\n\n"));
  seeds.add("blocks-small.txt", ingest_seed(4 | 2, "a\n\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n\nc\n"));
}
