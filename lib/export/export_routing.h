// An export's routing.json (docs/formats.md, "routing.json"): the confidence rule of a calibrated
// eval report (report/routing.h) written beside the exported model, so that the model and the
// threshold chosen for it travel together. A directory output (peft, hf) holds it as
// OUT/routing.json; a file output gets OUT's stem + ".routing.json" beside it
// (student-q8_0.gguf -> student-q8_0.routing.json), so that several exports can share a directory.
#pragma once

#include "core/fs.h"
#include "export/export.h"
#include "report/routing.h"

namespace hone {

inline constexpr const char* kRoutingJson = "routing.json";

// Where the routing of an export to `out` in `format` goes.
fs::path routing_path(ExportFormat format, const fs::path& out);

// The routing of `options.routing` for `options.routing_model` (InputError naming the report, as
// routing_from_eval_report), checked against the export before anything is written: a warning when
// the report evaluated another model or adapter than the one exported, UsageError when a file
// output's routing file exists and `overwrite` is off.
Routing export_routing(const ExportOptions& options);

}  // namespace hone
