// GetReadyTasks: from the task graph held in memory plus the batch's runs
// (task_graph.h), or all in SQL when the graph is too big to hold or keeps
// changing under the call. Both answer the same rule, documented at
// DependencyStore::ReadyTasks; tests/dependency_store_pgtest.cc holds them to
// the same reference.
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "store/dependency_store.h"
#include "common/status_macros.h"
#include "store/task_store.h"

namespace metad::store {
namespace {

using metad::v1::Task;

// How often a call looks for a graph matching its runs' snapshot before it
// answers from SQL (graph changes are rare; this bounds a storm of them).
constexpr int kGraphAttempts = 3;
// A graph found too big is counted again after this long.
constexpr absl::Duration kTooBigRecheck = absl::Seconds(60);

// The ready rule is metad_may_start (migrations/functions/40_rules.sql).
// Every task: metad_batch_readiness, set-based.
constexpr Query kReadyAll{
    "dependency.ready_all",
    "SELECT" METAD_TASK_COLUMNS
    "FROM tasks t JOIN metad_batch_readiness($1) r ON r.task_id = t.id"
    "\nWHERE r.ready ORDER BY t.id"};

// Candidates are the targets' upstream closure (each task expanded once);
// each is summed up as metad_batch_readiness does, through task_log_batch
// and the edges into it, so the cost follows the closure's size, not the
// batch's or the graph's.
constexpr Query kReadyForTargets{
    "dependency.ready_for_targets",
    R"sql(
WITH RECURSIVE candidates(id) AS (
  SELECT unnest($2::bigint[])
  UNION
  SELECT d.parent_id
  FROM task_dependencies d JOIN candidates c ON d.child_id = c.id
)
SELECT)sql" METAD_TASK_COLUMNS R"sql(FROM candidates JOIN tasks t ON t.id = candidates.id
CROSS JOIN LATERAL (
  SELECT bool_or(metad_run_blocks_start(l.status, l.lease_expire_time))
           AS blocked,
         count(*) FILTER (WHERE metad_run_spent_attempt(
                                  l.status, l.lease_expire_time)) AS spent
    FROM task_log l WHERE l.batch_id = $1 AND l.task_id = t.id) r
CROSS JOIN LATERAL (
  SELECT count(*) AS unmet FROM metad_unmet_edges($1) e
   WHERE e.child_id = t.id) u
WHERE metad_may_start(r.blocked, r.spent, t.max_attempts, u.unmet)
ORDER BY t.id
)sql"};

// The batch's runs (every task's, or only those of $2) as three arrays of
// task ids, once per run of each kind, and the graph state of the same
// snapshot. One pass with no grouping: a seventh of the time of
// aggregating per task first, which C++ does with the counts instead.
#define METAD_RUN_SUMMARY_SELECT                                            \
  "SELECT (SELECT version FROM task_graph_version) AS graph_version,"       \
  "\n  (SELECT token::text FROM task_graph_version) AS graph_token,"        \
  "\n  coalesce(array_agg(l.task_id) FILTER (WHERE l.status = 'SUCCESS'),"  \
  " '{}') AS succeeded,"                                                    \
  "\n  coalesce(array_agg(l.task_id) FILTER (WHERE"                         \
  " metad_run_live(l.status, l.lease_expire_time)), '{}') AS live,"        \
  "\n  coalesce(array_agg(l.task_id) FILTER (WHERE"                         \
  " metad_run_spent_attempt(l.status, l.lease_expire_time)), '{}')"        \
  " AS spent"                                                               \
  "\nFROM task_log l WHERE l.batch_id = $1"

constexpr Query kRunSummaryAll{"dependency.run_summary_all",
                               METAD_RUN_SUMMARY_SELECT};

constexpr Query kRunSummaryOf{"dependency.run_summary_of",
                              METAD_RUN_SUMMARY_SELECT
                              " AND l.task_id = ANY($2::bigint[])"};

// The graph's state and at most $1 + 1 tasks counted: enough to know the
// graph is too big.
constexpr Query kCountTasksUpTo{
    "dependency.count_tasks_up_to",
    "SELECT v.version AS graph_version, v.token::text AS graph_token,"
    "\n  (SELECT count(*) FROM (SELECT 1 FROM tasks LIMIT $1::bigint + 1) x)"
    " AS tasks"
    "\nFROM task_graph_version v"};

// The whole graph in one statement, so in one snapshot with its version:
// every task with its parents' ids, ascending id; one row of NULLs besides
// the version when there are no tasks. (Grouping the edges once is four
// times faster than a subquery per task: 53 against 215 ms for 10,000
// tasks and 50,000 edges.)
constexpr Query kLoadGraph{
    "dependency.load_graph",
    "SELECT v.version AS graph_version, v.token::text AS graph_token, x.*"
    "\nFROM task_graph_version v"
    "\nLEFT JOIN (SELECT" METAD_TASK_COLUMNS
    ", d.parent_ids FROM tasks t"
    "\n  LEFT JOIN (SELECT child_id, array_agg(parent_id) AS parent_ids"
    "\n    FROM task_dependencies GROUP BY child_id) d ON d.child_id = t.id"
    "\n) x ON true"
    "\nORDER BY x.id"};

TaskGraphId ReadGraphId(const pqxx::row& row) {
  return {row["graph_version"].as<int64_t>(),
          row["graph_token"].as<std::string>()};
}

absl::StatusOr<BatchRunSummary> ReadRunSummary(const pqxx::row& row) {
  BatchRunSummary runs;
  ASSIGN_OR_RETURN(runs.succeeded,
                   ParseIntArray(row["succeeded"].as<std::string>()));
  ASSIGN_OR_RETURN(runs.live, ParseIntArray(row["live"].as<std::string>()));
  ASSIGN_OR_RETURN(runs.spent, ParseIntArray(row["spent"].as<std::string>()));
  return runs;
}

}  // namespace

absl::StatusOr<std::vector<Task>> DependencyStore::ReadyTasks(
    const TxOptions& options, const std::string& batch_id,
    const std::vector<std::string>& targets) {
  if (options_.ready_graph_max_tasks > 0) {
    std::optional<TaskGraphId> seen;
    for (int attempt = 0; attempt < kGraphAttempts; ++attempt) {
      ASSIGN_OR_RETURN(std::shared_ptr<const TaskGraph> graph,
                       Graph(options, seen ? &*seen : nullptr));
      if (graph->too_big) break;
      std::vector<Task> out;
      ASSIGN_OR_RETURN(
          seen, ReadyFromGraph(options, *graph, batch_id, targets, &out));
      if (*seen == graph->id) return out;
    }
  }
  return ReadyFromSql(options, batch_id, targets);
}

absl::StatusOr<TaskGraphId> DependencyStore::ReadyFromGraph(
    const TxOptions& options, const TaskGraph& graph,
    const std::string& batch_id, const std::vector<std::string>& targets,
    std::vector<Task>* out) {
  // Targets unknown to this copy may be tasks registered since: they are
  // NOT_FOUND only if the runs' snapshot has this very graph.
  std::optional<std::vector<int32_t>> candidates;
  const std::string* unknown = nullptr;
  if (!targets.empty()) {
    std::vector<int32_t> seeds;
    for (const std::string& name : targets) {
      const int32_t i = graph.IndexOfName(name);
      if (i >= 0) {
        seeds.push_back(i);
      } else if (unknown == nullptr) {
        unknown = &name;
      }
    }
    candidates = graph.UpstreamClosure(seeds);
  }
  TaskGraphId seen;
  BatchRunSummary runs;
  RETURN_IF_ERROR(
      db_->Transact("dependency.ready", options, [&](Tx& tx) -> absl::Status {
        pqxx::result rows;
        if (candidates) {
          std::vector<int64_t> ids;
          ids.reserve(candidates->size());
          for (int32_t i : *candidates) ids.push_back(graph.tasks[i].id());
          rows = Exec(tx, kRunSummaryOf, batch_id, IntArrayLiteral(ids));
        } else {
          rows = Exec(tx, kRunSummaryAll, batch_id);
        }
        seen = ReadGraphId(rows.at(0));
        if (seen != graph.id) return absl::OkStatus();
        ASSIGN_OR_RETURN(runs, ReadRunSummary(rows.at(0)));
        return absl::OkStatus();
      }));
  if (seen != graph.id) return seen;
  if (unknown != nullptr) return UnknownTaskError("targets", *unknown);
  out->clear();
  for (int32_t i :
       ReadyIndexes(graph, runs, candidates ? &*candidates : nullptr)) {
    out->push_back(graph.tasks[i]);
  }
  return seen;
}

absl::StatusOr<std::shared_ptr<const TaskGraph>> DependencyStore::Graph(
    const TxOptions& options, const TaskGraphId* wanted) {
  auto fresh = [&](const TaskGraph& g) {
    if (g.too_big) return absl::Now() - g.read_at <= kTooBigRecheck;
    return wanted == nullptr || g.id == *wanted;
  };
  return graph_cache_.GetOrLoad(fresh, options.deadline,
                                [&] { return LoadGraph(options); });
}

absl::StatusOr<std::shared_ptr<const TaskGraph>> DependencyStore::LoadGraph(
    const TxOptions& options) {
  auto loaded = std::make_shared<TaskGraph>();
  RETURN_IF_ERROR(db_->Transact(
      "dependency.load_graph", options, [&](Tx& tx) -> absl::Status {
        *loaded = TaskGraph();
        loaded->read_at = absl::Now();
        const int64_t max = options_.ready_graph_max_tasks;
        pqxx::result count = Exec(tx, kCountTasksUpTo, max);
        if (count.at(0)["tasks"].as<int64_t>() > max) {
          loaded->id = ReadGraphId(count.at(0));
          loaded->too_big = true;
          return absl::OkStatus();
        }
        pqxx::result rows = Exec(tx, kLoadGraph);
        std::vector<std::pair<int64_t, int64_t>> edges;
        loaded->id = ReadGraphId(rows.at(0));
        for (const pqxx::row& row : rows) {
          if (row["id"].is_null()) break;  // no tasks at all
          Task& task = loaded->tasks.emplace_back();
          ReadTaskRow(row, &task);
          if (row["parent_ids"].is_null()) continue;
          ASSIGN_OR_RETURN(std::vector<int64_t> parents,
                           ParseIntArray(row["parent_ids"].as<std::string>()));
          for (int64_t p : parents) edges.emplace_back(task.id(), p);
        }
        return loaded->Build(edges);
      }));
  return std::shared_ptr<const TaskGraph>(std::move(loaded));
}

absl::StatusOr<std::vector<Task>> DependencyStore::ReadyFromSql(
    const TxOptions& options, const std::string& batch_id,
    const std::vector<std::string>& targets) {
  std::vector<Task> out;
  absl::Status status = db_->Transact(
      "dependency.ready_sql", options, [&](Tx& tx) -> absl::Status {
        out.clear();
        pqxx::result rows;
        if (targets.empty()) {
          rows = Exec(tx, kReadyAll, batch_id);
        } else {
          ASSIGN_OR_RETURN(std::vector<int64_t> seeds,
                           ResolveTaskIds(tx, "targets", targets, false));
          rows = Exec(tx, kReadyForTargets, batch_id, IntArrayLiteral(seeds));
        }
        out.reserve(rows.size());
        for (const pqxx::row& row : rows) ReadTaskRow(row, &out.emplace_back());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

}  // namespace metad::store
