// The task graph (tasks and dependency edges) as of one task_graph_version,
// held in memory, and the ready rule evaluated against it. GetReadyTasks
// then reads only the batch's runs from PostgreSQL instead of joining every
// edge with the runs on every call (docs/benchmarks.md, Finding 6).
#ifndef METAD_STORE_TASK_GRAPH_H_
#define METAD_STORE_TASK_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metad/v1/tasks.pb.h"

namespace metad::store {

// One state of the task graph, as task_graph_version holds it: `version`
// counts changes, and `token`, random per change, tells apart two states
// with the same count after the database went back in time (a restore, a
// failover that lost commits).
struct TaskGraphId {
  int64_t version = 0;
  std::string token;
  bool operator==(const TaskGraphId& o) const {
    return version == o.version && token == o.token;
  }
  bool operator!=(const TaskGraphId& o) const { return !(*this == o); }
};

struct TaskGraph {
  // The state of the snapshot it was read in.
  TaskGraphId id;
  // More tasks than the cache may hold: nothing below is filled, and the
  // caller answers from SQL instead.
  bool too_big = false;
  // When it was read (a too_big answer is looked at again after a while).
  absl::Time read_at;
  std::vector<metad::v1::Task> tasks;  // ascending id
  absl::flat_hash_map<int64_t, int32_t> index_of_id;
  absl::flat_hash_map<std::string, int32_t> index_of_name;
  // Parents of tasks[i]: parents[parent_begin[i] .. parent_begin[i + 1]).
  std::vector<int32_t> parent_begin;
  std::vector<int32_t> parents;

  // Fills the indexes from `tasks` (ascending id) and edges given as
  // (child id, parent id) sorted by child id. INTERNAL for an edge naming a
  // task that is not in `tasks` (a torn read).
  absl::Status Build(const std::vector<std::pair<int64_t, int64_t>>& edges);

  // Index of the task with this id or name, or -1.
  int32_t IndexOfId(int64_t id) const;
  int32_t IndexOfName(absl::string_view name) const;

  // `seeds` and every task upstream of them, ascending, each once.
  std::vector<int32_t> UpstreamClosure(const std::vector<int32_t>& seeds) const;
};

// A batch's runs reduced to what the ready rule needs: task ids, once per
// run of each kind. Superseded runs (RerunTasks) are of no kind: the
// statements that fill it (dependency.run_summary_*) leave them out.
struct BatchRunSummary {
  std::vector<int64_t> succeeded;  // SUCCESS runs, not superseded
  std::vector<int64_t> live;       // PROCESSING runs whose lease is live
  // Spent attempts: ERROR runs (not superseded; cancelled ones included)
  // and PROCESSING runs whose lease lapsed.
  std::vector<int64_t> spent;
  // Tasks whose global concurrency limit is full (their slots are held by
  // live runs in any batch): not ready, whatever their runs here.
  std::vector<int64_t> full;
};

// The candidates (ascending indexes; every task when null) that may start
// in the batch: every parent succeeded there, the task is not blocked, and
// it has spent fewer attempts than its max_attempts. Ascending.
std::vector<int32_t> ReadyIndexes(const TaskGraph& graph,
                                  const BatchRunSummary& runs,
                                  const std::vector<int32_t>* candidates);

// The graph a daemon read last, shared by its concurrent callers.
class TaskGraphCache {
 public:
  using Loader =
      absl::FunctionRef<absl::StatusOr<std::shared_ptr<const TaskGraph>>()>;

  // The held graph if `fresh` accepts it. Otherwise one caller runs `load`
  // (outside the lock) and its result replaces the held graph, whatever
  // its version; callers arriving meanwhile wait for that load, up to
  // `deadline` (DEADLINE_EXCEEDED), and get what it read, or load in turn
  // if it failed.
  absl::StatusOr<std::shared_ptr<const TaskGraph>> GetOrLoad(
      absl::FunctionRef<bool(const TaskGraph&)> fresh, absl::Time deadline,
      Loader load) ABSL_LOCKS_EXCLUDED(mu_);
  // Graphs read so far.
  int64_t loads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::CondVar load_ended_;
  std::shared_ptr<const TaskGraph> graph_ ABSL_GUARDED_BY(mu_);
  bool loading_ ABSL_GUARDED_BY(mu_) = false;
  int64_t loads_ended_ ABSL_GUARDED_BY(mu_) = 0;  // also failed ones
  int64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
};

// Parses a PostgreSQL bigint[] in text form ("{1,2,3}"; NULL elements are
// not expected). INTERNAL if it is not one.
absl::StatusOr<std::vector<int64_t>> ParseIntArray(absl::string_view text);

}  // namespace metad::store

#endif  // METAD_STORE_TASK_GRAPH_H_
