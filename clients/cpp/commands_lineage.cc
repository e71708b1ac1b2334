// metactl lineage ...: GetLineage as a table, JSON or Graphviz dot; and
// metactl runs outputs: RecordOutputs from a shell.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/lineage_dot.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

// Every page of the walk merged into one response, each file and run once.
grpc::Status FetchLineage(client::Client& client, v1::GetLineageRequest request,
                          v1::GetLineageResponse* merged) {
  std::set<int64_t> files, runs;
  for (;;) {
    v1::GetLineageResponse page;
    grpc::Status status = client.GetLineage(request, &page);
    if (!status.ok()) return status;
    for (v1::LineageEdge& e : *page.mutable_edges()) {
      *merged->add_edges() = std::move(e);
    }
    for (v1::File& f : *page.mutable_files()) {
      if (files.insert(f.id()).second) *merged->add_files() = std::move(f);
    }
    for (v1::Run& r : *page.mutable_runs()) {
      if (runs.insert(r.id()).second) *merged->add_runs() = std::move(r);
    }
    if (page.next_page_token().empty()) return grpc::Status::OK;
    request.set_page_token(page.next_page_token());
  }
}

void PrintLineageTable(const v1::GetLineageResponse& lineage,
                       std::ostream& out) {
  std::map<int64_t, const v1::File*> files;
  std::map<int64_t, const v1::Run*> runs;
  for (const v1::File& f : lineage.files()) files[f.id()] = &f;
  for (const v1::Run& r : lineage.runs()) runs[r.id()] = &r;
  Table t({"DEPTH", "KIND", "RUN", "TASK", "BATCH", "RUN_STATUS", "FILE",
           "SOURCE", "FILE_NAME", "FILE_STATUS"});
  for (const v1::LineageEdge& e : lineage.edges()) {
    const v1::Run* r = runs.count(e.run_id()) ? runs[e.run_id()] : nullptr;
    const v1::File* f = files.count(e.file_id()) ? files[e.file_id()] : nullptr;
    t.AddRow({absl::StrCat(e.depth()),
              e.kind() == v1::LINEAGE_EDGE_KIND_INPUT ? "INPUT" : "OUTPUT",
              absl::StrCat(e.run_id()), r ? r->task_name() : "-",
              r ? r->batch_id() : "-", r ? StatusName(r->status()) : "-",
              absl::StrCat(e.file_id()), f ? f->source() : "-",
              f ? f->file_name() : "-", f ? StatusName(f->status()) : "-"});
  }
  t.Print(out);
}

int Lineage(Context& ctx, const ParsedArgs& args) {
  if (args.Has("file") == args.Has("run")) {
    throw UsageError("give exactly one of --file and --run");
  }
  if (args.Has("up") && args.Has("down")) {
    throw UsageError("give at most one of --up and --down (neither: both)");
  }
  v1::GetLineageRequest request;
  if (args.Has("file")) {
    request.set_file_id(ParseId("--file", args.Get("file")));
  } else {
    request.set_run_id(ParseId("--run", args.Get("run")));
  }
  request.set_direction(args.Has("up")     ? v1::LINEAGE_DIRECTION_UPSTREAM
                        : args.Has("down") ? v1::LINEAGE_DIRECTION_DOWNSTREAM
                                           : v1::LINEAGE_DIRECTION_BOTH);
  // The server says the rule (1..16) for a depth out of range.
  request.set_max_depth(static_cast<int32_t>(
      args.GetInt("depth", 0, 0, std::numeric_limits<int32_t>::max())));
  request.set_page_size(5000);
  v1::GetLineageResponse lineage;
  grpc::Status status = FetchLineage(*ctx.client, request, &lineage);
  if (!status.ok()) return Fail(ctx, status);
  if (args.Has("dot")) {
    *ctx.out << RenderLineageDot(lineage, request.file_id(), request.run_id());
    return 0;
  }
  return Show(ctx, status, lineage,
              [&](std::ostream& out) { PrintLineageTable(lineage, out); });
}

int Outputs(Context& ctx, const ParsedArgs& args) {
  v1::RecordOutputsRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  const std::string source = args.Get("source");
  if (source.empty()) throw UsageError("--source is required");
  for (size_t i = 1; i < args.positional().size(); ++i) {
    v1::FileSpec* spec = request.add_outputs();
    spec->set_source(source);
    spec->set_file_name(args.positional()[i]);
  }
  v1::RecordOutputsResponse response;
  grpc::Status status = ctx.client->RecordOutputs(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Table t({"ID", "SOURCE", "FILE_NAME", "STATUS", "CREATED"});
    for (const v1::RegisterFileResponse& r : response.outputs()) {
      t.AddRow({absl::StrCat(r.file().id()), r.file().source(),
                r.file().file_name(), StatusName(r.file().status()),
                r.created() ? "true" : "false"});
    }
    t.Print(out);
  });
}

}  // namespace

std::vector<Command> LineageCommands() {
  return {
      {"lineage",
       "",
       "",
       "The runs and files upstream and/or downstream of a file or a run: "
       "which run produced a file, what it was made from, what was made "
       "from it. Every page is fetched. A table by default, JSON with "
       "--output json, Graphviz dot with --dot (try: metactl lineage --file "
       "ID --dot | dot -Tsvg > lineage.svg).",
       {{"file", "ID", "start at this file"},
        {"run", "ID", "start at this run"},
        {"up", "", "only upstream (what it came from)"},
        {"down", "", "only downstream (what came from it)"},
        {"depth", "N", "run-file steps to walk, 1..16 (default 3)"},
        {"dot", "", "print Graphviz dot instead of a table"}},
       0,
       0,
       Lineage},
      {"runs",
       "outputs",
       "RUN NAME...",
       "Record files of --source that a live run produced (RecordOutputs): "
       "registered if new, with the run as their producer.",
       {{"source", "SOURCE", "the outputs' source (required)"}},
       2,
       kMany,
       Outputs},
  };
}

}  // namespace metad::metactl
