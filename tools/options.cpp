#include "options.h"

#include "core/error.h"

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

std::vector<EvalModel> eval_models(const std::vector<std::string>& models, const std::vector<std::string>& adapters,
                                   const std::vector<std::string>& names) {
  HONE_CHECK(adapters.empty() || adapters.size() == models.size(), UsageError,
             "{} --adapter for {} --model: give one per model ('-' for none)", adapters.size(), models.size());
  HONE_CHECK(names.empty() || names.size() == models.size(), UsageError, "{} --name for {} --model: give one per model",
             names.size(), models.size());
  std::vector<EvalModel> out;
  for (std::size_t i = 0; i < models.size(); ++i) {
    EvalModel m;
    m.model = models[i];
    if (!adapters.empty() && adapters[i] != "-" && adapters[i] != "none") m.adapter = adapters[i];
    if (!names.empty()) m.name = names[i];
    out.push_back(m);
  }
  return out;
}

std::optional<double> parse_threshold(const std::string& text) {
  if (text.empty() || text == "auto") return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  HONE_CHECK(used == text.size(), UsageError, "--threshold '{}': expected a probability or 'auto'", text);
  return v;
}

}  // namespace hone::tools
