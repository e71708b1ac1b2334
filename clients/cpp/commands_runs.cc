// metactl runs ... and batch show: TaskLogService from a shell.
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

constexpr int64_t kMaxLease = 86400;

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat("metactl@", host, ":", getpid());
}

int Start(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("batch")) throw UsageError("--batch is required");
  v1::StartRunRequest request;
  request.set_task(args.positional()[0]);
  request.set_batch_id(args.Get("batch"));
  request.set_worker_id(args.Get("worker", DefaultWorkerId()));
  request.set_lease_seconds(
      static_cast<int32_t>(args.GetInt("lease", 0, 0, kMaxLease)));
  request.set_request_id(args.Get("request-id"));
  for (const std::string& kv : args.GetAll("label")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(
          absl::StrCat("--label: expected KEY=VALUE, got '", kv, "'"));
    }
    (*request.mutable_labels())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  v1::StartRunResponse response;
  grpc::Status status = ctx.client->StartRun(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r = RunRecord(response.run());
    r.Add("created", response.created() ? "true" : "false");
    r.Print(out);
  });
}

int Heartbeat(Context& ctx, const ParsedArgs& args) {
  v1::HeartbeatRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  request.set_lease_seconds(
      static_cast<int32_t>(args.GetInt("lease", 0, 0, kMaxLease)));
  v1::HeartbeatResponse response;
  grpc::Status status = ctx.client->Heartbeat(request, &response);
  return Show(ctx, status, response,
              [&](std::ostream& out) { RunRecord(response.run()).Print(out); });
}

int Finish(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("status")) throw UsageError("--status is required");
  v1::FinishRunRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  request.set_status(ParseRunStatus("--status", args.Get("status")));
  request.set_error_message(args.Get("message"));
  for (absl::string_view id :
       absl::StrSplit(args.Get("files"), ',', absl::SkipWhitespace())) {
    request.add_file_ids(ParseId("--files", std::string(id)));
  }
  request.set_settle_all_held(args.Has("settle-all-held"));
  v1::FinishRunResponse response;
  grpc::Status status = ctx.client->FinishRun(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r = RunRecord(response.run());
    r.Add("files_finished", absl::StrCat(response.files_finished()));
    r.Add("files_released", absl::StrCat(response.files_released()));
    if (response.replayed()) r.Add("replayed", "true");
    r.Print(out);
  });
}

int Get(Context& ctx, const ParsedArgs& args) {
  v1::GetRunRequest request;
  request.set_run_id(ParseId("RUN", args.positional()[0]));
  v1::Run run;
  grpc::Status status = ctx.client->GetRun(request, &run);
  return Show(ctx, status, run,
              [&](std::ostream& out) { RunRecord(run).Print(out); });
}

int List(Context& ctx, const ParsedArgs& args) {
  v1::ListRunsRequest request;
  request.set_task(args.Get("task"));
  request.set_batch_id(args.Get("batch"));
  if (args.Has("status")) {
    request.set_status(ParseRunStatus("--status", args.Get("status")));
  }
  if (args.Has("started-after")) {
    *request.mutable_started_after() =
        ParseTime("--started-after", args.Get("started-after"));
  }
  if (args.Has("started-before")) {
    *request.mutable_started_before() =
        ParseTime("--started-before", args.Get("started-before"));
  }
  request.set_label_selector(SelectorArg(args, "label"));
  return ListPages<v1::ListRunsRequest, v1::ListRunsResponse>(
      ctx, args, request, &client::Client::ListRuns,
      [](const v1::ListRunsResponse& r, std::ostream& out) {
        RunsTable(r.runs()).Print(out);
      });
}

int Events(Context& ctx, const ParsedArgs& args) {
  v1::ListRunEventsRequest request;
  if (!args.positional().empty()) {
    request.set_run_id(ParseId("RUN", args.positional()[0]));
  }
  request.set_batch_id(args.Get("batch"));
  return ListPages<v1::ListRunEventsRequest, v1::ListRunEventsResponse>(
      ctx, args, request, &client::Client::ListRunEvents,
      [](const v1::ListRunEventsResponse& r, std::ostream& out) {
        RunEventsTable(r.events()).Print(out);
      });
}

int BatchShow(Context& ctx, const ParsedArgs& args) {
  v1::GetBatchRequest request;
  request.set_batch_id(args.positional()[0]);
  v1::Batch batch;
  grpc::Status status = ctx.client->GetBatch(request, &batch);
  return Show(ctx, status, batch, [&](std::ostream& out) {
    BatchRecord(batch).Print(out);
    out << '\n';
    BatchTasksTable(batch).Print(out);
  });
}

}  // namespace

std::vector<Command> RunCommands() {
  return {
      {"runs",
       "start",
       "TASK",
       "Start a PROCESSING run of TASK in a batch, with a lease.",
       {{"batch", "BATCH", "the batch id (required)"},
        {"worker", "ID", "who runs it (default metactl@HOST:PID)"},
        {"lease", "SECONDS", "lease length (default: the task's)"},
        {"request-id", "ID",
         "idempotency key: the same key returns the same run (default: "
         "generated)"},
        {"label", "KEY=VALUE", "a label of the run", true}},
       1,
       1,
       Start},
      {"runs",
       "heartbeat",
       "RUN",
       "Extend a run's lease.",
       {{"lease", "SECONDS", "new lease from now (default: the run's)"}},
       1,
       1,
       Heartbeat},
      {"runs",
       "finish",
       "RUN",
       "End a run: the held files named by --files get the same outcome, "
       "the other held files go back to NEW (--settle-all-held: every held "
       "file gets the outcome; unsafe).",
       {{"status", "STATUS", "success or error (required)"},
        {"message", "TEXT", "error message"},
        {"files", "IDS", "comma-separated ids of the files the worker "
                         "processed"},
        {"settle-all-held", "", "every held file gets the outcome, named "
                                "or not"}},
       1,
       1,
       Finish},
      {"runs", "get", "RUN", "Show a run.", {}, 1, 1, Get},
      {"runs", "list", "", "List runs by id, filtered.",
       WithPaging(WithSelector(
           {{"task", "TASK", "only runs of this task"},
            {"batch", "BATCH", "only runs of this batch"},
            {"status", "STATUS", "processing, success or error"},
            {"started-after", "TIME", "RFC 3339, inclusive"},
            {"started-before", "TIME", "RFC 3339, exclusive"}},
           "label", "label")),
       0, 0, List},
      {"runs", "events", "[RUN]",
       "The audit trail of run state changes (of one run, a batch, or all).",
       WithPaging({{"batch", "BATCH", "only runs of this batch"}}), 0, 1,
       Events},
      {"batch",
       "show",
       "BATCH",
       "Summarise a batch: per-task state and run counts.",
       {},
       1,
       1,
       BatchShow},
  };
}

}  // namespace metad::metactl
