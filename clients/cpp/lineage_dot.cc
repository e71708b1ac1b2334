#include "clients/cpp/lineage_dot.h"

#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "clients/cpp/dot.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

const char* RunColor(v1::RunStatus status) {
  switch (status) {
    case v1::RUN_STATUS_SUCCESS:
      return kColorSuccess;
    case v1::RUN_STATUS_ERROR:
      return kColorError;
    case v1::RUN_STATUS_PROCESSING:
      return kColorProcessing;
    default:
      return kColorOther;
  }
}

}  // namespace

std::string RenderLineageDot(const v1::GetLineageResponse& lineage,
                             int64_t start_file_id, int64_t start_run_id) {
  std::map<int64_t, const v1::File*> files;
  std::map<int64_t, const v1::Run*> runs;
  for (const v1::File& f : lineage.files()) files[f.id()] = &f;
  for (const v1::Run& r : lineage.runs()) runs[r.id()] = &r;
  for (const v1::LineageEdge& e : lineage.edges()) {
    files.emplace(e.file_id(), nullptr);
    runs.emplace(e.run_id(), nullptr);
  }
  if (start_file_id > 0) files.emplace(start_file_id, nullptr);
  if (start_run_id > 0) runs.emplace(start_run_id, nullptr);

  std::string out = "digraph lineage {\n  rankdir=LR;\n";
  absl::StrAppend(&out,
                  "  node [fontname=\"Helvetica\", style=filled, fillcolor=",
                  DotQuote(kColorOther), "];\n");
  for (const auto& [id, f] : files) {
    std::string label =
        f == nullptr ? absl::StrCat("file ", id)
                     : absl::StrCat(f->source(), "/", f->file_name(), "\nfile ",
                                    id, ", ", StatusName(f->status()));
    absl::StrAppend(&out, "  f", id, " [shape=ellipse, fillcolor=\"#ffffff\", ",
                    "label=", DotQuote(label),
                    id == start_file_id ? ", penwidth=3" : "", "];\n");
  }
  for (const auto& [id, r] : runs) {
    std::string label =
        r == nullptr
            ? absl::StrCat("run ", id)
            : absl::StrCat(r->task_name(), "\nrun ", id, ", batch ",
                           r->batch_id(), "\n", StatusName(r->status()));
    absl::StrAppend(
        &out, "  r", id, " [shape=box, label=", DotQuote(label), ", fillcolor=",
        DotQuote(r == nullptr ? kColorOther : RunColor(r->status())),
        id == start_run_id ? ", penwidth=3" : "", "];\n");
  }
  std::set<std::tuple<int64_t, int64_t, int>> seen;
  for (const v1::LineageEdge& e : lineage.edges()) {
    if (!seen.insert({e.run_id(), e.file_id(), e.kind()}).second) continue;
    if (e.kind() == v1::LINEAGE_EDGE_KIND_INPUT) {
      absl::StrAppend(&out, "  f", e.file_id(), " -> r", e.run_id(), ";\n");
    } else {
      absl::StrAppend(&out, "  r", e.run_id(), " -> f", e.file_id(), ";\n");
    }
  }
  out += "}\n";
  return out;
}

}  // namespace metad::metactl
