// metactl runs cancel / runs rerun: the operator's verbs of TaskLogService.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

int Cancel(Context& ctx, const ParsedArgs& args) {
  v1::CancelRunRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  request.set_reason(args.Get("reason"));
  v1::CancelRunResponse response;
  grpc::Status status = ctx.client->CancelRun(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r = RunRecord(response.run());
    r.Add("files_released", absl::StrCat(response.files_released()));
    r.Add("replayed", response.replayed() ? "true" : "false");
    r.Print(out);
  });
}

int Rerun(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("batch")) throw UsageError("--batch is required");
  v1::RerunTasksRequest request;
  request.set_batch_id(args.Get("batch"));
  for (const std::string& task : args.positional()) request.add_tasks(task);
  request.set_include_downstream(args.Has("downstream"));
  request.set_reason(args.Get("reason"));
  v1::RerunTasksResponse response;
  grpc::Status status = ctx.client->RerunTasks(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r;
    r.Add("batch_id", request.batch_id());
    r.Add("reopened", absl::StrJoin(response.tasks(), ", "));
    r.Add("runs_superseded", absl::StrCat(response.runs_superseded()));
    r.Print(out);
  });
}

}  // namespace

std::vector<Command> RunVerbCommands() {
  return {
      {"runs",
       "cancel",
       "RUN",
       "End a PROCESSING run as ERROR (\"cancelled: REASON\"); its files go "
       "back to NEW and its worker's next call is refused (RUN_CANCELLED).",
       {{"reason", "TEXT", "why, recorded in the run's error message"}},
       1,
       1,
       Cancel},
      {"runs",
       "rerun",
       "TASK...",
       "Reopen tasks in a batch so that they may run again with fresh "
       "attempts; their earlier runs stay listed, superseded.",
       {{"batch", "BATCH", "the batch id (required)"},
        {"downstream", "", "also every task downstream of them"},
        {"reason", "TEXT", "recorded in each REOPENED task event"}},
       1,
       100,
       Rerun},
  };
}

}  // namespace metad::metactl
