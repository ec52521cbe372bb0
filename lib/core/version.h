// Version of hone and of the LibTorch it was built with, for `hone --version` and run metadata.
#pragma once

#include <string>

namespace hone {

// "hone 0.1.0 (LibTorch 2.11.0, CUDA 13.0 build, 0 GPUs visible)"
std::string version_string();

}  // namespace hone
