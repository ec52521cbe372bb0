#include "export/export_routing.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace hone {

namespace {

// `p` for comparison: without a trailing separator, "." or "..", and absolute where it exists.
fs::path comparable(fs::path p) {
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c;
}

// Warns when the report evaluated `evaluated` ("" : none) where the export reads `exported`.
void warn_if_other(const char* what, const std::string& evaluated, const fs::path& exported, const Routing& r,
                   const fs::path& report) {
  if (evaluated.empty() && exported.empty()) return;
  if (!evaluated.empty() && !exported.empty() && comparable(evaluated) == comparable(exported)) return;
  spdlog::warn(
      "{}: model '{}' was evaluated with {} {}, this export has {}: its threshold was chosen for the "
      "evaluated one",
      report.string(), r.model, what, evaluated.empty() ? "(none)" : evaluated,
      exported.empty() ? "(none)" : exported.string());
}

}  // namespace

fs::path routing_path(ExportFormat format, const fs::path& out) {
  if (format == ExportFormat::kPeft || format == ExportFormat::kHf) return out / kRoutingJson;
  return out.parent_path() / (out.stem().string() + ".routing.json");
}

Routing export_routing(const ExportOptions& o) {
  Routing r = routing_from_eval_report(o.routing, o.routing_model);
  const fs::path path = routing_path(o.format, o.out);
  std::error_code ec;
  HONE_CHECK(o.overwrite || !fs::exists(path, ec), UsageError, Hint{"pass --overwrite to replace it"}, "{} exists",
             path.string());
  // The paths are compared as eval was given them; a report that recorded none is not compared.
  if (!r.evaluated_model.empty()) {
    warn_if_other("model", r.evaluated_model, o.model, r, o.routing);
    warn_if_other("adapter", r.evaluated_adapter, o.adapter, r, o.routing);
  }
  return r;
}

}  // namespace hone
