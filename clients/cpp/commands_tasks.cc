// metactl tasks ...: TaskService from a shell.
#include "absl/strings/ascii.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// NAME|ID: all digits is an id unless --name says otherwise.
template <typename Request>
void SetKey(const ParsedArgs& args, Request* request) {
  const std::string& key = args.positional()[0];
  if (AllDigits(key) && !args.Has("name")) {
    request->set_id(ParseId("ID", key));
  } else {
    request->set_name(key);
  }
}

int Register(Context& ctx, const ParsedArgs& args) {
  v1::RegisterTaskRequest request;
  request.set_name(args.positional()[0]);
  request.set_description(args.Get("description"));
  request.set_max_attempts(static_cast<int32_t>(
      args.GetInt("max-attempts", 0, 0, std::numeric_limits<int32_t>::max())));
  request.set_default_lease_seconds(static_cast<int32_t>(
      args.GetInt("lease", 0, 0, std::numeric_limits<int32_t>::max())));
  request.set_request_id(args.Get("request-id"));
  if (args.Has("expected-duration")) {
    *request.mutable_expected_duration() =
        ParseDurationFlag("expected-duration", args.Get("expected-duration"));
  }
  v1::RegisterTaskResponse response;
  grpc::Status status = ctx.client->RegisterTask(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    Record r = TaskRecord(response.task());
    r.Add("created", response.created() ? "true" : "false");
    r.Print(out);
  });
}

// Only the flags given go into the mask; --etag makes it conditional.
int Update(Context& ctx, const ParsedArgs& args) {
  v1::UpdateTaskRequest request;
  v1::Task* task = request.mutable_task();
  task->set_name(args.positional()[0]);
  auto* paths = request.mutable_update_mask()->mutable_paths();
  if (args.Has("description")) {
    task->set_description(args.Get("description"));
    paths->Add("description");
  }
  if (args.Has("max-attempts")) {
    task->set_max_attempts(static_cast<int32_t>(args.GetInt(
        "max-attempts", 0, 0, std::numeric_limits<int32_t>::max())));
    paths->Add("max_attempts");
  }
  if (args.Has("lease")) {
    task->set_default_lease_seconds(static_cast<int32_t>(
        args.GetInt("lease", 0, 0, std::numeric_limits<int32_t>::max())));
    paths->Add("default_lease_seconds");
  }
  if (args.Has("concurrency-limit")) {
    task->set_concurrency_limit(static_cast<int32_t>(args.GetInt(
        "concurrency-limit", 0, 0, std::numeric_limits<int32_t>::max())));
    paths->Add("concurrency_limit");
  }
  if (args.Has("concurrency-key-label")) {
    task->set_concurrency_key_label(args.Get("concurrency-key-label"));
    paths->Add("concurrency_key_label");
  }
  if (args.Has("expected-duration")) {
    // "" clears it (unset in the mask).
    if (!args.Get("expected-duration").empty()) {
      *task->mutable_expected_duration() =
          ParseDurationFlag("expected-duration", args.Get("expected-duration"));
    }
    paths->Add("expected_duration");
  }
  request.set_etag(args.Get("etag"));
  v1::Task updated;
  grpc::Status status = ctx.client->UpdateTask(request, &updated);
  return Show(ctx, status, updated,
              [&](std::ostream& out) { TaskRecord(updated).Print(out); });
}

int Get(Context& ctx, const ParsedArgs& args) {
  v1::GetTaskRequest request;
  SetKey(args, &request);
  v1::Task task;
  grpc::Status status = ctx.client->GetTask(request, &task);
  return Show(ctx, status, task,
              [&](std::ostream& out) { TaskRecord(task).Print(out); });
}

int List(Context& ctx, const ParsedArgs& args) {
  v1::ListTasksRequest request;
  request.set_name_prefix(args.Get("prefix"));
  return ListPages<v1::ListTasksRequest, v1::ListTasksResponse>(
      ctx, args, request, &client::Client::ListTasks,
      [](const v1::ListTasksResponse& r, std::ostream& out) {
        TasksTable(r.tasks()).Print(out);
      });
}

int Delete(Context& ctx, const ParsedArgs& args) {
  v1::DeleteTaskRequest request;
  SetKey(args, &request);
  v1::DeleteTaskResponse response;
  grpc::Status status = ctx.client->DeleteTask(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    out << "deleted task " << response.task().name() << " ("
        << response.task().id() << ")\n";
  });
}

int Events(Context& ctx, const ParsedArgs& args) {
  v1::ListTaskEventsRequest request;
  if (!args.positional().empty()) request.set_task(args.positional()[0]);
  return ListPages<v1::ListTaskEventsRequest, v1::ListTaskEventsResponse>(
      ctx, args, request, &client::Client::ListTaskEvents,
      [](const v1::ListTaskEventsResponse& r, std::ostream& out) {
        TaskEventsTable(r.events()).Print(out);
      });
}

const Flag kByName{"name", "",
                   "treat an all-digit argument as a name, not an id"};

}  // namespace

std::vector<Command> TaskCommands() {
  return {
      {"tasks",
       "register",
       "NAME",
       "Create a task, or update the description and settings of an "
       "existing one.",
       {{"description", "TEXT", "free text"},
        {"max-attempts", "N", "ERROR runs allowed per batch (default 1)"},
        {"lease", "SECONDS", "default lease of its runs (default 60)"},
        {"expected-duration", "DURATION",
         "due this long after its batch's first run, e.g. 90m"},
        {"request-id", "ID", "idempotency key (default: generated)"}},
       1,
       1,
       Register},
      {"tasks",
       "update",
       "NAME",
       "Change the settings given (only those), optionally only if the "
       "task still has --etag (else exit 10, ABORTED ETAG_MISMATCH).",
       {{"description", "TEXT", "new description (\"\" clears it)"},
        {"max-attempts", "N", "ERROR runs allowed per batch"},
        {"lease", "SECONDS", "default lease of its runs"},
        {"concurrency-limit", "N",
         "live runs allowed at once over all batches (0: no limit)"},
        {"concurrency-key-label", "LABEL",
         "apply the limit per value of this run label (\"\": one limit)"},
        {"expected-duration", "DURATION",
         "due this long after its batch's first run (\"\" clears it)"},
        {"etag", "ETAG", "the etag read (tasks get); empty: unconditional"}},
       1,
       1,
       Update},
      {"tasks",
       "get",
       "NAME|ID",
       "Show a task by name or id.",
       {kByName},
       1,
       1,
       Get},
      {"tasks", "list", "", "List tasks by id.",
       WithPaging({{"prefix", "P", "only names starting with P"}}), 0, 0, List},
      {"tasks",
       "delete",
       "NAME|ID",
       "Delete a task that has no runs and no dependencies.",
       {kByName},
       1,
       1,
       Delete},
      {"tasks", "events", "[TASK]",
       "The audit trail of tasks: registrations, updates, deletions, "
       "dependency changes and reopenings, with who made them.",
       WithPaging({}), 0, 1, Events},
  };
}

}  // namespace metad::metactl
