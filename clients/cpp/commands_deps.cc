// metactl deps ...: DependencyService from a shell, and the graph in dot.
#include "absl/strings/str_cat.h"
#include "clients/cpp/commands.h"
#include "clients/cpp/dot.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

constexpr int64_t kMaxDepth = std::numeric_limits<int32_t>::max();

// Calls `call` page after page and folds the pages into *whole with
// `merge`, so that the output is the one answer of an unpaged call.
template <typename Request, typename Response, typename Call, typename Merge>
grpc::Status AllPages(Request request, Response* whole, Call call,
                      Merge merge) {
  for (bool first = true;; first = false) {
    Response page;
    grpc::Status status = call(request, &page);
    if (!status.ok()) return status;
    const std::string token = page.next_page_token();
    if (first) {
      *whole = std::move(page);
    } else {
      merge(&page, whole);
    }
    if (token.empty()) break;
    request.set_page_token(token);
  }
  whole->clear_next_page_token();
  return grpc::Status::OK;
}

// Lists append (MergeFrom appends repeated fields).
template <typename Response>
void Append(Response* page, Response* whole) {
  whole->MergeFrom(*page);
}

// A layer split over two pages comes back on both with the same index.
void AppendLayers(v1::GetExecutionPlanResponse* page,
                  v1::GetExecutionPlanResponse* whole) {
  for (v1::ExecutionLayer& layer : *page->mutable_layers()) {
    int n = whole->layers_size();
    if (n > 0 && whole->layers(n - 1).index() == layer.index()) {
      whole->mutable_layers(n - 1)->mutable_tasks()->MergeFrom(layer.tasks());
    } else {
      *whole->add_layers() = std::move(layer);
    }
  }
}

int Add(Context& ctx, const ParsedArgs& args) {
  v1::AddDependencyRequest request;
  request.set_parent_task(args.positional()[0]);
  request.set_child_task(args.positional()[1]);
  request.set_request_id(args.Get("request-id"));
  v1::AddDependencyResponse response;
  grpc::Status status = ctx.client->AddDependency(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    const v1::Dependency& d = response.dependency();
    out << d.parent_task() << " -> " << d.child_task()
        << (response.created() ? " (added)" : " (already there)") << "\n";
  });
}

int Remove(Context& ctx, const ParsedArgs& args) {
  v1::RemoveDependencyRequest request;
  request.set_parent_task(args.positional()[0]);
  request.set_child_task(args.positional()[1]);
  v1::RemoveDependencyResponse response;
  grpc::Status status = ctx.client->RemoveDependency(request, &response);
  return Show(ctx, status, response, [&](std::ostream& out) {
    const v1::Dependency& d = response.dependency();
    out << d.parent_task() << " -> " << d.child_task() << " (removed)\n";
  });
}

int List(Context& ctx, const ParsedArgs& args) {
  if (args.Has("parents") == args.Has("children")) {
    throw UsageError("give exactly one of --parents and --children");
  }
  v1::ListDependenciesRequest request;
  request.set_task(args.positional()[0]);
  request.set_direction(args.Has("parents") ? v1::DIRECTION_PARENTS
                                            : v1::DIRECTION_CHILDREN);
  v1::ListDependenciesResponse response;
  grpc::Status status = AllPages(
      request, &response,
      [&](const auto& req, auto* resp) {
        return ctx.client->ListDependencies(req, resp);
      },
      Append<decltype(response)>);
  return Show(ctx, status, response, [&](std::ostream& out) {
    DependenciesTable(response.dependencies()).Print(out);
  });
}

int Upstream(Context& ctx, const ParsedArgs& args) {
  v1::GetUpstreamRequest request;
  request.set_task(args.positional()[0]);
  request.set_max_depth(
      static_cast<int32_t>(args.GetInt("depth", 0, 0, kMaxDepth)));
  v1::GetUpstreamResponse response;
  grpc::Status status = AllPages(
      request, &response,
      [&](const auto& req, auto* resp) {
        return ctx.client->GetUpstream(req, resp);
      },
      Append<decltype(response)>);
  return Show(ctx, status, response, [&](std::ostream& out) {
    TasksAtDepthTable(response.tasks()).Print(out);
  });
}

int Downstream(Context& ctx, const ParsedArgs& args) {
  v1::GetDownstreamRequest request;
  request.set_task(args.positional()[0]);
  request.set_max_depth(
      static_cast<int32_t>(args.GetInt("depth", 0, 0, kMaxDepth)));
  v1::GetDownstreamResponse response;
  grpc::Status status = AllPages(
      request, &response,
      [&](const auto& req, auto* resp) {
        return ctx.client->GetDownstream(req, resp);
      },
      Append<decltype(response)>);
  return Show(ctx, status, response, [&](std::ostream& out) {
    TasksAtDepthTable(response.tasks()).Print(out);
  });
}

int Plan(Context& ctx, const ParsedArgs& args) {
  v1::GetExecutionPlanRequest request;
  for (const std::string& t : args.positional()) request.add_targets(t);
  v1::GetExecutionPlanResponse response;
  grpc::Status status = AllPages(
      request, &response,
      [&](const auto& req, auto* resp) {
        return ctx.client->GetExecutionPlan(req, resp);
      },
      AppendLayers);
  return Show(ctx, status, response, [&](std::ostream& out) {
    PlanTable(response.layers()).Print(out);
  });
}

int Ready(Context& ctx, const ParsedArgs& args) {
  if (!args.Has("batch")) throw UsageError("--batch is required");
  v1::GetReadyTasksRequest request;
  request.set_batch_id(args.Get("batch"));
  for (const std::string& t : args.positional()) request.add_targets(t);
  v1::GetReadyTasksResponse response;
  grpc::Status status = AllPages(
      request, &response,
      [&](const auto& req, auto* resp) {
        return ctx.client->GetReadyTasks(req, resp);
      },
      Append<decltype(response)>);
  return Show(ctx, status, response, [&](std::ostream& out) {
    TasksTable(response.tasks()).Print(out);
  });
}

// Reads the whole graph: every task (all pages), each task's children, and
// with a batch its summary (a batch without runs is empty, not an error)
// and its ready tasks.
grpc::Status FetchGraph(client::Client& client, const std::string& batch_id,
                        GraphInput* graph) {
  v1::ListTasksRequest list;
  list.set_page_size(1000);
  for (;;) {
    v1::ListTasksResponse page;
    grpc::Status status = client.ListTasks(list, &page);
    if (!status.ok()) return status;
    for (const v1::Task& t : page.tasks()) graph->tasks.push_back(t);
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  for (const v1::Task& t : graph->tasks) {
    v1::ListDependenciesRequest request;
    request.set_task(t.name());
    request.set_direction(v1::DIRECTION_CHILDREN);
    v1::ListDependenciesResponse response;
    grpc::Status status = AllPages(
        request, &response,
        [&](const auto& req, auto* resp) {
          return client.ListDependencies(req, resp);
        },
        Append<v1::ListDependenciesResponse>);
    // A task deleted since it was listed has no edges left.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    if (!status.ok()) return status;
    for (const v1::Dependency& d : response.dependencies()) {
      graph->edges.push_back(d);
    }
  }
  if (batch_id.empty()) return grpc::Status::OK;
  graph->has_batch = true;
  v1::GetBatchRequest get_batch;
  get_batch.set_batch_id(batch_id);
  grpc::Status status = client.GetBatch(get_batch, &graph->batch);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    graph->batch.Clear();
  } else if (!status.ok()) {
    return status;
  }
  graph->batch.set_batch_id(batch_id);
  v1::GetReadyTasksRequest ready;
  ready.set_batch_id(batch_id);
  v1::GetReadyTasksResponse ready_response;
  status = AllPages(
      ready, &ready_response,
      [&](const auto& req, auto* resp) {
        return client.GetReadyTasks(req, resp);
      },
      Append<v1::GetReadyTasksResponse>);
  if (!status.ok()) return status;
  for (const v1::Task& t : ready_response.tasks()) graph->ready.push_back(t);
  return grpc::Status::OK;
}

int Graph(Context& ctx, const ParsedArgs& args) {
  std::string format = args.Get("format", "dot");
  if (format != "dot") {
    throw UsageError(
        absl::StrCat("--format: only dot is supported, got '", format, "'"));
  }
  GraphInput graph;
  grpc::Status status = FetchGraph(*ctx.client, args.Get("batch"), &graph);
  if (!status.ok()) return Fail(ctx, status);
  *ctx.out << RenderDot(graph);
  return 0;
}

}  // namespace

std::vector<Command> DepCommands() {
  return {
      {"deps",
       "add",
       "PARENT CHILD",
       "Make CHILD wait for PARENT (refused if it would close a cycle).",
       {{"request-id", "ID", "idempotency key (default: generated)"}},
       2,
       2,
       Add},
      {"deps",
       "remove",
       "PARENT CHILD",
       "Remove the edge PARENT -> CHILD.",
       {},
       2,
       2,
       Remove},
      {"deps",
       "list",
       "TASK",
       "Direct parents or children of a task.",
       {{"parents", "", "the tasks TASK waits for"},
        {"children", "", "the tasks waiting for TASK"}},
       1,
       1,
       List},
      {"deps",
       "upstream",
       "TASK",
       "Every task TASK depends on, transitively, with its depth.",
       {{"depth", "N", "how far to walk (default: no limit)"}},
       1,
       1,
       Upstream},
      {"deps",
       "downstream",
       "TASK",
       "Every task that depends on TASK, transitively, with its depth.",
       {{"depth", "N", "how far to walk (default: no limit)"}},
       1,
       1,
       Downstream},
      {"deps",
       "plan",
       "TARGET...",
       "Topological layers of the targets and everything they depend on.",
       {},
       1,
       kMany,
       Plan},
      {"deps",
       "ready",
       "[TARGET...]",
       "Tasks that can start now in a batch (of the targets' upstream "
       "closure, or of all tasks).",
       {{"batch", "BATCH", "the batch id (required)"}},
       0,
       kMany,
       Ready},
      {"deps",
       "graph",
       "",
       "The whole dependency graph as Graphviz dot (always dot, whatever "
       "--output says). With --batch, tasks are coloured by their state in "
       "the batch: SUCCESS green, ERROR red, PROCESSING yellow, ready blue, "
       "other grey. Try: metactl deps graph --batch B | dot -Tsvg > g.svg",
       {{"format", "FORMAT", "output format; only dot (the default)"},
        {"batch", "BATCH", "colour tasks by their state in this batch"}},
       0,
       0,
       Graph},
  };
}

}  // namespace metad::metactl
