#include "eval/eval_model.h"

#include <spdlog/spdlog.h>

#include "core/measure.h"

namespace hone {

namespace {

// An adapter's size on disk: its weights and config only (a lora-train run directory also holds
// best/, checkpoints/ and metrics, which serving does not need).
std::uint64_t adapter_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})  // what read_lora_adapter reads
    if (fs::is_regular_file(dir / f, ec)) n += fs::file_size(dir / f, ec);
  return n;
}

std::string default_name(const EvalModel& m) {
  if (!m.name.empty()) return m.name;
  std::string s = m.model.filename().string();
  if (!m.adapter.empty()) s += "+" + m.adapter.filename().string();
  return s;
}

}  // namespace

LoadedModel load_eval_model(const EvalModel& m, c10::Device device, c10::ScalarType dtype, const fs::path& chat_template) {
  LoadedModel out;
  LoadOptions lo;
  lo.device = device;
  lo.dtype = dtype;
  out.lm = load_language_model(m.model, lo);
  out.name = default_name(m);
  out.params = out.lm.decoder->config().parameter_count();
  out.bytes = disk_usage(m.model);
  const LoraAdapter a = apply_adapter(out.lm, m.adapter, chat_template, m.model.string());
  if (!m.adapter.empty()) {
    out.adapter_params = a.parameter_count();
    out.bytes += adapter_bytes(m.adapter);
  }
  if (out.lm.decoder->pack_for_cpu_inference()) spdlog::debug("{}: weights packed for oneDNN", out.name);
  return out;
}

}  // namespace hone
