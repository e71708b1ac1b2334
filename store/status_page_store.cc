#include "store/status_page_store.h"

#include <optional>

namespace metad::store {
namespace {

// The page only reads: say so, so that a bug can never write.
constexpr Query kReadOnly{"status.read_only", "SET TRANSACTION READ ONLY"};

constexpr Query kCounts{"status.counts", R"sql(
  SELECT 'file', status, count(*) FROM files GROUP BY status
  UNION ALL
  SELECT 'run', status, count(*) FROM task_log GROUP BY status
  UNION ALL
  SELECT 'tasks', '', count(*) FROM tasks
  UNION ALL
  SELECT 'dependencies', '', count(*) FROM task_dependencies
)sql"};

constexpr Query kNowAndOldest{"status.now_and_oldest", R"sql(
  SELECT metad_us(now()),
         coalesce(extract(epoch FROM now() - min(start_time)), 0)::float8
    FROM task_log WHERE status = 'PROCESSING'
)sql"};

// Candidates: batches with a PROCESSING run (a small partial index) and the
// batches of the latest $2 runs; each is then summed over its own runs
// (task_log_batch). The state of a task is that of its latest run.
constexpr Query kBatches{"status.batches", R"sql(
  WITH candidates AS (
    SELECT batch_id FROM task_log WHERE status = 'PROCESSING'
    UNION
    SELECT batch_id FROM (SELECT batch_id FROM task_log
                           ORDER BY id DESC LIMIT $2) latest
  )
  SELECT c.batch_id, s.processing, s.success, s.error, s.runs,
         metad_us(s.first_start), metad_us(s.last_activity)
    FROM candidates c
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE x.status = 'PROCESSING') AS processing,
             count(*) FILTER (WHERE x.status = 'SUCCESS') AS success,
             count(*) FILTER (WHERE x.status = 'ERROR') AS error,
             sum(x.runs) AS runs,
             min(x.first_start) AS first_start,
             max(x.last_activity) AS last_activity
        FROM (SELECT l.task_id,
                     (array_agg(l.status ORDER BY l.id DESC))[1] AS status,
                     count(*) AS runs,
                     min(l.start_time) AS first_start,
                     greatest(max(l.start_time), max(l.end_time))
                       AS last_activity
                FROM task_log l
               WHERE l.batch_id = c.batch_id
               GROUP BY l.task_id) x
    ) s
   ORDER BY s.processing > 0 DESC, s.last_activity DESC, c.batch_id
   LIMIT $1
)sql"};

constexpr Query kFailedRuns{"status.failed_runs", R"sql(
  SELECT l.id, t.name, l.batch_id, l.attempt, l.worker_id, l.error_message,
         metad_us(coalesce(l.end_time, e.event_time))
    FROM (SELECT id, run_id, event_time, to_status FROM run_events
           ORDER BY id DESC LIMIT $2) e
    JOIN task_log l ON l.id = e.run_id
    JOIN tasks t ON t.id = l.task_id
   WHERE e.to_status = 'ERROR'
   ORDER BY e.id DESC
   LIMIT $1
)sql"};

constexpr Query kFailedFiles{"status.failed_files", R"sql(
  SELECT f.id, f.source, f.file_name, coalesce(e.run_id, 0), e.message,
         metad_us(e.event_time)
    FROM (SELECT id, file_id, run_id, message, event_time, to_status
            FROM file_events ORDER BY id DESC LIMIT $2) e
    JOIN files f ON f.id = e.file_id
   WHERE e.to_status = 'ERROR'
   ORDER BY e.id DESC
   LIMIT $1
)sql"};

#define METAD_STATUS_RUN_COLUMNS                                         \
  " l.id, l.task_id, l.status, l.attempt, l.worker_id, l.error_message," \
  " metad_us(l.start_time), metad_us(l.heartbeat_time),"                 \
  " metad_us(l.end_time), metad_us(l.lease_expire_time) "

// Every task (up to $2) with its runs in batch $1: the latest run, the
// attempts, and readiness (metad_batch_readiness, the rule GetReadyTasks and
// StartRun apply).
constexpr Query kBatchTasks{"status.batch_tasks", R"sql(
  SELECT t.id, t.name, t.description, t.max_attempts,
         r.attempts, r.latest_run_id, r.ready
    FROM (SELECT * FROM tasks ORDER BY id LIMIT $2) t
    JOIN metad_batch_readiness($1) r ON r.task_id = t.id
   ORDER BY t.id
)sql"};

constexpr Query kTaskCount{"status.task_count", "SELECT count(*) FROM tasks"};

constexpr Query kBatchEdges{"status.batch_edges", R"sql(
  SELECT d.parent_id, d.child_id
    FROM task_dependencies d
   WHERE d.parent_id IN (SELECT id FROM tasks ORDER BY id LIMIT $1)
     AND d.child_id IN (SELECT id FROM tasks ORDER BY id LIMIT $1)
   ORDER BY d.parent_id, d.child_id
)sql"};

constexpr Query kBatchRuns{"status.batch_runs",
                           "SELECT" METAD_STATUS_RUN_COLUMNS
                           "FROM task_log l WHERE l.batch_id = $1 "
                           "ORDER BY l.id DESC LIMIT $2"};

constexpr Query kRunsByIds{"status.runs_by_ids",
                           "SELECT" METAD_STATUS_RUN_COLUMNS
                           "FROM task_log l WHERE l.id = ANY($1::bigint[])"};

std::optional<int64_t> OptionalUs(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

StatusRun RunFromRow(const pqxx::row& row) {
  StatusRun run;
  run.run_id = row[0].as<int64_t>();
  run.task_id = row[1].as<int64_t>();
  run.status = row[2].as<std::string>();
  run.attempt = row[3].as<int32_t>();
  run.worker_id = row[4].as<std::string>();
  run.error_message = row[5].as<std::string>();
  run.start_us = row[6].as<int64_t>();
  run.heartbeat_us = OptionalUs(row[7]);
  run.end_us = OptionalUs(row[8]);
  run.lease_expire_us = OptionalUs(row[9]);
  return run;
}

}  // namespace

absl::StatusOr<StatusOverview> StatusPageStore::Overview(
    const TxOptions& options, const StatusOverviewLimits& limits) {
  StatusOverview out;
  absl::Status status = db_->Transact("status.overview", options, [&](Tx& tx) {
    out = StatusOverview();
    Exec(tx, kReadOnly);
    for (const char* s : {"NEW", "PROCESSING", "SUCCESS", "ERROR"}) {
      out.files_by_status[s] = 0;
    }
    for (const char* s : {"PROCESSING", "SUCCESS", "ERROR"}) {
      out.runs_by_status[s] = 0;
    }
    for (const pqxx::row& row : Exec(tx, kCounts)) {
      const std::string kind = row[0].as<std::string>();
      const int64_t n = row[2].as<int64_t>();
      if (kind == "file") out.files_by_status[row[1].as<std::string>()] = n;
      if (kind == "run") out.runs_by_status[row[1].as<std::string>()] = n;
      if (kind == "tasks") out.tasks = n;
      if (kind == "dependencies") out.dependencies = n;
    }
    pqxx::row now = Exec(tx, kNowAndOldest)[0];
    out.now_us = now[0].as<int64_t>();
    out.oldest_processing_run_seconds = now[1].as<double>();
    for (const pqxx::row& row :
         Exec(tx, kBatches, limits.batches, limits.event_window)) {
      StatusBatch& b = out.batches.emplace_back();
      b.batch_id = row[0].as<std::string>();
      b.processing_tasks = row[1].as<int64_t>();
      b.success_tasks = row[2].as<int64_t>();
      b.error_tasks = row[3].as<int64_t>();
      b.runs = row[4].as<int64_t>();
      b.first_start_us = row[5].as<int64_t>();
      b.last_activity_us = row[6].as<int64_t>();
    }
    for (const pqxx::row& row :
         Exec(tx, kFailedRuns, limits.failed_runs, limits.event_window)) {
      StatusFailedRun& r = out.failed_runs.emplace_back();
      r.run_id = row[0].as<int64_t>();
      r.task = row[1].as<std::string>();
      r.batch_id = row[2].as<std::string>();
      r.attempt = row[3].as<int32_t>();
      r.worker_id = row[4].as<std::string>();
      r.error_message = row[5].as<std::string>();
      r.end_us = row[6].as<int64_t>();
    }
    for (const pqxx::row& row :
         Exec(tx, kFailedFiles, limits.failed_files, limits.event_window)) {
      StatusFailedFile& f = out.failed_files.emplace_back();
      f.file_id = row[0].as<int64_t>();
      f.source = row[1].as<std::string>();
      f.file_name = row[2].as<std::string>();
      f.run_id = row[3].as<int64_t>();
      f.error_message = row[4].as<std::string>();
      f.time_us = row[5].as<int64_t>();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<StatusBatchGraph> StatusPageStore::BatchGraph(
    const TxOptions& options, const std::string& batch_id,
    const StatusBatchLimits& limits) {
  StatusBatchGraph out;
  absl::Status status = db_->Transact("status.batch", options, [&](Tx& tx) {
    out = StatusBatchGraph();
    out.batch_id = batch_id;
    Exec(tx, kReadOnly);
    out.now_us = Exec(tx, kNowAndOldest)[0][0].as<int64_t>();
    std::map<int64_t, StatusRun> runs_by_id;
    for (const pqxx::row& row : Exec(tx, kBatchRuns, batch_id, limits.runs)) {
      out.runs.push_back(RunFromRow(row));
      runs_by_id[out.runs.back().run_id] = out.runs.back();
    }
    // Latest runs older than the batch's run window, by task index.
    std::vector<std::pair<size_t, int64_t>> missing;
    for (const pqxx::row& row : Exec(tx, kBatchTasks, batch_id, limits.tasks)) {
      StatusTask& t = out.tasks.emplace_back();
      t.id = row[0].as<int64_t>();
      t.name = row[1].as<std::string>();
      t.description = row[2].as<std::string>();
      t.max_attempts = row[3].as<int32_t>();
      t.attempts = row[4].as<int64_t>();
      t.ready = row[6].as<bool>();
      if (row[5].is_null()) continue;
      auto it = runs_by_id.find(row[5].as<int64_t>());
      if (it != runs_by_id.end()) {
        t.latest = it->second;
      } else {
        missing.emplace_back(out.tasks.size() - 1, row[5].as<int64_t>());
      }
    }
    if (!missing.empty()) {
      std::vector<int64_t> ids;
      for (const auto& [index, id] : missing) ids.push_back(id);
      for (const pqxx::row& row : Exec(tx, kRunsByIds, IntArrayLiteral(ids))) {
        StatusRun run = RunFromRow(row);
        runs_by_id[run.run_id] = run;
      }
      for (const auto& [index, id] : missing) {
        auto it = runs_by_id.find(id);
        if (it != runs_by_id.end()) out.tasks[index].latest = it->second;
      }
    }
    out.truncated = Exec(tx, kTaskCount)[0][0].as<int64_t>() >
                    static_cast<int64_t>(out.tasks.size());
    for (const pqxx::row& row : Exec(tx, kBatchEdges, limits.tasks)) {
      out.edges.emplace_back(row[0].as<int64_t>(), row[1].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace metad::store
