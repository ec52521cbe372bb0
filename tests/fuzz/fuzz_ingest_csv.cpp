// Fuzz target: the CSV and TSV reader (data/readers.h, open_csv_reader: RFC 4180 quoting, a
// header row), every record read and normalised as `hone ingest` does. The first input byte
// chooses the options (fuzz_ingest.h; its variant bit picks TSV), the rest is the file.
#include "fuzz_ingest.h"
#include "fuzz_target.h"

HONE_FUZZ_TARGET(ingest_csv) {
  if (size == 0) return 0;
  const hone::fuzz::IngestInput in = hone::fuzz::ingest_input(data[0]);
  const auto path = hone::fuzz::input_file(data + 1, size - 1, in.variant ? "input.tsv" : "input.csv");
  const auto reader = hone::data::open_csv_reader(path, in.variant ? '\t' : ',', in.options);
  hone::fuzz::read_all_records(*reader, in.options);
  return 0;
}

// Banking77's first rows (beside the checkout), quoting, multi-line fields and a TSV.
HONE_FUZZ_SEEDS(ingest_csv) {
  using hone::fuzz::ingest_seed;
  const std::string banking =
      hone::fuzz::head_lines(std::string(HONE_DATA_DIR) + "/../../shared/datasets/banking77/train.csv", 6);
  if (!banking.empty()) seeds.add("banking77.csv", ingest_seed(5 << 3, banking));
  seeds.add("quoted.csv", ingest_seed(0, "prompt,completion\r\n"
                                         "\"Say \"\"hi\"\"\",\"hi, there\"\n"
                                         "\"two\nlines\",ok\n"
                                         "\n"
                                         "short\n"));
  seeds.add("labels.tsv", ingest_seed(4 | (5 << 3), "text\tlabel\nwhere is my card\tcard_arrival\n\"tab\there\"\tno\n"));
  seeds.add("unbalanced.csv", ingest_seed(2, "text\n\"never closes\nand more\n"));
}
