// metactl batch deadline, sources freshness, alerts list: DeadlineService
// from a shell.
#include "absl/strings/str_cat.h"
#include "clients/cpp/commands.h"

namespace metad::metactl {
namespace {

int BatchDeadline(Context& ctx, const ParsedArgs& args) {
  v1::SetBatchDeadlineRequest request;
  request.set_batch_id(args.positional()[0]);
  request.set_task(args.positional()[1]);
  if (args.Has("clear") == args.Has("at")) {
    throw UsageError("give either --at TIME or --clear");
  }
  if (args.Has("at")) {
    *request.mutable_deadline() = ParseTime("--at", args.Get("at"));
  }
  request.set_clear(args.Has("clear"));
  v1::SetBatchDeadlineResponse response;
  grpc::Status status = ctx.client->SetBatchDeadline(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r;
    r.Add("batch_id", request.batch_id());
    r.Add("task", request.task());
    r.Add("deadline", FormatTime(response.deadline()));
    r.Print(out);
  });
}

int SourceFreshness(Context& ctx, const ParsedArgs& args) {
  v1::SetSourceFreshnessRequest request;
  request.set_source(args.positional()[0]);
  if (args.Has("remove") == args.Has("max-age")) {
    throw UsageError("give either --max-age DURATION or --remove");
  }
  if (args.Has("max-age")) {
    *request.mutable_max_age() =
        ParseDurationFlag("max-age", args.Get("max-age"));
  }
  v1::SourceFreshness response;
  grpc::Status status = ctx.client->SetSourceFreshness(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r;
    r.Add("source", response.source());
    r.Add("max_age", response.has_max_age()
                         ? absl::StrCat(response.max_age().seconds(), "s")
                         : "-");
    r.Add("last_file_time", FormatTime(response.last_file_time()));
    r.Add("stale", response.stale() ? "true" : "false");
    r.Print(out);
  });
}

int AlertsList(Context& ctx, const ParsedArgs& args) {
  v1::ListAlertsRequest request;
  request.set_kind(args.Get("kind"));
  request.set_after_id(args.GetInt("after", 0, 0, INT64_MAX));
  request.set_page_size(
      static_cast<int32_t>(args.GetInt("page-size", 0, 0, 1000)));
  v1::ListAlertsResponse response;
  grpc::Status status = ctx.client->ListAlerts(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Table t(
        {"ID", "KIND", "TASK/SOURCE", "BATCH", "DUE", "RECORDED", "MESSAGE"});
    for (const v1::Alert& a : response.alerts()) {
      t.AddRow({absl::StrCat(a.id()), a.kind(),
                a.kind() == "STALE" ? a.source() : a.task(),
                a.batch_id().empty() ? "-" : a.batch_id(),
                FormatTime(a.due_time()), FormatTime(a.event_time()),
                a.message()});
    }
    t.Print(out);
    if (response.has_more()) {
      out << "(more: --after " << response.alerts().rbegin()->id() << ")\n";
    }
  });
}

}  // namespace

std::vector<Command> DeadlineCommands() {
  return {
      {"batch",
       "deadline",
       "BATCH TASK",
       "Give TASK an absolute deadline in BATCH (or clear it); past it with "
       "no SUCCESS run, metad records DEADLINE_MISSED.",
       {{"at", "TIME", "RFC 3339, e.g. 2024-03-01T06:00:00Z"},
        {"clear", "", "remove it (the task's expected duration applies)"}},
       2,
       2,
       BatchDeadline},
      {"sources",
       "freshness",
       "SOURCE",
       "Declare how often SOURCE gets new files; when its latest file is "
       "older, metad records STALE (once per gap).",
       {{"max-age", "DURATION", "e.g. 1h, 15m"},
        {"remove", "", "remove the declaration"}},
       1,
       1,
       SourceFreshness},
      {"alerts",
       "list",
       "",
       "Missed deadlines (DEADLINE_MISSED) and stale sources (STALE), by id.",
       {{"kind", "KIND", "DEADLINE_MISSED or STALE"},
        {"after", "ID", "only alerts after this id"},
        {"page-size", "N", "at most N (default 100)"}},
       0,
       0,
       AlertsList},
  };
}

}  // namespace metad::metactl
