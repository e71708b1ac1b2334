#include "store/run_store.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/error_details.h"
#include "common/log.h"
#include "store/proto_time.h"
#include "store/sql.h"
#include "common/status_macros.h"

namespace metad::store {
namespace {

using metad::v1::Run;
using metad::v1::RunStatus;

// The columns ReadRun reads, by name, for `task_log r JOIN tasks t`: the
// same names as the run columns of metad_run_result (migration 0006), which
// the run functions answer with.
#define METAD_RUN_COLUMNS                                                 \
  " r.id, r.task_id, t.name AS task_name, r.batch_id, r.status,"          \
  " r.attempt, r.worker_id, metad_us(r.lease_expire_time) AS"             \
  " lease_expire_us, r.error_message, metad_us(r.start_time) AS start_us," \
  " metad_us(r.heartbeat_time) AS heartbeat_us,"                          \
  " metad_us(r.end_time) AS end_us, r.request_id "

void ReadRun(const pqxx::row& row, Run* run) {
  run->set_id(row["id"].as<int64_t>());
  run->set_task_id(row["task_id"].as<int64_t>());
  run->set_task_name(row["task_name"].as<std::string>());
  run->set_batch_id(row["batch_id"].as<std::string>());
  run->set_status(RunStatusFromText(row["status"].as<std::string>()));
  run->set_attempt(row["attempt"].as<int32_t>());
  run->set_worker_id(row["worker_id"].as<std::string>());
  run->set_error_message(row["error_message"].as<std::string>());
  ReadTime(row["start_us"], run->mutable_start_time());
  // mutable_x() would mark an absent time as present: test for NULL first.
  if (pqxx::field f = row["lease_expire_us"]; !f.is_null()) {
    ReadTime(f, run->mutable_lease_expire_time());
  }
  if (pqxx::field f = row["heartbeat_us"]; !f.is_null()) {
    ReadTime(f, run->mutable_heartbeat_time());
  }
  if (pqxx::field f = row["end_us"]; !f.is_null()) {
    ReadTime(f, run->mutable_end_time());
  }
  if (!row["request_id"].is_null()) {
    run->set_request_id(row["request_id"].as<std::string>());
  }
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
  SELECT run_id, task_id, task_name, batch_id, files_released
    FROM metad_expire_run($1, $2)
)sql"};

// The caller holds the run's (task, batch) lock.
absl::StatusOr<std::optional<ExpiredRun>> ExpireLocked(Tx& tx, int64_t run_id) {
  pqxx::result r = Exec(tx, kExpire, run_id, std::string(kLeaseExpiredMessage));
  if (r.empty()) return std::optional<ExpiredRun>();
  ExpiredRun expired;
  expired.run_id = r[0]["run_id"].as<int64_t>();
  expired.task_id = r[0]["task_id"].as<int64_t>();
  expired.task_name = r[0]["task_name"].as<std::string>();
  expired.batch_id = r[0]["batch_id"].as<std::string>();
  expired.files_released = r[0]["files_released"].as<int32_t>();
  return std::optional<ExpiredRun>(std::move(expired));
}

constexpr Query kRunState{"run.state", R"sql(
  SELECT task_id, batch_id, status, error_message,
         metad_us(lease_expire_time) AS lease_expire_us,
         metad_lease_lapsed(lease_expire_time) AS lapsed
    FROM task_log
   WHERE id = $1
)sql"};

// FAILED_PRECONDITION for a start refused because the parents in
// `parent_list` (", "-separated, as metad_start_run aggregates them; task names
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

std::string EndedMessage(int64_t run_id, const std::string& status,
                         const std::string& message) {
  return absl::StrCat("run ", run_id, " has ended (", status,
                      message.empty() ? "" : ": ", message, ")");
}

std::string LeaseExpiredMessage(int64_t run_id, int64_t lapsed_us) {
  return absl::StrCat("run ", run_id, ": lease expired at ",
                      FormatMicros(lapsed_us), "; start a new run");
}


// Why Heartbeat's conditional update of run `run_id` changed nothing:
// NOT_FOUND, or FAILED_PRECONDITION for an ended run or a lapsed lease. A
// lapsed run is ended as expired here, under its (task, batch) lock, so the
// caller must commit. (metad_finish_run does the same for FinishRun.)
absl::Status WhyNotLive(Tx& tx, int64_t run_id) {
  bool locked = false;
  for (int pass = 0; pass < 3; ++pass) {
    pqxx::result r = Exec(tx, kRunState, run_id);
    if (r.empty()) {
      return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                   absl::StrCat("run ", run_id, " not found"));
    }
    const pqxx::row row = r[0];
    const std::string status = row["status"].as<std::string>();
    if (status != "PROCESSING") {
      return RunEndedError(
          run_id, status,
          EndedMessage(run_id, status, row["error_message"].as<std::string>()));
    }
    if (!row["lapsed"].as<bool>()) break;  // live again: a concurrent change
    if (!locked) {
      Exec(tx, kLockTaskBatch, row["task_id"].as<int64_t>(),
           row["batch_id"].as<std::string>());
      locked = true;
      continue;  // look again now that transitions are serialized
    }
    ASSIGN_OR_RETURN(std::optional<ExpiredRun> expired,
                     ExpireLocked(tx, run_id));
    (void)expired;  // ended now, or just before by someone else: refused alike
    return LeaseExpiredError(run_id,
                             LeaseExpiredMessage(
                                 run_id, row["lease_expire_us"].as<int64_t>()));
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

// StartRun and FinishRun are one server-side function each
// (migrations/functions/50_runs.sql): the function applies the rules and
// answers a metad_run_result: the run's columns (ReadRun), an outcome code,
// and the figures its message needs (detail, n1, n2). The functions below
// word it.
enum class RunOutcome {
  kUnknown,
  // metad_start_run
  kCreated,
  kExisting,
  kRequestIdReused,
  kTaskNotFound,
  kRunInProgress,
  kAlreadySucceeded,
  kAttemptsExhausted,
  kParentsUnmet,
  // metad_finish_run
  kFinished,
  kNotFound,
  kEnded,
  kLeaseExpired,
  // both: changed under the lock every pass; the caller retries
  kConflicting,
};

RunOutcome ReadOutcome(const pqxx::row& row) {
  static const auto* codes = new absl::flat_hash_map<std::string, RunOutcome>{
      {"created", RunOutcome::kCreated},
      {"existing", RunOutcome::kExisting},
      {"request_id_reused", RunOutcome::kRequestIdReused},
      {"task_not_found", RunOutcome::kTaskNotFound},
      {"run_in_progress", RunOutcome::kRunInProgress},
      {"already_succeeded", RunOutcome::kAlreadySucceeded},
      {"attempts_exhausted", RunOutcome::kAttemptsExhausted},
      {"parents_unmet", RunOutcome::kParentsUnmet},
      {"finished", RunOutcome::kFinished},
      {"not_found", RunOutcome::kNotFound},
      {"ended", RunOutcome::kEnded},
      {"lease_expired", RunOutcome::kLeaseExpired},
      {"conflicting", RunOutcome::kConflicting},
  };
  auto it = codes->find(row["outcome"].as<std::string>());
  return it == codes->end() ? RunOutcome::kUnknown : it->second;
}

constexpr Query kStartRun{"run.start", R"sql(
  SELECT * FROM metad_start_run($1, $2, $3, $4, $5, $6)
)sql"};

// A server-side function answered something this daemon does not know: a
// schema from another version (metad refuses those at start).
absl::Status UnknownOutcome(const char* what, const std::string& outcome) {
  log::Error("unknown_outcome", {{"tx", what}, {"outcome", outcome}});
  return absl::InternalError("internal error (see the daemon's log)");
}

absl::Status UnknownOutcome(const char* what, const pqxx::row& row) {
  return UnknownOutcome(what, row["outcome"].as<std::string>());
}

// Words metad_start_run's answer for the caller of `in`.
absl::StatusOr<StartRunResult> AnswerStart(const pqxx::row& row,
                                           const StartRunInput& in) {
  const std::string refused =
      absl::StrCat(in.task, " cannot start in batch ", in.batch_id, ": ");
  const RunOutcome outcome = ReadOutcome(row);
  switch (outcome) {
    case RunOutcome::kCreated:
    case RunOutcome::kExisting: {
      StartRunResult result;
      ReadRun(row, &result.run);
      result.created = outcome == RunOutcome::kCreated;
      return result;
    }
    case RunOutcome::kTaskNotFound:
      return NotFoundResourceError(
          resource::kTask, in.task,
          absl::StrCat("task ", in.task, " not found"));
    case RunOutcome::kRequestIdReused: {
      Run other;
      ReadRun(row, &other);
      const std::string run_id = absl::StrCat(other.id());
      absl::Status reused = WithResourceInfo(
          absl::AlreadyExistsError(absl::StrCat(
              "request_id: already used by run ", run_id, " (task ",
              other.task_name(), ", batch ", other.batch_id(), ")")),
          resource::kRun, run_id);
      return WithErrorInfo(std::move(reused), reason::kRequestIdReused,
                           {{"request_id", in.request_id},
                            {"run_id", run_id},
                            {"task", other.task_name()},
                            {"batch_id", other.batch_id()}});
    }
    case RunOutcome::kRunInProgress: {
      const std::string run_id = absl::StrCat(row["n1"].as<int64_t>());
      return WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat(
              refused, "run ", run_id, " of it is PROCESSING in this batch")),
          reason::kRunInProgress,
          {{"task", in.task}, {"batch_id", in.batch_id}, {"run_id", run_id}});
    }
    case RunOutcome::kAlreadySucceeded: {
      const std::string run_id = absl::StrCat(row["n1"].as<int64_t>());
      return WithErrorInfo(
          absl::FailedPreconditionError(
              absl::StrCat(refused, "it already succeeded in this batch (run ",
                           run_id, ")")),
          reason::kAlreadySucceeded,
          {{"task", in.task}, {"batch_id", in.batch_id}, {"run_id", run_id}});
    }
    case RunOutcome::kAttemptsExhausted: {
      const int64_t errors = row["n1"].as<int64_t>();
      const int64_t max_attempts = row["n2"].as<int64_t>();
      return WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat(
              refused, "its ", errors, " ERROR runs used up max_attempts (",
              max_attempts, ")")),
          reason::kAttemptsExhausted,
          {{"task", in.task},
           {"batch_id", in.batch_id},
           {"error_runs", absl::StrCat(errors)},
           {"max_attempts", absl::StrCat(max_attempts)}});
    }
    case RunOutcome::kParentsUnmet:
      return UnmetParentsError(refused, in.task, in.batch_id,
                               row["detail"].as<std::string>());
    case RunOutcome::kConflicting:
      return absl::AbortedError(
          absl::StrCat(refused, "concurrent starts kept conflicting; retry"));
    default:
      return UnknownOutcome("run.start", row);
  }
}

// Words metad_finish_run's answer for the caller finishing `run_id`.
absl::StatusOr<FinishRunResult> AnswerFinish(const pqxx::row& row,
                                             int64_t run_id) {
  switch (ReadOutcome(row)) {
    case RunOutcome::kFinished: {
      FinishRunResult result;
      ReadRun(row, &result.run);
      result.files_finished = row["n1"].as<int32_t>();
      return result;
    }
    case RunOutcome::kNotFound:
      return NotFoundResourceError(
          resource::kRun, absl::StrCat(run_id),
          absl::StrCat("run ", run_id, " not found"));
    case RunOutcome::kEnded: {
      const std::string ended = row["status"].as<std::string>();
      return RunEndedError(
          run_id, ended,
          EndedMessage(run_id, ended, row["error_message"].as<std::string>()));
    }
    case RunOutcome::kLeaseExpired:
      return LeaseExpiredError(
          run_id, LeaseExpiredMessage(run_id, row["n1"].as<int64_t>()));
    case RunOutcome::kConflicting:
      return absl::AbortedError(
          absl::StrCat("run ", run_id, " changed concurrently; retry"));
    default:
      return UnknownOutcome("run.finish", row);
  }
}

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
  std::optional<std::string> request_id;
  if (!in.request_id.empty()) request_id = in.request_id;
  pqxx::result answer;
  // One statement: it commits what it did, a refusal included (a lapsed
  // run may have been expired on the way).
  RETURN_IF_ERROR(
      db_->Autocommit("run.start", options, [&](AutoTx& tx) -> absl::Status {
        answer = Exec(tx, kStartRun, in.task, in.batch_id, in.worker_id,
                      in.lease_seconds, request_id,
                      std::string(kLeaseExpiredMessage));
        return absl::OkStatus();
      }));
  return AnswerStart(answer[0], in);
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
     AND metad_run_live(r.status, r.lease_expire_time)
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
        *refusal = WhyNotLive(tx, run_id);
        return absl::OkStatus();
      }));
  return run;
}

// --- FinishRun --------------------------------------------------------------

namespace {
constexpr Query kFinish{"run.finish", R"sql(
  SELECT * FROM metad_finish_run($1, $2, $3, $4)
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
  pqxx::result answer;
  // One statement: a refusal commits too (a lapsed run is ended on the way).
  RETURN_IF_ERROR(
      db_->Autocommit("run.finish", options, [&](AutoTx& tx) -> absl::Status {
        answer = Exec(tx, kFinish, run_id, std::string(RunStatusText(status)),
                      message, std::string(kLeaseExpiredMessage));
        return absl::OkStatus();
      }));
  return AnswerFinish(answer[0], run_id);
}

// --- group commit
// -------------------------------------------------------------

namespace {
constexpr Query kStartRuns{"run.start_batch", R"sql(
  SELECT * FROM metad_start_runs($1::text[], $2::text[], $3::text[],
                                 $4::integer[], $5::text[], $6)
)sql"};

constexpr Query kFinishRuns{"run.finish_batch", R"sql(
  SELECT * FROM metad_finish_runs($1::bigint[], $2::text[], $3::text[], $4)
)sql"};

// The positions of `ins` sorted by `key`: the order a batch runs its calls
// in, the same in every batch, so two batches wait on each other's locks
// at most one way.
template <typename In, typename Key>
std::vector<size_t> LockOrder(const std::vector<const In*>& ins, Key key) {
  std::vector<size_t> order(ins.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return key(*ins[a]) < key(*ins[b]);
  });
  return order;
}

// Runs `query` (one of the batch functions) in one statement and hands
// row i of its answer to answer(position order[i]).
template <typename Out, typename... Args>
absl::StatusOr<std::vector<absl::StatusOr<Out>>> RunBatch(
    Database* db, const char* name, const TxOptions& options,
    const std::vector<size_t>& order,
    absl::FunctionRef<absl::StatusOr<Out>(const pqxx::row&, size_t)> answer,
    const Query& query, const Args&... args) {
  pqxx::result rows;
  RETURN_IF_ERROR(db->Autocommit(name, options, [&](AutoTx& tx) {
    rows = Exec(tx, query, args...);
    return absl::OkStatus();
  }));
  if (rows.size() != order.size()) {
    return UnknownOutcome(name, absl::StrCat(rows.size(), " rows"));
  }
  std::vector<absl::StatusOr<Out>> out(order.size(),
                                       absl::InternalError("unanswered"));
  for (size_t i = 0; i < order.size(); ++i) {
    out[order[i]] = answer(rows[i], order[i]);
  }
  return out;
}
}  // namespace

absl::StatusOr<std::vector<absl::StatusOr<StartRunResult>>> RunStore::StartRuns(
    const TxOptions& options, const std::vector<const StartRunInput*>& ins) {
  const std::vector<size_t> order = LockOrder(ins, [](const StartRunInput& in) {
    return std::tie(in.task, in.batch_id);
  });
  std::vector<std::string> tasks, batches, workers, request_ids;
  std::vector<int32_t> leases;
  for (size_t i : order) {
    tasks.push_back(ins[i]->task);
    batches.push_back(ins[i]->batch_id);
    workers.push_back(ins[i]->worker_id);
    leases.push_back(ins[i]->lease_seconds);
    request_ids.push_back(ins[i]->request_id);
  }
  return RunBatch<StartRunResult>(
      db_, "run.start_batch", options, order,
      [&](const pqxx::row& row, size_t i) { return AnswerStart(row, *ins[i]); },
      kStartRuns, TextArrayLiteral(tasks), TextArrayLiteral(batches),
      TextArrayLiteral(workers), IntArrayLiteral(leases),
      TextArrayLiteral(request_ids), std::string(kLeaseExpiredMessage));
}

absl::StatusOr<std::vector<absl::StatusOr<FinishRunResult>>>
RunStore::FinishRuns(const TxOptions& options,
                     const std::vector<const FinishRunInput*>& ins) {
  const std::vector<size_t> order =
      LockOrder(ins, [](const FinishRunInput& in) { return in.run_id; });
  std::vector<int64_t> runs;
  std::vector<std::string> statuses, messages;
  for (size_t i : order) {
    const FinishRunInput& in = *ins[i];
    if (in.status != metad::v1::RUN_STATUS_SUCCESS &&
        in.status != metad::v1::RUN_STATUS_ERROR) {
      return InvalidFieldError(
          "status", "must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR");
    }
    runs.push_back(in.run_id);
    statuses.push_back(RunStatusText(in.status));
    messages.push_back(
        in.status == metad::v1::RUN_STATUS_ERROR ? in.error_message : "");
  }
  return RunBatch<FinishRunResult>(
      db_, "run.finish_batch", options, order,
      [&](const pqxx::row& row, size_t i) {
        return AnswerFinish(row, ins[i]->run_id);
      },
      kFinishRuns, IntArrayLiteral(runs), TextArrayLiteral(statuses),
      TextArrayLiteral(messages), std::string(kLeaseExpiredMessage));
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
   WHERE status = 'PROCESSING' AND metad_lease_lapsed(lease_expire_time)
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
