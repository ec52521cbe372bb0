#include "options.h"

namespace hone::tools {

CLI::Option* add_dtype_option(CLI::App& cmd, ComputeDtype& target, const std::string& help) {
  return add_choice(cmd, "--dtype", target,
                    {ComputeDtype::kAuto, ComputeDtype::kFast, ComputeDtype::kF32, ComputeDtype::kBF16, ComputeDtype::kF16},
                    "Compute type: " + help +
                        ". auto: bf16 on CUDA, f32 on the CPU; fast: bf16 where it is native (CUDA, AVX512/AMX CPUs), "
                        "f32 elsewhere; f16: CUDA only");
}

CLI::Option* add_device_option(CLI::App& cmd, std::string& target) {
  return cmd.add_option("--device", target, "cpu, cuda (the GPU of LOCAL_RANK) or cuda:N")->capture_default_str();
}

CLI::Option* add_top_k_option(CLI::App& cmd, std::int64_t& target, const std::string& help) {
  return cmd.add_option("--top-k", target, "The k most likely tokens: " + help)->capture_default_str();
}

}  // namespace hone::tools
