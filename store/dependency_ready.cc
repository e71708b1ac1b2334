// GetReadyTasks: from an answer held since the graph and the batch's runs
// last changed (ready_cache.h), else from the task graph held in memory plus
// the batch's runs (task_graph.h), or all in SQL when the graph is too big to
// hold or keeps changing under the call. Both answer the same rule, documented
// at DependencyStore::ReadyTasks; tests/dependency_store_pgtest.cc holds them
// to the same reference.
#include <algorithm>
#include <limits>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "store/dependency_store.h"
#include "store/queries/dependency.sql.h"
#include "store/task_store.h"

namespace metad::store {
namespace {

using metad::v1::Task;

// How often a call looks for a graph matching its runs' snapshot before it
// answers from SQL (graph changes are rare; this bounds a storm of them).
constexpr int kGraphAttempts = 3;
// A graph found too big is counted again after this long.
constexpr absl::Duration kTooBigRecheck = absl::Seconds(60);

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
  ASSIGN_OR_RETURN(runs.full, ParseIntArray(row["full"].as<std::string>()));
  return runs;
}

// A keyset page of a held answer: ids above `after_id`, at most `limit`.
ReadyPage PageOf(std::shared_ptr<const ReadyAnswer> answer, int64_t after_id,
                 int64_t limit) {
  const std::vector<Task>& tasks = answer->graph->tasks;
  const std::vector<int32_t>& ready = answer->ready;
  // Indexes ascend with ids, as the SQL path's ORDER BY t.id.
  auto it = std::upper_bound(
      ready.begin(), ready.end(), after_id,
      [&](int64_t id, int32_t i) { return id < tasks[i].id(); });
  ReadyPage page;
  page.begin = it - ready.begin();
  page.end = page.begin + std::min<int64_t>(limit, ready.end() - it);
  page.answer = std::move(answer);
  return page;
}

}  // namespace

absl::StatusOr<std::vector<Task>> DependencyStore::ReadyTasks(
    const TxOptions& options, const std::string& batch_id,
    const std::vector<std::string>& targets, int64_t after_id, int64_t limit) {
  ASSIGN_OR_RETURN(ReadyPage page,
                   ReadyTasksPage(options, batch_id, targets, after_id, limit));
  if (!page.answer) return std::move(page.tasks);
  std::vector<Task> out;
  out.reserve(page.size());
  for (size_t i = page.begin; i < page.end; ++i) {
    out.push_back(page.answer->graph->tasks[page.answer->ready[i]]);
  }
  return out;
}

absl::StatusOr<ReadyPage> DependencyStore::ReadyTasksPage(
    const TxOptions& options, const std::string& batch_id,
    const std::vector<std::string>& targets, int64_t after_id, int64_t limit) {
  if (options_.ready_graph_max_tasks > 0) {
    const std::string key = ReadyAnswerCache::Key(batch_id, targets);
    if (std::shared_ptr<const ReadyAnswer> held = answers_.Find(key)) {
      ASSIGN_OR_RETURN(ReadyState state, ReadState(options, batch_id));
      if (held->HoldsIn(state)) {
        answers_.CountHit();
        return PageOf(std::move(held), after_id, limit);
      }
    }
    std::optional<TaskGraphId> seen;
    for (int attempt = 0; attempt < kGraphAttempts; ++attempt) {
      ASSIGN_OR_RETURN(std::shared_ptr<const TaskGraph> graph,
                       Graph(options, seen ? &*seen : nullptr));
      if (graph->too_big) break;
      std::shared_ptr<const ReadyAnswer> answer;
      ASSIGN_OR_RETURN(
          seen, ReadyFromGraph(options, graph, batch_id, targets, &answer));
      if (*seen == graph->id) {
        answers_.Put(key, answer);
        return PageOf(std::move(answer), after_id, limit);
      }
    }
  }
  ReadyPage page;
  ASSIGN_OR_RETURN(page.tasks,
                   ReadyFromSql(options, batch_id, targets, after_id, limit));
  return page;
}

absl::StatusOr<ReadyState> DependencyStore::ReadState(
    const TxOptions& options, const std::string& batch_id) {
  ReadyState state;
  RETURN_IF_ERROR(db_->Transact(
      "dependency.ready_state", options, [&](Tx& tx) -> absl::Status {
        pqxx::result rows = Exec(tx, sql::kDependencyReadyState, batch_id);
        const pqxx::row& row = rows.at(0);
        state.graph = ReadGraphId(row);
        state.batch_version = row["batch_version"].as<int64_t>(0);
        state.batch_token = row["batch_token"].as<std::string>("");
        state.now_us = row["now_us"].as<int64_t>();
        state.full = row["full"].as<std::string>();
        return absl::OkStatus();
      }));
  return state;
}

absl::StatusOr<TaskGraphId> DependencyStore::ReadyFromGraph(
    const TxOptions& options, std::shared_ptr<const TaskGraph> graph_ptr,
    const std::string& batch_id, const std::vector<std::string>& targets,
    std::shared_ptr<const ReadyAnswer>* answer) {
  const TaskGraph& graph = *graph_ptr;
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
  auto out = std::make_shared<ReadyAnswer>();
  RETURN_IF_ERROR(
      db_->Transact("dependency.ready", options, [&](Tx& tx) -> absl::Status {
        pqxx::result rows;
        if (candidates) {
          std::vector<int64_t> ids;
          ids.reserve(candidates->size());
          for (int32_t i : *candidates) ids.push_back(graph.tasks[i].id());
          rows = Exec(tx, sql::kDependencyRunSummaryOf, batch_id,
                      IntArrayLiteral(ids));
        } else {
          rows = Exec(tx, sql::kDependencyRunSummaryAll, batch_id);
        }
        const pqxx::row& row = rows.at(0);
        seen = ReadGraphId(row);
        if (seen != graph.id) return absl::OkStatus();
        ASSIGN_OR_RETURN(runs, ReadRunSummary(row));
        out->batch_version = row["batch_version"].as<int64_t>(0);
        out->batch_token = row["batch_token"].as<std::string>("");
        out->full = row["full"].as<std::string>();
        out->live_until_us = row["live_until_us"].as<int64_t>(
            std::numeric_limits<int64_t>::max());
        return absl::OkStatus();
      }));
  if (seen != graph.id) return seen;
  if (unknown != nullptr) return UnknownTaskError("targets", *unknown);
  out->ready = ReadyIndexes(graph, runs, candidates ? &*candidates : nullptr);
  out->graph = std::move(graph_ptr);
  *answer = std::move(out);
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
        pqxx::result count = Exec(tx, sql::kDependencyCountTasksUpTo, max);
        if (count.at(0)["tasks"].as<int64_t>() > max) {
          loaded->id = ReadGraphId(count.at(0));
          loaded->too_big = true;
          return absl::OkStatus();
        }
        pqxx::result rows = Exec(tx, sql::kDependencyLoadGraph);
        std::vector<std::pair<int64_t, int64_t>> edges;
        loaded->id = ReadGraphId(rows.at(0));
        const TaskColumns columns(rows);
        const pqxx::row_size_type parent_ids = rows.column_number("parent_ids");
        for (const pqxx::row& row : rows) {
          if (row[columns.id].is_null()) break;  // no tasks at all
          Task& task = loaded->tasks.emplace_back();
          ReadTaskRow(row, columns, &task);
          if (row[parent_ids].is_null()) continue;
          ASSIGN_OR_RETURN(std::vector<int64_t> parents,
                           ParseIntArray(row[parent_ids].as<std::string>()));
          for (int64_t p : parents) edges.emplace_back(task.id(), p);
        }
        return loaded->Build(edges);
      }));
  return std::shared_ptr<const TaskGraph>(std::move(loaded));
}

absl::StatusOr<std::vector<Task>> DependencyStore::ReadyFromSql(
    const TxOptions& options, const std::string& batch_id,
    const std::vector<std::string>& targets, int64_t after_id, int64_t limit) {
  std::vector<Task> out;
  absl::Status status = db_->Transact(
      "dependency.ready_sql", options, [&](Tx& tx) -> absl::Status {
        out.clear();
        pqxx::result rows;
        if (targets.empty()) {
          rows = Exec(tx, sql::kDependencyReadyAll, batch_id, after_id, limit);
        } else {
          ASSIGN_OR_RETURN(std::vector<int64_t> seeds,
                           ResolveTaskIds(tx, "targets", targets, false));
          rows = Exec(tx, sql::kDependencyReadyForTargets, batch_id,
                      IntArrayLiteral(seeds), after_id, limit);
        }
        out.reserve(rows.size());
        const TaskColumns columns(rows);
        for (const pqxx::row& row : rows) {
          ReadTaskRow(row, columns, &out.emplace_back());
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

}  // namespace metad::store
