#include "store/dependency_store.h"

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "store/proto_time.h"
#include "store/queries/dependency.sql.h"
#include "store/task_store.h"

namespace metad::store {
namespace {

using metad::v1::Dependency;
using metad::v1::ExecutionLayer;
using metad::v1::Task;
using metad::v1::TaskAtDepth;

struct Edge {
  int64_t parent;
  int64_t child;
};

// node -> neighbours in the direction walked.
using Adjacency = std::unordered_map<int64_t, std::vector<int64_t>>;

// ---- Graph reads shared by the methods ----

// The edges of the seeds' upstream (or downstream) closure, each task
// expanded once; depths are computed from them here, not in SQL
// (dependency.upstream_edges says why).
std::vector<Edge> ClosureEdges(Tx& tx, const std::vector<int64_t>& seeds,
                               EdgeDirection direction) {
  pqxx::result rows = Exec(tx,
                           direction == EdgeDirection::kParents
                               ? sql::kDependencyUpstreamEdges
                               : sql::kDependencyDownstreamEdges,
                           IntArrayLiteral(seeds));
  std::vector<Edge> edges;
  edges.reserve(rows.size());
  for (const pqxx::row& row : rows) {
    edges.push_back(
        {row["parent_id"].as<int64_t>(), row["child_id"].as<int64_t>()});
  }
  return edges;
}

Adjacency Follow(const std::vector<Edge>& edges, EdgeDirection direction) {
  Adjacency adjacency;
  for (const Edge& e : edges) {
    if (direction == EdgeDirection::kParents) {
      adjacency[e.child].push_back(e.parent);
    } else {
      adjacency[e.parent].push_back(e.child);
    }
  }
  return adjacency;
}

// Breadth-first from `start`: the shortest distance of every node reachable
// within `max_depth` steps (0: no limit), start included at 0; `via` (when
// given) receives each reached node's predecessor on a shortest path.
std::unordered_map<int64_t, int32_t> Distances(
    const Adjacency& adjacency, int64_t start, int32_t max_depth,
    std::unordered_map<int64_t, int64_t>* via = nullptr) {
  std::unordered_map<int64_t, int32_t> depth{{start, 0}};
  std::deque<int64_t> queue{start};
  while (!queue.empty()) {
    int64_t node = queue.front();
    queue.pop_front();
    int32_t d = depth[node];
    if (max_depth > 0 && d >= max_depth) continue;
    auto it = adjacency.find(node);
    if (it == adjacency.end()) continue;
    for (int64_t next : it->second) {
      if (depth.emplace(next, d + 1).second) {
        if (via != nullptr) (*via)[next] = node;
        queue.push_back(next);
      }
    }
  }
  return depth;
}

// The tasks with these ids, by id.
std::unordered_map<int64_t, Task> TasksByIds(Tx& tx,
                                             const std::vector<int64_t>& ids) {
  std::unordered_map<int64_t, Task> tasks;
  const pqxx::result rows =
      Exec(tx, sql::kDependencyTasksByIds, IntArrayLiteral(ids));
  const TaskColumns columns(rows);
  for (const pqxx::row& row : rows) {
    Task task;
    ReadTaskRow(row, columns, &task);
    tasks.emplace(task.id(), std::move(task));
  }
  return tasks;
}

void FillDependency(int64_t parent_id, const std::string& parent,
                    int64_t child_id, const std::string& child,
                    const pqxx::field& create_us, Dependency* dependency) {
  dependency->set_parent_task_id(parent_id);
  dependency->set_parent_task(parent);
  dependency->set_child_task_id(child_id);
  dependency->set_child_task(child);
  ReadTime(create_us, dependency->mutable_create_time());
}

// ---- Add ----

// "a -> b -> c -> a" for the cycle that parent -> child would close, given
// that parent is reachable from child: a shortest path child ~> parent. The
// caller holds the graph lock, so the path dependency.reaches found is still
// there.
absl::StatusOr<std::vector<std::string>> CyclePath(Tx& tx, int64_t parent,
                                                   int64_t child) {
  std::vector<Edge> edges = ClosureEdges(tx, {child}, EdgeDirection::kChildren);
  std::unordered_map<int64_t, int64_t> via;
  Distances(Follow(edges, EdgeDirection::kChildren), child, 0, &via);
  std::vector<int64_t> path{parent};  // built backwards: parent ... child
  while (path.back() != child) {
    auto it = via.find(path.back());
    if (it == via.end()) {
      return absl::AbortedError("the dependency graph changed; retry");
    }
    path.push_back(it->second);
  }
  path.push_back(parent);
  std::reverse(path.begin(), path.end());  // parent -> child -> ... -> parent
  std::unordered_map<int64_t, Task> tasks = TasksByIds(tx, path);
  std::vector<std::string> names;
  for (int64_t id : path) names.push_back(tasks[id].name());
  return names;
}

// FAILED_PRECONDITION for an edge parent -> child that would close `cycle`
// (task names, first == last): ErrorInfo DEPENDENCY_CYCLE with the path as
// metadata "cycle" ("a,b,c,a"), and one PreconditionFailure violation of
// type CYCLE whose subject is the refused edge.
absl::Status CycleError(const std::string& message, const std::string& parent,
                        const std::string& child,
                        const std::vector<std::string>& cycle) {
  absl::Status status = WithPreconditionFailure(
      absl::FailedPreconditionError(message),
      {{"CYCLE", absl::StrCat(parent, " -> ", child),
        absl::StrCat("would close the cycle ", absl::StrJoin(cycle, " -> "))}});
  return WithErrorInfo(std::move(status), reason::kDependencyCycle,
                       {{"parent_task", parent},
                        {"child_task", child},
                        {"cycle", absl::StrJoin(cycle, ",")}});
}

}  // namespace

absl::StatusOr<AddDependencyResult> DependencyStore::Add(
    const TxOptions& options, const std::string& parent,
    const std::string& child) {
  AddDependencyResult result;
  absl::Status status =
      db_->Transact("dependency.add", options, [&](Tx& tx) -> absl::Status {
        result = AddDependencyResult();
        // FOR KEY SHARE: a concurrent DeleteTask of either task waits for
        // this transaction, or has already removed the task (NOT_FOUND).
        ASSIGN_OR_RETURN(std::vector<int64_t> parent_id,
                         ResolveTaskIds(tx, "parent_task", {parent},
                                        /*key_share_lock=*/true));
        ASSIGN_OR_RETURN(std::vector<int64_t> child_id,
                         ResolveTaskIds(tx, "child_task", {child},
                                        /*key_share_lock=*/true));
        const int64_t p = parent_id[0], c = child_id[0];
        if (p == c) {
          return CycleError(
              absl::StrCat("adding ", parent, " -> ", child,
                           " would make task ", parent, " depend on itself"),
              parent, child, {parent, parent});
        }
        auto done = [&](const pqxx::field& create_us, bool created) {
          FillDependency(p, parent, c, child, create_us, &result.dependency);
          result.created = created;
          return absl::OkStatus();
        };
        // An existing edge was checked when it was added: no lock needed.
        pqxx::result existing = Exec(tx, sql::kDependencyGetEdge, p, c);
        if (!existing.empty()) return done(existing[0]["create_us"], false);

        // From here until commit no other edge can be added or removed, and
        // the reachability check below sees every edge committed before.
        Exec(tx, sql::kDependencyLockGraph);
        if (!Exec(tx, sql::kDependencyReaches, c, p).empty()) {
          ASSIGN_OR_RETURN(std::vector<std::string> cycle, CyclePath(tx, p, c));
          return CycleError(absl::StrCat("adding ", parent, " -> ", child,
                                         " would close the cycle ",
                                         absl::StrJoin(cycle, " -> ")),
                            parent, child, cycle);
        }
        pqxx::result inserted = Exec(tx, sql::kDependencyInsertEdge, p, c);
        if (!inserted.empty()) return done(inserted[0]["create_us"], true);
        // Added by a concurrent call between the first look and the lock.
        existing = Exec(tx, sql::kDependencyGetEdge, p, c);
        return done(existing.at(0)["create_us"], false);
      });
  if (!status.ok()) return status;
  return result;
}

// ---- Remove ----

absl::StatusOr<Dependency> DependencyStore::Remove(const TxOptions& options,
                                                   const std::string& parent,
                                                   const std::string& child) {
  Dependency dependency;
  absl::Status status =
      db_->Transact("dependency.remove", options, [&](Tx& tx) -> absl::Status {
        dependency.Clear();
        ASSIGN_OR_RETURN(std::vector<int64_t> parent_id,
                         ResolveTaskIds(tx, "parent_task", {parent}, false));
        ASSIGN_OR_RETURN(std::vector<int64_t> child_id,
                         ResolveTaskIds(tx, "child_task", {child}, false));
        // Under the graph lock, so that an AddDependency sees a stable graph
        // between its cycle check and the path it reports.
        Exec(tx, sql::kDependencyLockGraph);
        pqxx::result rows =
            Exec(tx, sql::kDependencyRemoveEdge, parent_id[0], child_id[0]);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kDependency, absl::StrCat(parent, " -> ", child),
              absl::StrCat("dependency ", parent, " -> ", child,
                           ": not found"));
        }
        FillDependency(parent_id[0], parent, child_id[0], child,
                       rows[0]["create_us"], &dependency);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return dependency;
}

// ---- List ----

absl::StatusOr<std::vector<Dependency>> DependencyStore::List(
    const TxOptions& options, const std::string& task, EdgeDirection direction,
    int64_t after_id, int64_t limit) {
  std::vector<Dependency> out;
  absl::Status status =
      db_->Transact("dependency.list", options, [&](Tx& tx) -> absl::Status {
        out.clear();
        ASSIGN_OR_RETURN(std::vector<int64_t> id,
                         ResolveTaskIds(tx, "task", {task}, false));
        pqxx::result rows = Exec(tx,
                                 direction == EdgeDirection::kParents
                                     ? sql::kDependencyListParents
                                     : sql::kDependencyListChildren,
                                 id[0], after_id, limit);
        out.reserve(rows.size());
        for (const pqxx::row& row : rows) {
          FillDependency(row["parent_id"].as<int64_t>(),
                         row["parent_name"].as<std::string>(),
                         row["child_id"].as<int64_t>(),
                         row["child_name"].as<std::string>(), row["create_us"],
                         &out.emplace_back());
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

// ---- Walk ----

absl::StatusOr<std::vector<TaskAtDepth>> DependencyStore::Walk(
    const TxOptions& options, const std::string& task, EdgeDirection direction,
    int32_t max_depth) {
  std::vector<TaskAtDepth> out;
  absl::Status status =
      db_->Transact("dependency.walk", options, [&](Tx& tx) -> absl::Status {
        out.clear();
        ASSIGN_OR_RETURN(std::vector<int64_t> id,
                         ResolveTaskIds(tx, "task", {task}, false));
        std::unordered_map<int64_t, int32_t> depth =
            Distances(Follow(ClosureEdges(tx, id, direction), direction), id[0],
                      max_depth);
        depth.erase(id[0]);
        std::vector<int64_t> ids;
        ids.reserve(depth.size());
        for (const auto& [node, d] : depth) ids.push_back(node);
        std::sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
          return std::make_pair(depth[a], a) < std::make_pair(depth[b], b);
        });
        std::unordered_map<int64_t, Task> tasks = TasksByIds(tx, ids);
        out.reserve(ids.size());
        for (int64_t node : ids) {
          TaskAtDepth& entry = out.emplace_back();
          *entry.mutable_task() = std::move(tasks[node]);
          entry.set_depth(depth[node]);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

// ---- ExecutionPlan ----

absl::StatusOr<std::vector<ExecutionLayer>> DependencyStore::ExecutionPlan(
    const TxOptions& options, const std::vector<std::string>& targets) {
  std::vector<ExecutionLayer> layers;
  absl::Status status =
      db_->Transact("dependency.plan", options, [&](Tx& tx) -> absl::Status {
        layers.clear();
        ASSIGN_OR_RETURN(std::vector<int64_t> seeds,
                         ResolveTaskIds(tx, "targets", targets, false));
        // Every parent of a closure task is in the closure, so these are
        // exactly the edges among the closure's tasks.
        std::vector<Edge> edges =
            ClosureEdges(tx, seeds, EdgeDirection::kParents);
        std::unordered_map<int64_t, int> unmet;  // parents not yet layered
        for (int64_t id : seeds) unmet.emplace(id, 0);
        for (const Edge& e : edges) {
          unmet.emplace(e.parent, 0);
          ++unmet[e.child];
        }
        Adjacency children = Follow(edges, EdgeDirection::kChildren);
        // Kahn's algorithm, one layer at a time: a task joins the layer after
        // the one in which its last parent was placed.
        std::vector<int64_t> current;
        for (const auto& [id, n] : unmet) {
          if (n == 0) current.push_back(id);
        }
        std::vector<std::vector<int64_t>> layer_ids;
        while (!current.empty()) {
          std::sort(current.begin(), current.end());
          std::vector<int64_t> next;
          for (int64_t id : current) {
            auto it = children.find(id);
            if (it == children.end()) continue;
            for (int64_t child : it->second) {
              if (--unmet[child] == 0) next.push_back(child);
            }
          }
          layer_ids.push_back(std::move(current));
          current = std::move(next);
        }
        std::vector<int64_t> all;
        all.reserve(unmet.size());
        for (const auto& [id, n] : unmet) all.push_back(id);
        std::unordered_map<int64_t, Task> tasks = TasksByIds(tx, all);
        for (const std::vector<int64_t>& ids : layer_ids) {
          ExecutionLayer& layer = layers.emplace_back();
          layer.set_index(static_cast<int32_t>(layers.size() - 1));
          for (int64_t id : ids) *layer.add_tasks() = std::move(tasks[id]);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return layers;
}

}  // namespace metad::store
