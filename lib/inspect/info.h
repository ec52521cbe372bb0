// `hone info`: a readable summary of a model or data file, whatever its format.
#pragma once

#include <string>

#include "core/fs.h"

namespace hone {

struct InfoOptions {
  bool all_metadata = false;  // list every metadata key, not only the scalar ones
  int max_tensors = 0;        // list up to this many tensors (0: none)
};

// Summarises a .gguf file, a .safetensors file or index, an HF model directory (config.json +
// weights + tokenizer files) or an HDF5 (.h5) file. Throws InputError for anything else.
std::string describe_file(const fs::path& path, const InfoOptions& options = {});

// "134.5M", "1.2B", "98.4 MB" style numbers.
std::string human_count(double n);
std::string human_bytes(double n);

}  // namespace hone
