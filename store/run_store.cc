#include "store/run_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "store/error_details.h"
#include "store/proto_time.h"
#include "store/sql.h"
#include "store/status_macros.h"

namespace metad::store {
namespace {

using metad::v1::Run;
using metad::v1::RunStatus;

// The columns ReadRun expects, for `task_log r JOIN tasks t`.
#define METAD_RUN_COLUMNS                                                    \
  " r.id, r.task_id, t.name, r.batch_id, r.status, r.attempt, r.worker_id,"  \
  " metad_us(r.lease_expire_time), r.error_message, metad_us(r.start_time)," \
  " metad_us(r.heartbeat_time), metad_us(r.end_time), r.request_id "
constexpr int kRunColumnCount = 13;

void ReadRun(const pqxx::row& row, Run* run) {
  run->set_id(row[0].as<int64_t>());
  run->set_task_id(row[1].as<int64_t>());
  run->set_task_name(row[2].as<std::string>());
  run->set_batch_id(row[3].as<std::string>());
  run->set_status(RunStatusFromText(row[4].as<std::string>()));
  run->set_attempt(row[5].as<int32_t>());
  run->set_worker_id(row[6].as<std::string>());
  // mutable_x() would mark an absent time as present: test for NULL first.
  if (!row[7].is_null()) ReadTime(row[7], run->mutable_lease_expire_time());
  run->set_error_message(row[8].as<std::string>());
  ReadTime(row[9], run->mutable_start_time());
  if (!row[10].is_null()) ReadTime(row[10], run->mutable_heartbeat_time());
  if (!row[11].is_null()) ReadTime(row[11], run->mutable_end_time());
  if (!row[12].is_null()) run->set_request_id(row[12].as<std::string>());
}

std::string FormatMicros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

// --- the (task, batch) advisory lock -------------------------------------

constexpr Query kLockTaskBatch{"run.lock_task_batch", R"sql(
  SELECT pg_advisory_xact_lock(hashtextextended($2::text, $1::bigint))
)sql"};

// The same lock, found through a run; no row for an unknown run.
constexpr Query kLockRun{"run.lock_run", R"sql(
  SELECT pg_advisory_xact_lock(hashtextextended(batch_id, task_id))
    FROM task_log
   WHERE id = $1
)sql"};

// --- lease expiry ---------------------------------------------------------

// Ends a PROCESSING run whose lease lapsed, releases its files and writes the
// events, in one statement. No row when the run is not (or no longer) both.
constexpr Query kExpire{"run.expire", R"sql(
  WITH r AS (
    UPDATE task_log
       SET status = 'ERROR', error_message = $2, end_time = now(),
           lease_expire_time = NULL
     WHERE id = $1 AND status = 'PROCESSING' AND lease_expire_time <= now()
    RETURNING id, task_id, batch_id
  ), f AS (
    UPDATE files
       SET status = 'NEW', run_id = NULL, update_time = now()
      FROM r
     WHERE files.run_id = r.id AND files.status = 'PROCESSING'
    RETURNING files.id
  ), fe AS (
    INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                             message)
    SELECT id, 'RELEASED', 'PROCESSING', 'NEW', $1, $2 FROM f
  ), re AS (
    INSERT INTO run_events (run_id, kind, from_status, to_status, message)
    SELECT id, 'EXPIRED', 'PROCESSING', 'ERROR', $2 FROM r
  )
  SELECT r.id, r.task_id, t.name, r.batch_id, (SELECT count(*) FROM f)
    FROM r JOIN tasks t ON t.id = r.task_id
)sql"};

// The caller holds the run's (task, batch) lock.
absl::StatusOr<std::optional<ExpiredRun>> ExpireLocked(Tx& tx, int64_t run_id) {
  pqxx::result r = Exec(tx, kExpire, run_id, std::string(kLeaseExpiredMessage));
  if (r.empty()) return std::optional<ExpiredRun>();
  ExpiredRun expired;
  expired.run_id = r[0][0].as<int64_t>();
  expired.task_id = r[0][1].as<int64_t>();
  expired.task_name = r[0][2].as<std::string>();
  expired.batch_id = r[0][3].as<std::string>();
  expired.files_released = r[0][4].as<int32_t>();
  return std::optional<ExpiredRun>(std::move(expired));
}

constexpr Query kRunState{"run.state", R"sql(
  SELECT task_id, batch_id, status, error_message,
         metad_us(lease_expire_time), lease_expire_time <= now()
    FROM task_log
   WHERE id = $1
)sql"};

// FAILED_PRECONDITION for a start refused because the parents in
// `parent_list` (", "-separated, as kStartChecks aggregates them; task names
// cannot contain ',' or ' ') have no SUCCESS run in the batch: ErrorInfo
// PARENTS_NOT_SUCCEEDED and one PreconditionFailure violation per parent.
absl::Status UnmetParentsError(const std::string& refused,
                               const std::string& task,
                               const std::string& batch_id,
                               const std::string& parent_list) {
  std::vector<std::string> parents = absl::StrSplit(parent_list, ", ");
  std::vector<Violation> violations;
  for (const std::string& parent : parents) {
    violations.push_back(
        {"DEPENDENCY", parent,
         absl::StrCat(parent, " has no SUCCESS run in batch ", batch_id)});
  }
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      refused, "waiting for ", parent_list, " (no SUCCESS run in this batch)"));
  status = WithPreconditionFailure(std::move(status), violations);
  return WithErrorInfo(std::move(status), reason::kParentsNotSucceeded,
                       {{"task", task},
                        {"batch_id", batch_id},
                        {"parents", absl::StrJoin(parents, ",")}});
}

// Why a conditional update of run `run_id` (Heartbeat, FinishRun) changed
// nothing: NOT_FOUND, or FAILED_PRECONDITION for an ended run or a lapsed
// lease. A lapsed run is ended as expired here, under its (task, batch) lock
// (taken unless `locked`), so the caller must commit.
absl::Status WhyNotLive(Tx& tx, int64_t run_id, bool locked) {
  for (int pass = 0; pass < 3; ++pass) {
    pqxx::result r = Exec(tx, kRunState, run_id);
    if (r.empty()) {
      return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                   absl::StrCat("run ", run_id, " not found"));
    }
    const pqxx::row row = r[0];
    const std::string status = row[2].as<std::string>();
    if (status != "PROCESSING") {
      const std::string message = row[3].as<std::string>();
      return RunEndedError(
          run_id, status,
          absl::StrCat("run ", run_id, " has ended (", status,
                       message.empty() ? "" : ": ", message, ")"));
    }
    if (!row[5].as<bool>()) break;  // live again: a concurrent change
    if (!locked) {
      Exec(tx, kLockTaskBatch, row[0].as<int64_t>(), row[1].as<std::string>());
      locked = true;
      continue;  // look again now that transitions are serialized
    }
    ASSIGN_OR_RETURN(std::optional<ExpiredRun> expired,
                     ExpireLocked(tx, run_id));
    (void)expired;  // ended now, or just before by someone else: refused alike
    return LeaseExpiredError(
        run_id,
        absl::StrCat("run ", run_id, ": lease expired at ",
                     FormatMicros(row[4].as<int64_t>()), "; start a new run"));
  }
  return absl::AbortedError(
      absl::StrCat("run ", run_id, " changed concurrently; retry"));
}

// Runs `body` in one transaction that also commits when `body` refuses the
// call by setting *refusal (an error it returns still rolls back): a refusal
// may come with a change that must stay, such as ending a run whose lease
// lapsed. Returns the error, else the refusal.
absl::Status TransactCommittingRefusal(
    Database* db, const char* name, const TxOptions& options,
    absl::FunctionRef<absl::Status(Tx&, absl::Status*)> body) {
  absl::Status refusal;
  RETURN_IF_ERROR(db->Transact(name, options, [&](Tx& tx) -> absl::Status {
    refusal = absl::OkStatus();
    return body(tx, &refusal);
  }));
  return refusal;
}

// --- StartRun ---------------------------------------------------------------

// FOR KEY SHARE: a concurrent DeleteTask waits for this run to exist.
constexpr Query kResolveTask{"run.resolve_task", R"sql(
  SELECT id, max_attempts, default_lease_seconds
    FROM tasks
   WHERE name = $1
     FOR KEY SHARE
)sql"};

constexpr Query kRunByRequestId{"run.by_request_id", "SELECT" METAD_RUN_COLUMNS
                                                     R"sql(
    FROM task_log r JOIN tasks t ON t.id = r.task_id
   WHERE r.request_id = $1
)sql"};

// Everything StartRun's rules need about (task $1, batch $2), in one read.
constexpr Query kStartChecks{"run.start_checks", R"sql(
  SELECT max(id) FILTER (WHERE status = 'PROCESSING'),
         bool_or(lease_expire_time <= now()) FILTER (WHERE status = 'PROCESSING'),
         max(id) FILTER (WHERE status = 'SUCCESS'),
         count(*) FILTER (WHERE status = 'ERROR'),
         coalesce(max(attempt), 0),
         (SELECT string_agg(p.name, ', ' ORDER BY p.name)
            FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
           WHERE d.child_id = $1
             AND NOT EXISTS (SELECT 1 FROM task_log s
                              WHERE s.task_id = d.parent_id
                                AND s.batch_id = $2
                                AND s.status = 'SUCCESS'))
    FROM task_log
   WHERE task_id = $1 AND batch_id = $2
)sql"};

// ON CONFLICT DO NOTHING: the unique partial indexes (one PROCESSING and one
// SUCCESS run per task and batch, unique request_id) answer races that the
// advisory lock does not cover; the caller then finds out which.
constexpr Query kInsertRun{"run.insert", R"sql(
  WITH r AS (
    INSERT INTO task_log (task_id, batch_id, status, attempt, worker_id,
                          lease_seconds, lease_expire_time, request_id)
    VALUES ($1, $2, 'PROCESSING', $3, $4, $5,
            now() + $5::integer * interval '1 second', $6)
    ON CONFLICT DO NOTHING
    RETURNING *
  ), e AS (
    INSERT INTO run_events (run_id, kind, from_status, to_status)
    SELECT id, 'STARTED', NULL, 'PROCESSING' FROM r
  )
  SELECT)sql" METAD_RUN_COLUMNS "FROM r JOIN tasks t ON t.id = r.task_id"};

}  // namespace

const char* RunStatusText(RunStatus status) {
  switch (status) {
    case metad::v1::RUN_STATUS_PROCESSING:
      return "PROCESSING";
    case metad::v1::RUN_STATUS_SUCCESS:
      return "SUCCESS";
    case metad::v1::RUN_STATUS_ERROR:
      return "ERROR";
    default:
      return "";
  }
}

RunStatus RunStatusFromText(const std::string& text) {
  if (text == "PROCESSING") return metad::v1::RUN_STATUS_PROCESSING;
  if (text == "SUCCESS") return metad::v1::RUN_STATUS_SUCCESS;
  if (text == "ERROR") return metad::v1::RUN_STATUS_ERROR;
  return metad::v1::RUN_STATUS_UNSPECIFIED;
}

RunStore::RunStore(Database* db) : db_(db) {}

absl::StatusOr<StartRunResult> RunStore::StartRun(const TxOptions& options,
                                                  const StartRunInput& in) {
  StartRunResult result;
  // A refusal commits: a lapsed run may have been expired on the way.
  RETURN_IF_ERROR(TransactCommittingRefusal(
      db_, "run.start", options,
      [&](Tx& tx, absl::Status* refusal) -> absl::Status {
        result = StartRunResult();
        pqxx::result task = Exec(tx, kResolveTask, in.task);
        if (task.empty()) {
          return NotFoundResourceError(
              resource::kTask, in.task,
              absl::StrCat("task ", in.task, " not found"));
        }
        const int64_t task_id = task[0][0].as<int64_t>();
        const int64_t max_attempts = task[0][1].as<int64_t>();
        const int32_t lease_seconds =
            in.lease_seconds > 0 ? in.lease_seconds : task[0][2].as<int32_t>();
        const std::string refused =
            absl::StrCat(in.task, " cannot start in batch ", in.batch_id, ": ");
        std::optional<std::string> request_id;
        if (!in.request_id.empty()) request_id = in.request_id;

        Exec(tx, kLockTaskBatch, task_id, in.batch_id);
        // A pass ends in an answer, or loops after expiring a lapsed run or
        // losing an insert race to a caller outside our lock.
        for (int pass = 0; pass < 3; ++pass) {
          if (request_id) {
            pqxx::result existing = Exec(tx, kRunByRequestId, *request_id);
            if (!existing.empty()) {
              ReadRun(existing[0], &result.run);
              if (result.run.task_id() != task_id ||
                  result.run.batch_id() != in.batch_id) {
                const std::string run_id = absl::StrCat(result.run.id());
                absl::Status reused = WithResourceInfo(
                    absl::AlreadyExistsError(
                        absl::StrCat("request_id: already used by run ", run_id,
                                     " (task ", result.run.task_name(),
                                     ", batch ", result.run.batch_id(), ")")),
                    resource::kRun, run_id);
                return WithErrorInfo(std::move(reused),
                                     reason::kRequestIdReused,
                                     {{"request_id", in.request_id},
                                      {"run_id", run_id},
                                      {"task", result.run.task_name()},
                                      {"batch_id", result.run.batch_id()}});
              }
              result.created = false;
              return absl::OkStatus();
            }
          }
          pqxx::result checks = Exec(tx, kStartChecks, task_id, in.batch_id);
          const pqxx::row c = checks[0];
          if (!c[0].is_null()) {
            const int64_t processing = c[0].as<int64_t>();
            if (c[1].as<bool>()) {
              RETURN_IF_ERROR(ExpireLocked(tx, processing).status());
              continue;
            }
            *refusal = WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                                         refused, "run ", processing,
                                         " of it is PROCESSING in this batch")),
                                     reason::kRunInProgress,
                                     {{"task", in.task},
                                      {"batch_id", in.batch_id},
                                      {"run_id", absl::StrCat(processing)}});
            return absl::OkStatus();
          }
          if (!c[2].is_null()) {
            const std::string run_id = absl::StrCat(c[2].as<int64_t>());
            *refusal = WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                                         refused,
                                         "it already succeeded in this batch "
                                         "(run ",
                                         run_id, ")")),
                                     reason::kAlreadySucceeded,
                                     {{"task", in.task},
                                      {"batch_id", in.batch_id},
                                      {"run_id", run_id}});
            return absl::OkStatus();
          }
          const int64_t errors = c[3].as<int64_t>();
          if (errors >= max_attempts) {
            *refusal = WithErrorInfo(
                absl::FailedPreconditionError(absl::StrCat(
                    refused, "its ", errors,
                    " ERROR runs used up max_attempts (", max_attempts, ")")),
                reason::kAttemptsExhausted,
                {{"task", in.task},
                 {"batch_id", in.batch_id},
                 {"error_runs", absl::StrCat(errors)},
                 {"max_attempts", absl::StrCat(max_attempts)}});
            return absl::OkStatus();
          }
          if (!c[5].is_null()) {
            *refusal = UnmetParentsError(refused, in.task, in.batch_id,
                                         c[5].as<std::string>());
            return absl::OkStatus();
          }
          const int32_t attempt = c[4].as<int32_t>() + 1;
          pqxx::result inserted =
              Exec(tx, kInsertRun, task_id, in.batch_id, attempt, in.worker_id,
                   lease_seconds, request_id);
          if (!inserted.empty()) {
            ReadRun(inserted[0], &result.run);
            result.created = true;
            return absl::OkStatus();
          }
        }
        return absl::AbortedError(
            absl::StrCat(refused, "concurrent starts kept conflicting; retry"));
      }));
  return result;
}

// --- Heartbeat --------------------------------------------------------------

namespace {
// The happy path is this one statement: no lock, no event.
constexpr Query kHeartbeat{"run.heartbeat", R"sql(
  UPDATE task_log r
     SET lease_expire_time = now() + coalesce(nullif($2::integer, 0),
                                              r.lease_seconds)
                                     * interval '1 second',
         heartbeat_time = now()
    FROM tasks t
   WHERE r.id = $1 AND t.id = r.task_id
     AND r.status = 'PROCESSING' AND r.lease_expire_time > now()
  RETURNING)sql" METAD_RUN_COLUMNS};
}  // namespace

absl::StatusOr<Run> RunStore::Heartbeat(const TxOptions& options,
                                        int64_t run_id, int32_t lease_seconds) {
  Run run;
  RETURN_IF_ERROR(TransactCommittingRefusal(
      db_, "run.heartbeat", options,
      [&](Tx& tx, absl::Status* refusal) -> absl::Status {
        pqxx::result r = Exec(tx, kHeartbeat, run_id, lease_seconds);
        if (!r.empty()) {
          ReadRun(r[0], &run);
          return absl::OkStatus();
        }
        *refusal = WhyNotLive(tx, run_id, /*locked=*/false);
        return absl::OkStatus();
      }));
  return run;
}

// --- FinishRun --------------------------------------------------------------

namespace {
constexpr Query kFinish{"run.finish", R"sql(
  WITH r AS (
    UPDATE task_log
       SET status = $2::text, error_message = $3::text, end_time = now(),
           lease_expire_time = NULL
     WHERE id = $1 AND status = 'PROCESSING' AND lease_expire_time > now()
    RETURNING *
  ), f AS (
    UPDATE files
       SET status = $2::text, error_message = $3::text, update_time = now()
      FROM r
     WHERE files.run_id = r.id AND files.status = 'PROCESSING'
    RETURNING files.id
  ), fe AS (
    INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                             message)
    SELECT id, 'FINISHED', 'PROCESSING', $2::text, $1, $3::text FROM f
  ), re AS (
    INSERT INTO run_events (run_id, kind, from_status, to_status, message)
    SELECT id, 'FINISHED', 'PROCESSING', $2::text, $3::text FROM r
  )
  SELECT)sql" METAD_RUN_COLUMNS R"sql(, (SELECT count(*) FROM f)
    FROM r JOIN tasks t ON t.id = r.task_id
)sql"};
}  // namespace

absl::StatusOr<FinishRunResult> RunStore::FinishRun(
    const TxOptions& options, int64_t run_id, RunStatus status,
    const std::string& error_message) {
  if (status != metad::v1::RUN_STATUS_SUCCESS &&
      status != metad::v1::RUN_STATUS_ERROR) {
    return InvalidFieldError("status",
                             "must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR");
  }
  const std::string message =
      status == metad::v1::RUN_STATUS_ERROR ? error_message : "";
  FinishRunResult result;
  RETURN_IF_ERROR(TransactCommittingRefusal(
      db_, "run.finish", options,
      [&](Tx& tx, absl::Status* refusal) -> absl::Status {
        result = FinishRunResult();
        if (Exec(tx, kLockRun, run_id).empty()) {
          return NotFoundResourceError(
              resource::kRun, absl::StrCat(run_id),
              absl::StrCat("run ", run_id, " not found"));
        }
        pqxx::result r = Exec(tx, kFinish, run_id,
                              std::string(RunStatusText(status)), message);
        if (!r.empty()) {
          ReadRun(r[0], &result.run);
          result.files_finished = r[0][kRunColumnCount].as<int32_t>();
          return absl::OkStatus();
        }
        *refusal = WhyNotLive(tx, run_id, /*locked=*/true);
        return absl::OkStatus();
      }));
  return result;
}

// --- reads ------------------------------------------------------------------

namespace {
constexpr Query kGetRun{"run.get", "SELECT" METAD_RUN_COLUMNS R"sql(
    FROM task_log r JOIN tasks t ON t.id = r.task_id
   WHERE r.id = $1
)sql"};

// The lists' optional filters ("$n = '' OR ...") only fold away in a plan
// made for the given values; a cached generic plan would scan by id and
// filter, whatever the filters.
constexpr Query kForceCustomPlan{
    "run.force_custom_plan",
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"};

constexpr Query kListRuns{"run.list", "SELECT" METAD_RUN_COLUMNS R"sql(
    FROM task_log r JOIN tasks t ON t.id = r.task_id
   WHERE r.id > $1
     AND ($2::text = '' OR t.name = $2::text)
     AND ($3::text = '' OR r.batch_id = $3::text)
     AND ($4::text = '' OR r.status = $4::text)
     AND ($5::bigint IS NULL OR r.start_time >= metad_ts($5::bigint))
     AND ($6::bigint IS NULL OR r.start_time < metad_ts($6::bigint))
   ORDER BY r.id
   LIMIT $7
)sql"};

// One row per task with runs in the batch, from one snapshot.
constexpr Query kGetBatch{"run.get_batch", R"sql(
  SELECT a.task_id, t.name, l.status, a.attempts, l.id, l.error_message,
         a.processing, a.success, a.error,
         metad_us(a.first_start), metad_us(a.last_end)
    FROM (SELECT task_id, max(id) AS latest_id, count(*) AS attempts,
                 count(*) FILTER (WHERE status = 'PROCESSING') AS processing,
                 count(*) FILTER (WHERE status = 'SUCCESS') AS success,
                 count(*) FILTER (WHERE status = 'ERROR') AS error,
                 min(start_time) AS first_start, max(end_time) AS last_end
            FROM task_log
           WHERE batch_id = $1
           GROUP BY task_id) a
    JOIN task_log l ON l.id = a.latest_id
    JOIN tasks t ON t.id = a.task_id
   ORDER BY a.task_id
)sql"};

constexpr Query kListRunEvents{"run.list_events", R"sql(
  SELECT e.id, e.run_id, e.kind, e.from_status, e.to_status, e.message,
         metad_us(e.event_time)
    FROM run_events e
   WHERE e.id > $1
     AND ($2::bigint = 0 OR e.run_id = $2::bigint)
     AND ($3::text = '' OR e.run_id IN (SELECT id FROM task_log
                                         WHERE batch_id = $3::text))
   ORDER BY e.id
   LIMIT $4
)sql"};

constexpr Query kFindLapsed{"run.find_lapsed", R"sql(
  SELECT id
    FROM task_log
   WHERE status = 'PROCESSING' AND lease_expire_time <= now()
   ORDER BY lease_expire_time
   LIMIT $1
)sql"};
}  // namespace

absl::StatusOr<Run> RunStore::GetRun(const TxOptions& options, int64_t run_id) {
  Run run;
  RETURN_IF_ERROR(
      db_->Transact("run.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, kGetRun, run_id);
        if (r.empty()) {
          return NotFoundResourceError(
              resource::kRun, absl::StrCat(run_id),
              absl::StrCat("run ", run_id, " not found"));
        }
        ReadRun(r[0], &run);
        return absl::OkStatus();
      }));
  return run;
}

absl::StatusOr<std::vector<Run>> RunStore::ListRuns(const TxOptions& options,
                                                    const RunFilter& filter,
                                                    int64_t after_id,
                                                    int32_t limit) {
  std::vector<Run> runs;
  RETURN_IF_ERROR(
      db_->Transact("run.list", options, [&](Tx& tx) -> absl::Status {
        runs.clear();
        Exec(tx, kForceCustomPlan);
        pqxx::result r =
            Exec(tx, kListRuns, after_id, filter.task, filter.batch_id,
                 std::string(RunStatusText(filter.status)),
                 filter.started_after_us, filter.started_before_us, limit);
        runs.resize(r.size());
        for (size_t i = 0; i < r.size(); ++i) ReadRun(r[i], &runs[i]);
        return absl::OkStatus();
      }));
  return runs;
}

absl::StatusOr<metad::v1::Batch> RunStore::GetBatch(
    const TxOptions& options, const std::string& batch_id) {
  metad::v1::Batch batch;
  RETURN_IF_ERROR(
      db_->Transact("run.get_batch", options, [&](Tx& tx) -> absl::Status {
        batch.Clear();
        pqxx::result r = Exec(tx, kGetBatch, batch_id);
        if (r.empty()) {
          return NotFoundResourceError(
              resource::kBatch, batch_id,
              absl::StrCat("batch ", batch_id, " has no runs"));
        }
        batch.set_batch_id(batch_id);
        int64_t first_start = 0;
        std::optional<int64_t> last_end;
        for (const pqxx::row& row : r) {
          metad::v1::BatchTask* task = batch.add_tasks();
          task->set_task_id(row[0].as<int64_t>());
          task->set_task_name(row[1].as<std::string>());
          task->set_status(RunStatusFromText(row[2].as<std::string>()));
          task->set_attempts(row[3].as<int32_t>());
          task->set_latest_run_id(row[4].as<int64_t>());
          task->set_latest_error_message(row[5].as<std::string>());
          batch.set_processing_runs(batch.processing_runs() +
                                    row[6].as<int32_t>());
          batch.set_success_runs(batch.success_runs() + row[7].as<int32_t>());
          batch.set_error_runs(batch.error_runs() + row[8].as<int32_t>());
          const int64_t start = row[9].as<int64_t>();
          first_start =
              batch.tasks_size() == 1 ? start : std::min(first_start, start);
          if (!row[10].is_null()) {
            last_end = std::max(last_end.value_or(row[10].as<int64_t>()),
                                row[10].as<int64_t>());
          }
        }
        MicrosToTimestamp(first_start, batch.mutable_first_start_time());
        if (last_end)
          MicrosToTimestamp(*last_end, batch.mutable_last_end_time());
        return absl::OkStatus();
      }));
  return batch;
}

absl::StatusOr<std::vector<metad::v1::RunEvent>> RunStore::ListRunEvents(
    const TxOptions& options, int64_t run_id, const std::string& batch_id,
    int64_t after_id, int32_t limit) {
  std::vector<metad::v1::RunEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("run.list_events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        Exec(tx, kForceCustomPlan);
        pqxx::result r =
            Exec(tx, kListRunEvents, after_id, run_id, batch_id, limit);
        events.resize(r.size());
        for (size_t i = 0; i < r.size(); ++i) {
          const pqxx::row row = r[i];
          metad::v1::RunEvent& e = events[i];
          e.set_id(row[0].as<int64_t>());
          e.set_run_id(row[1].as<int64_t>());
          e.set_kind(row[2].as<std::string>());
          if (!row[3].is_null()) {
            e.set_from_status(RunStatusFromText(row[3].as<std::string>()));
          }
          e.set_to_status(RunStatusFromText(row[4].as<std::string>()));
          e.set_message(row[5].as<std::string>());
          ReadTime(row[6], e.mutable_event_time());
        }
        return absl::OkStatus();
      }));
  return events;
}

absl::StatusOr<std::vector<int64_t>> RunStore::FindLapsedRuns(
    const TxOptions& options, int32_t limit) {
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(
      db_->Transact("run.find_lapsed", options, [&](Tx& tx) -> absl::Status {
        ids.clear();
        for (const pqxx::row& row : Exec(tx, kFindLapsed, limit)) {
          ids.push_back(row[0].as<int64_t>());
        }
        return absl::OkStatus();
      }));
  return ids;
}

absl::StatusOr<std::optional<ExpiredRun>> RunStore::ExpireRun(
    const TxOptions& options, int64_t run_id) {
  std::optional<ExpiredRun> expired;
  RETURN_IF_ERROR(
      db_->Transact("run.expire", options, [&](Tx& tx) -> absl::Status {
        expired.reset();
        if (Exec(tx, kLockRun, run_id).empty()) return absl::OkStatus();
        ASSIGN_OR_RETURN(expired, ExpireLocked(tx, run_id));
        return absl::OkStatus();
      }));
  return expired;
}

#undef METAD_RUN_COLUMNS

}  // namespace metad::store
