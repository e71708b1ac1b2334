// Runs of tasks (the task_log table), their leases and their audit trail.
//
// Every transition of a run (start, finish, lease expiry) first takes the
// transaction-scoped advisory lock of its (task, batch):
//   pg_advisory_xact_lock(hashtextextended(batch_id, task_id))
// so the checks and the write of concurrent transitions serialize, and then
// changes the run with a conditional UPDATE (status = 'PROCESSING' and, for
// finish and heartbeat, a lease that has not lapsed): a stale caller or a
// second reaper finds nothing to change and is refused. The unique partial
// indexes on task_log stay the last line of defence.
//
// Lock order, for every code path that touches runs and files:
//   advisory lock of (task, batch) -> task_log row -> files rows.
#ifndef METAD_STORE_RUN_STORE_H_
#define METAD_STORE_RUN_STORE_H_

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "metad/v1/task_log.pb.h"
#include "store/database.h"

namespace metad::store {

// The error_message of a run ended by lease expiry.
inline constexpr char kLeaseExpiredMessage[] = "lease expired";

// task_log.status text <-> enum. Unknown text maps to UNSPECIFIED.
const char* RunStatusText(metad::v1::RunStatus status);
metad::v1::RunStatus RunStatusFromText(const std::string& text);

// The columns of metad_run_event_row (migrations/functions/15_rows.sql),
// found by name once per result; for the statements of run.sql and
// watch.sql that return run events.
struct RunEventColumns {
  explicit RunEventColumns(const pqxx::result& r);
  pqxx::row_size_type id, run_id, kind, from_status, to_status, message,
      event_us, actor;
};

// Fills *event from a row with RunEventColumns.
void ReadRunEvent(const pqxx::row& row, const RunEventColumns& columns,
                  metad::v1::RunEvent* event);

struct StartRunInput {
  std::string task;  // task name
  std::string batch_id;
  std::string worker_id;
  int32_t lease_seconds = 0;  // 0: the task's default_lease_seconds
  std::string request_id;     // empty: none
  google::protobuf::Map<std::string, std::string> labels;  // validated
};

struct StartRunResult {
  metad::v1::Run run;
  bool created = false;  // false when request_id matched an existing run
};

struct FinishRunInput {
  int64_t run_id = 0;
  metad::v1::RunStatus status = metad::v1::RUN_STATUS_UNSPECIFIED;
  std::string error_message;
  // The files the worker names: held ones take the outcome, other held ones
  // go back to NEW. Ignored with settle_all_held (every held file takes it).
  std::vector<int64_t> file_ids;
  bool settle_all_held = false;
};

struct FinishRunResult {
  metad::v1::Run run;
  int32_t files_finished = 0;  // held files set to the run's outcome
  int32_t files_released = 0;  // held files not named, back to NEW
  bool replayed = false;       // the run had already ended by this FinishRun
};

struct CancelRunResult {
  metad::v1::Run run;
  int32_t files_released = 0;
  bool replayed = false;  // the run was already cancelled: nothing changed
};

struct RerunTasksInput {
  std::string batch_id;
  std::vector<std::string> tasks;  // names
  bool include_downstream = false;
  std::string reason;
};

struct RerunTasksResult {
  std::vector<std::string> tasks;  // reopened, by task id
  int32_t runs_superseded = 0;
};

// Filters of ListRuns; empty/unset fields do not filter.
struct RunFilter {
  std::string task;
  std::string batch_id;
  metad::v1::RunStatus status = metad::v1::RUN_STATUS_UNSPECIFIED;
  std::optional<int64_t> started_after_us;   // inclusive
  std::optional<int64_t> started_before_us;  // exclusive
};

// What lease expiry ended (for the reaper's log line).
struct ExpiredRun {
  int64_t run_id = 0;
  int64_t task_id = 0;
  std::string task_name;
  std::string batch_id;
  int32_t files_released = 0;
};

// The runs of a result of metad_run_row's columns, in its order (the one
// run reader, for other stores' statements).
std::vector<metad::v1::Run> ReadRunRows(const pqxx::result& result);

// FinishRun inside the caller's transaction (FinishRun with outputs,
// store/lineage_store.cc): the same server-side function as the group
// committed path, its answer worded alike. A refusal may come with a change
// that must be committed (a lapsed run is ended on the way).
absl::StatusOr<FinishRunResult> FinishRunInTx(Tx& tx, const FinishRunInput& in);

class RunStore {
 public:
  explicit RunStore(Database* db);

  // Starts a PROCESSING run of `in.task` in `in.batch_id` with a lease
  // (attempt = runs of the task in the batch + 1) and a STARTED event.
  // A PROCESSING run of the task in the batch whose lease already lapsed is
  // ended as expired first (as the reaper would), so a restarted worker need
  // not wait for the next sweep.
  // Returns:
  //   NOT_FOUND           no task of that name;
  //   ALREADY_EXISTS      request_id names a run of another task or batch;
  //   FAILED_PRECONDITION a live run of the task is PROCESSING in the batch,
  //                       the task already has a SUCCESS run there, its
  //                       ERROR runs used up max_attempts, or parents have
  //                       no SUCCESS run in the batch (all named).
  // A request_id that names a run of the same task and batch returns that run
  // with created=false, whatever its state.
  absl::StatusOr<StartRunResult> StartRun(const TxOptions& options,
                                          const StartRunInput& in);

  // Extends the lease of a live run to now + lease_seconds (0: the run's own
  // lease_seconds) and sets heartbeat_time. Writes no event.
  // Returns:
  //   NOT_FOUND           no such run;
  //   FAILED_PRECONDITION the run has ended, or its lease lapsed (the run is
  //                       then ended as expired in the same transaction).
  absl::StatusOr<metad::v1::Run> Heartbeat(const TxOptions& options,
                                           int64_t run_id,
                                           int32_t lease_seconds);

  // Ends a live run as SUCCESS or ERROR (error_message kept for ERROR); the
  // held (PROCESSING) files it names take the same status (FINISHED
  // events), the held ones it does not name go back to NEW (RELEASED
  // events), unless in.settle_all_held. A run that already ended by a
  // FinishRun with this status and message is answered as that call was
  // (replayed).
  // Returns:
  //   INVALID_ARGUMENT    status is not SUCCESS or ERROR;
  //   NOT_FOUND           no such run, or a named file does not exist;
  //   FAILED_PRECONDITION the run has ended otherwise, or its lease lapsed
  //                       (the run is then ended as expired in the same
  //                       transaction), or a named file is not the run's
  //                       (FILE_NOT_HELD); nothing else changed.
  absl::StatusOr<FinishRunResult> FinishRun(const TxOptions& options,
                                            const FinishRunInput& in);

  // StartRun and FinishRun for several calls in one statement and one
  // commit (group commit), as if the calls ran one after another: one
  // answer per input, in order, each as the single call would have got it;
  // or a status for the whole batch, and then nothing of it committed.
  // Calls are run in lock order (by task and batch, by run), so concurrent
  // batches do not deadlock each other.
  absl::StatusOr<std::vector<absl::StatusOr<StartRunResult>>> StartRuns(
      const TxOptions& options, const std::vector<const StartRunInput*>& ins);
  absl::StatusOr<std::vector<absl::StatusOr<FinishRunResult>>> FinishRuns(
      const TxOptions& options, const std::vector<const FinishRunInput*>& ins);

  // NOT_FOUND if no such run.
  absl::StatusOr<metad::v1::Run> GetRun(const TxOptions& options,
                                        int64_t run_id);

  // Runs with id > after_id matching `filter`, by id ascending, at most
  // `limit`.
  absl::StatusOr<std::vector<metad::v1::Run>> ListRuns(const TxOptions& options,
                                                       const RunFilter& filter,
                                                       int64_t after_id,
                                                       int32_t limit);

  // Per-task state and counts of a batch. NOT_FOUND when it has no runs.
  absl::StatusOr<metad::v1::Batch> GetBatch(const TxOptions& options,
                                            const std::string& batch_id);

  // Run events with id > after_id, by id ascending, at most `limit`, of one
  // run (run_id > 0) and/or the runs of one batch (non-empty batch_id).
  absl::StatusOr<std::vector<metad::v1::RunEvent>> ListRunEvents(
      const TxOptions& options, int64_t run_id, const std::string& batch_id,
      int64_t after_id, int32_t limit);

  // --- the operator's verbs (migrations/functions/60_verbs.sql) ---

  // Ends PROCESSING run `run_id` as ERROR, cancelled, error_message
  // "cancelled: <reason>" ("cancelled" for an empty reason); its PROCESSING
  // files go back to NEW (RELEASED events); a CANCELLED run event. The run
  // counts as an ERROR attempt of its task in the batch.
  // Returns:
  //   OK, replayed=true   the run was already cancelled (nothing changed);
  //   NOT_FOUND           no such run;
  //   FAILED_PRECONDITION the run ended otherwise (RUN_ENDED).
  absl::StatusOr<CancelRunResult> CancelRun(const TxOptions& options,
                                            int64_t run_id,
                                            const std::string& reason);

  // Reopens `in.tasks` (and with include_downstream every task below them)
  // in `in.batch_id`, in one transaction: their ended runs there are marked
  // superseded (SUPERSEDED run events), a REOPENED task event per reopened
  // task. Afterwards StartRun accepts them again with fresh attempts (the
  // attempt numbers keep counting up) and their children wait for them.
  // Returns:
  //   NOT_FOUND           a task name is not registered (named);
  //   FAILED_PRECONDITION one of the tasks has a live PROCESSING run in the
  //                       batch (RUN_IN_PROGRESS); nothing changed.
  absl::StatusOr<RerunTasksResult> RerunTasks(const TxOptions& options,
                                              const RerunTasksInput& in);

  // --- lease expiry (the reaper) ---

  // Ids of PROCESSING runs whose lease lapsed, oldest lease first.
  absl::StatusOr<std::vector<int64_t>> FindLapsedRuns(const TxOptions& options,
                                                      int32_t limit);

  // Ends the run as ERROR "lease expired" if it is still PROCESSING with a
  // lapsed lease (otherwise returns nullopt: someone else ended or extended
  // it), sends its PROCESSING files back to NEW (RELEASED events) and writes
  // an EXPIRED run event. Safe to call from every replica at once: a run is
  // ended once.
  absl::StatusOr<std::optional<ExpiredRun>> ExpireRun(const TxOptions& options,
                                                      int64_t run_id);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_RUN_STORE_H_
