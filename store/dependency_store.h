// The dependency graph (table `task_dependencies`): parent -> child means the
// child waits for the parent's SUCCESS in a batch. Kept acyclic.
#ifndef METAD_STORE_DEPENDENCY_STORE_H_
#define METAD_STORE_DEPENDENCY_STORE_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "metad/v1/dependencies.pb.h"
#include "metad/v1/tasks.pb.h"
#include "store/database.h"
#include "store/ready_cache.h"
#include "store/task_graph.h"

namespace metad::store {

// Which way to follow edges from a task.
enum class EdgeDirection {
  kParents,   // the tasks it waits for (upstream)
  kChildren,  // the tasks waiting for it (downstream)
};

// No limit on the rows of a page.
inline constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

struct AddDependencyResult {
  metad::v1::Dependency dependency;
  bool created = false;  // false: the edge already existed
};

// Every method takes task names (validated by the caller) and returns
// NOT_FOUND naming the field and the unknown task.
struct DependencyStoreOptions {
  // ReadyTasks holds the task graph in memory while it has at most this
  // many tasks (about 300 bytes each plus 8 per edge), and reads only the
  // batch's runs per call; above it, or at 0, every call joins the whole
  // graph in SQL.
  int64_t ready_graph_max_tasks = 100000;
};

class DependencyStore {
 public:
  explicit DependencyStore(Database* db, DependencyStoreOptions options = {})
      : db_(db), options_(options) {}

  // Adds parent -> child. FAILED_PRECONDITION for a self-edge, or for an edge
  // that would close a cycle (the message names the cycle's path). An
  // existing edge is returned with created=false. Edge additions serialize
  // on a transaction-scoped advisory lock on the graph taken before the
  // reachability check, so concurrent calls never close a cycle together.
  absl::StatusOr<AddDependencyResult> Add(const TxOptions& options,
                                          const std::string& parent,
                                          const std::string& child);

  // Removes parent -> child and returns it (under the same graph lock).
  // NOT_FOUND when there is no such edge.
  absl::StatusOr<metad::v1::Dependency> Remove(const TxOptions& options,
                                               const std::string& parent,
                                               const std::string& child);

  // Direct edges of `task` in `direction`, ordered by the other task's id:
  // at most `limit` of them, those whose other task's id is above
  // `after_id` (a keyset page).
  absl::StatusOr<std::vector<metad::v1::Dependency>> List(
      const TxOptions& options, const std::string& task,
      EdgeDirection direction, int64_t after_id = 0, int64_t limit = kNoLimit);

  // The tasks reachable from `task` in `direction` (the task itself
  // excluded) with their shortest distance, at most `max_depth` away (0: no
  // limit); ordered by depth, then id. Each task is expanded once, so the
  // cost is linear in the size of the reachable subgraph.
  absl::StatusOr<std::vector<metad::v1::TaskAtDepth>> Walk(
      const TxOptions& options, const std::string& task,
      EdgeDirection direction, int32_t max_depth);

  // The targets and their upstream closure in topological layers: layer 0
  // holds the tasks with no parents inside the closure, a task's layer is
  // 1 + the highest layer of its parents. Tasks in a layer ordered by id.
  absl::StatusOr<std::vector<metad::v1::ExecutionLayer>> ExecutionPlan(
      const TxOptions& options, const std::vector<std::string>& targets);

  // The candidates (the targets' upstream closure, targets included; every
  // task when `targets` is empty) that can start in `batch_id` now: every
  // parent has a SUCCESS run in the batch, the task has no SUCCESS and no
  // live PROCESSING run there, and fewer spent attempts there than its
  // max_attempts. Spent attempts are ERROR runs plus PROCESSING runs whose
  // lease lapsed (StartRun ends those as expired, i.e. ERROR, before it
  // starts a new run, so they do not block). Ordered by id; a keyset page:
  // at most `limit` tasks, those with ids above `after_id`.
  // Implemented in dependency_ready.cc.
  absl::StatusOr<std::vector<metad::v1::Task>> ReadyTasks(
      const TxOptions& options, const std::string& batch_id,
      const std::vector<std::string>& targets, int64_t after_id = 0,
      int64_t limit = kNoLimit);

  // ReadyTasks as a page that may point into a held answer (no copies).
  absl::StatusOr<ReadyPage> ReadyTasksPage(
      const TxOptions& options, const std::string& batch_id,
      const std::vector<std::string>& targets, int64_t after_id, int64_t limit);

  // How many times the task graph was read for ReadyTasks (a graph found
  // too big counts too); for tests.
  int64_t graph_loads() const { return graph_cache_.loads(); }
  // How many ReadyTasks calls were answered from a held answer; for tests.
  int64_t ready_cache_hits() const { return answers_.hits(); }

 private:
  // ReadyTasks with `graph` and the batch's runs; returns the graph state
  // of the runs' snapshot, and fills *answer only when it is graph's.
  absl::StatusOr<TaskGraphId> ReadyFromGraph(
      const TxOptions& options, std::shared_ptr<const TaskGraph> graph,
      const std::string& batch_id, const std::vector<std::string>& targets,
      std::shared_ptr<const ReadyAnswer>* answer);
  // The state a held answer is checked against (dependency.ready_state).
  absl::StatusOr<ReadyState> ReadState(const TxOptions& options,
                                       const std::string& batch_id);
  // ReadyTasks joining the graph in SQL.
  absl::StatusOr<std::vector<metad::v1::Task>> ReadyFromSql(
      const TxOptions& options, const std::string& batch_id,
      const std::vector<std::string>& targets, int64_t after_id, int64_t limit);
  // The held graph if it is in state `wanted` (any state when null) and is
  // not a too_big mark older than a minute, else one read now.
  absl::StatusOr<std::shared_ptr<const TaskGraph>> Graph(
      const TxOptions& options, const TaskGraphId* wanted);
  // Reads the graph (or finds it too big).
  absl::StatusOr<std::shared_ptr<const TaskGraph>> LoadGraph(
      const TxOptions& options);

  Database* db_;
  const DependencyStoreOptions options_;
  TaskGraphCache graph_cache_;
  ReadyAnswerCache answers_;
};

}  // namespace metad::store

#endif  // METAD_STORE_DEPENDENCY_STORE_H_
