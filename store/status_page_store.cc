#include "store/status_page_store.h"

#include <map>
#include <optional>
#include <vector>

#include "store/queries/status_page.sql.h"

namespace metad::store {
namespace {

std::optional<int64_t> OptionalUs(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

// Reads a row of metad_run_row (migrations/functions/15_rows.sql). The
// page's lists are short: read by name per row.
StatusRun RunFromRow(const pqxx::row& row) {
  StatusRun run;
  run.run_id = row["id"].as<int64_t>();
  run.task_id = row["task_id"].as<int64_t>();
  run.status = row["status"].as<std::string>();
  run.attempt = row["attempt"].as<int32_t>();
  run.worker_id = row["worker_id"].as<std::string>();
  run.error_message = row["error_message"].as<std::string>();
  run.start_us = row["start_us"].as<int64_t>();
  run.heartbeat_us = OptionalUs(row["heartbeat_us"]);
  run.end_us = OptionalUs(row["end_us"]);
  run.lease_expire_us = OptionalUs(row["lease_expire_us"]);
  run.cancelled = row["cancelled"].as<bool>();
  run.superseded = row["superseded"].as<bool>();
  return run;
}

// Each file's producer and first consumers (status.file_links).
void ReadFileLinks(Tx& tx, int consumers,
                   std::vector<StatusFailedFile>* files) {
  if (files->empty()) return;
  std::vector<int64_t> ids;
  std::map<int64_t, std::vector<StatusFailedFile*>> by_id;
  for (StatusFailedFile& f : *files) {
    ids.push_back(f.file_id);
    by_id[f.file_id].push_back(&f);
  }
  for (const pqxx::row& row :
       Exec(tx, sql::kStatusFileLinks, IntArrayLiteral(ids), consumers)) {
    StatusRunLink link;
    link.run_id = row["run_id"].as<int64_t>();
    link.task = row["task_name"].as<std::string>();
    link.batch_id = row["batch_id"].as<std::string>();
    const bool producer = row["role"].as<std::string>() == "producer";
    for (StatusFailedFile* f : by_id[row["file_id"].as<int64_t>()]) {
      if (producer) {
        f->producer = link;
      } else {
        f->consumers.push_back(link);
      }
    }
  }
}

}  // namespace

absl::StatusOr<StatusOverview> StatusPageStore::Overview(
    const TxOptions& options, const StatusOverviewLimits& limits) {
  StatusOverview out;
  absl::Status status = db_->Transact("status.overview", options, [&](Tx& tx) {
    out = StatusOverview();
    Exec(tx, sql::kStatusReadOnly);
    for (const char* s : {"NEW", "PROCESSING", "SUCCESS", "ERROR"}) {
      out.files_by_status[s] = 0;
    }
    for (const char* s : {"PROCESSING", "SUCCESS", "ERROR"}) {
      out.runs_by_status[s] = 0;
    }
    for (const pqxx::row& row : Exec(tx, sql::kStatusCounts)) {
      const std::string kind = row["kind"].as<std::string>();
      const int64_t n = row["n"].as<int64_t>();
      if (kind == "file")
        out.files_by_status[row["status"].as<std::string>()] = n;
      if (kind == "run")
        out.runs_by_status[row["status"].as<std::string>()] = n;
      if (kind == "tasks") out.tasks = n;
      if (kind == "dependencies") out.dependencies = n;
    }
    pqxx::row now = Exec(tx, sql::kStatusNowAndOldest)[0];
    out.now_us = now["now_us"].as<int64_t>();
    out.oldest_processing_run_seconds =
        now["oldest_processing_seconds"].as<double>();
    for (const pqxx::row& row :
         Exec(tx, sql::kStatusBatches, limits.batches, limits.event_window)) {
      StatusBatch& b = out.batches.emplace_back();
      b.batch_id = row["batch_id"].as<std::string>();
      b.processing_tasks = row["processing"].as<int64_t>();
      b.success_tasks = row["success"].as<int64_t>();
      b.error_tasks = row["error"].as<int64_t>();
      b.runs = row["runs"].as<int64_t>();
      b.first_start_us = row["first_start_us"].as<int64_t>();
      b.last_activity_us = row["last_activity_us"].as<int64_t>();
    }
    for (const pqxx::row& row : Exec(tx, sql::kStatusFailedRuns,
                                     limits.failed_runs, limits.event_window)) {
      StatusFailedRun& r = out.failed_runs.emplace_back();
      r.run_id = row["run_id"].as<int64_t>();
      r.task = row["task_name"].as<std::string>();
      r.batch_id = row["batch_id"].as<std::string>();
      r.attempt = row["attempt"].as<int32_t>();
      r.worker_id = row["worker_id"].as<std::string>();
      r.error_message = row["error_message"].as<std::string>();
      r.end_us = row["end_us"].as<int64_t>();
    }
    for (const pqxx::row& row :
         Exec(tx, sql::kStatusFailedFiles, limits.failed_files,
              limits.event_window)) {
      StatusFailedFile& f = out.failed_files.emplace_back();
      f.file_id = row["file_id"].as<int64_t>();
      f.source = row["source"].as<std::string>();
      f.file_name = row["file_name"].as<std::string>();
      f.run_id = row["run_id"].as<int64_t>();
      f.error_message = row["message"].as<std::string>();
      f.time_us = row["event_us"].as<int64_t>();
    }
    ReadFileLinks(tx, limits.consumers, &out.failed_files);
    for (const pqxx::row& row : Exec(tx, sql::kStatusAlerts, limits.alerts)) {
      StatusAlert& a = out.alerts.emplace_back();
      a.id = row["id"].as<int64_t>();
      a.kind = row["kind"].as<std::string>();
      a.task = row["task"].as<std::string>();
      a.batch_id = row["batch_id"].as<std::string>();
      a.source = row["source"].as<std::string>();
      a.due_us = row["due_us"].as<int64_t>();
      a.event_us = row["event_us"].as<int64_t>();
      a.message = row["message"].as<std::string>();
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
    Exec(tx, sql::kStatusReadOnly);
    out.now_us = Exec(tx, sql::kStatusNowAndOldest)[0]["now_us"].as<int64_t>();
    std::map<int64_t, StatusRun> runs_by_id;
    for (const pqxx::row& row :
         Exec(tx, sql::kStatusBatchRuns, batch_id, limits.runs)) {
      out.runs.push_back(RunFromRow(row));
      runs_by_id[out.runs.back().run_id] = out.runs.back();
    }
    // Latest runs older than the batch's run window, by task index.
    std::vector<std::pair<size_t, int64_t>> missing;
    for (const pqxx::row& row :
         Exec(tx, sql::kStatusBatchTasks, batch_id, limits.tasks)) {
      StatusTask& t = out.tasks.emplace_back();
      t.id = row["id"].as<int64_t>();
      t.name = row["name"].as<std::string>();
      t.description = row["description"].as<std::string>();
      t.max_attempts = row["max_attempts"].as<int32_t>();
      t.attempts = row["attempts"].as<int64_t>();
      t.ready = row["ready"].as<bool>();
      const pqxx::field latest = row["latest_run_id"];
      if (latest.is_null()) continue;
      auto it = runs_by_id.find(latest.as<int64_t>());
      if (it != runs_by_id.end()) {
        t.latest = it->second;
      } else {
        missing.emplace_back(out.tasks.size() - 1, latest.as<int64_t>());
      }
    }
    if (!missing.empty()) {
      std::vector<int64_t> ids;
      for (const auto& [index, id] : missing) ids.push_back(id);
      for (const pqxx::row& row :
           Exec(tx, sql::kStatusRunsByIds, IntArrayLiteral(ids))) {
        StatusRun run = RunFromRow(row);
        runs_by_id[run.run_id] = run;
      }
      for (const auto& [index, id] : missing) {
        auto it = runs_by_id.find(id);
        if (it != runs_by_id.end()) out.tasks[index].latest = it->second;
      }
    }
    out.truncated = Exec(tx, sql::kStatusTaskCount)[0]["tasks"].as<int64_t>() >
                    static_cast<int64_t>(out.tasks.size());
    for (const pqxx::row& row :
         Exec(tx, sql::kStatusBatchEdges, limits.tasks)) {
      out.edges.emplace_back(row["parent_id"].as<int64_t>(),
                             row["child_id"].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace metad::store
