// Read-only views for the operator's status page: what is running, what
// failed, and one batch's state over the whole dependency graph. Every call
// is one READ ONLY transaction and every list is bounded.
#ifndef METAD_STORE_STATUS_PAGE_STORE_H_
#define METAD_STORE_STATUS_PAGE_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/database.h"

namespace metad::store {

// Times are microseconds since the Unix epoch; absent ones are nullopt.
struct StatusBatch {
  std::string batch_id;
  // Tasks by the status of their latest run in the batch.
  int64_t processing_tasks = 0;
  int64_t success_tasks = 0;
  int64_t error_tasks = 0;
  int64_t runs = 0;
  int64_t first_start_us = 0;
  int64_t last_activity_us = 0;  // latest start or end of any run
};

struct StatusFailedRun {
  int64_t run_id = 0;
  std::string task;
  std::string batch_id;
  int32_t attempt = 0;
  std::string worker_id;
  std::string error_message;
  int64_t end_us = 0;
};

// A run a file is linked to (lineage).
struct StatusRunLink {
  int64_t run_id = 0;
  std::string task;
  std::string batch_id;
};

struct StatusFailedFile {
  int64_t file_id = 0;
  std::string source;
  std::string file_name;
  int64_t run_id = 0;  // 0 when none
  std::string error_message;
  int64_t time_us = 0;
  // The run that produced it (an output), and the first runs that claimed
  // it (StatusOverviewLimits::consumers at most).
  std::optional<StatusRunLink> producer;
  std::vector<StatusRunLink> consumers;
};

// A DEADLINE_MISSED or STALE alert (DeadlineService).
struct StatusAlert {
  int64_t id = 0;
  std::string kind;
  std::string task;      // DEADLINE_MISSED
  std::string batch_id;  // DEADLINE_MISSED
  std::string source;    // STALE
  int64_t due_us = 0;
  int64_t event_us = 0;
  std::string message;
};

struct StatusOverview {
  int64_t now_us = 0;                              // the database's clock
  std::map<std::string, int64_t> files_by_status;  // every status, 0 if none
  std::map<std::string, int64_t> runs_by_status;
  int64_t tasks = 0;  // registered
  int64_t dependencies = 0;
  double oldest_processing_run_seconds = 0;
  // Batches with a PROCESSING run first, then by latest activity.
  std::vector<StatusBatch> batches;
  std::vector<StatusFailedRun> failed_runs;    // newest first
  std::vector<StatusFailedFile> failed_files;  // newest first
  std::vector<StatusAlert> alerts;             // newest first
};

struct StatusOverviewLimits {
  int batches = 50;
  int failed_runs = 20;
  int failed_files = 20;
  int alerts = 20;
  // Consumers shown per failed file.
  int consumers = 5;
  // Failures are looked for among this many latest events of each kind, so
  // a page refresh costs the same on a table of any size.
  int event_window = 10000;
};

struct StatusRun {
  int64_t run_id = 0;
  int64_t task_id = 0;
  std::string status;  // PROCESSING, SUCCESS, ERROR
  int32_t attempt = 0;
  std::string worker_id;
  std::string error_message;
  int64_t start_us = 0;
  std::optional<int64_t> heartbeat_us;
  std::optional<int64_t> end_us;
  std::optional<int64_t> lease_expire_us;
  bool cancelled = false;   // ended by CancelRun
  bool superseded = false;  // its task was reopened by RerunTasks since
};

struct StatusTask {
  int64_t id = 0;
  std::string name;
  std::string description;
  int32_t max_attempts = 1;
  int64_t attempts = 0;             // runs in the batch, not superseded
  std::optional<StatusRun> latest;  // none: no such run in the batch
  // What DependencyService.GetReadyTasks would say: StartRun would be
  // accepted now (every parent succeeded, attempts left, nothing live).
  bool ready = false;
};

struct StatusBatchGraph {
  int64_t now_us = 0;
  std::string batch_id;
  std::vector<StatusTask> tasks;                   // by id
  std::vector<std::pair<int64_t, int64_t>> edges;  // parent -> child
  bool truncated = false;                          // more tasks than the limit
  std::vector<StatusRun> runs;  // the batch's runs, newest first
};

struct StatusBatchLimits {
  int tasks = 500;
  int runs = 200;
};

class StatusPageStore {
 public:
  explicit StatusPageStore(Database* db) : db_(db) {}

  // Counts, recent batches and recent failures.
  // UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED as
  // Database::Transact.
  absl::StatusOr<StatusOverview> Overview(const TxOptions& options,
                                          const StatusOverviewLimits& limits);

  // Every task (up to limits.tasks, by id) with its state in `batch_id`,
  // the edges between them and the batch's runs. A batch without runs is
  // not an error: every task is then ready or waiting.
  // INVALID_ARGUMENT if the database rejects batch_id (not UTF-8); else as
  // Overview.
  absl::StatusOr<StatusBatchGraph> BatchGraph(const TxOptions& options,
                                              const std::string& batch_id,
                                              const StatusBatchLimits& limits);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_STATUS_PAGE_STORE_H_
