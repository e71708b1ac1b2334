#include "store/run_store.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/error_details.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "store/lease_clock.h"
#include "store/proto_time.h"
#include "store/queries/run.sql.h"
#include "store/sql.h"
#include "store/string_map_json.h"
#include "store/task_store.h"

namespace metad::store {
namespace {

using metad::v1::Run;
using metad::v1::RunStatus;

// The position of column `name` in `r`, if it has one.
std::optional<pqxx::row_size_type> FindColumn(const pqxx::result& r,
                                              const char* name) {
  for (pqxx::row_size_type i = 0; i < r.columns(); ++i) {
    if (std::strcmp(r.column_name(i), name) == 0) return i;
  }
  return std::nullopt;
}

// The columns of metad_run_row (migrations/functions/15_rows.sql), found by
// name once per result (see store/sql.h). The run functions answer a
// metad_run_result, whose run columns have the same names but lack
// cancelled and superseded (see ReadAnswerRun).
struct RunColumns {
  explicit RunColumns(const pqxx::result& r)
      : id(r.column_number("id")),
        task_id(r.column_number("task_id")),
        task_name(r.column_number("task_name")),
        batch_id(r.column_number("batch_id")),
        status(r.column_number("status")),
        attempt(r.column_number("attempt")),
        worker_id(r.column_number("worker_id")),
        lease_expire_us(r.column_number("lease_expire_us")),
        error_message(r.column_number("error_message")),
        start_us(r.column_number("start_us")),
        heartbeat_us(r.column_number("heartbeat_us")),
        end_us(r.column_number("end_us")),
        request_id(r.column_number("request_id")),
        cancelled(FindColumn(r, "cancelled")),
        superseded(FindColumn(r, "superseded")),
        labels(FindColumn(r, "labels")) {}
  pqxx::row_size_type id, task_id, task_name, batch_id, status, attempt,
      worker_id, lease_expire_us, error_message, start_us, heartbeat_us, end_us,
      request_id;
  std::optional<pqxx::row_size_type> cancelled, superseded, labels;
};

void ReadRun(const pqxx::row& row, const RunColumns& c, Run* run) {
  run->set_id(row[c.id].as<int64_t>());
  run->set_task_id(row[c.task_id].as<int64_t>());
  run->set_task_name(row[c.task_name].as<std::string>());
  run->set_batch_id(row[c.batch_id].as<std::string>());
  run->set_status(RunStatusFromText(row[c.status].as<std::string>()));
  run->set_attempt(row[c.attempt].as<int32_t>());
  run->set_worker_id(row[c.worker_id].as<std::string>());
  run->set_error_message(row[c.error_message].as<std::string>());
  ReadTime(row[c.start_us], run->mutable_start_time());
  // mutable_x() would mark an absent time as present: test for NULL first.
  if (pqxx::field f = row[c.lease_expire_us]; !f.is_null()) {
    ReadTime(f, run->mutable_lease_expire_time());
  }
  if (pqxx::field f = row[c.heartbeat_us]; !f.is_null()) {
    ReadTime(f, run->mutable_heartbeat_time());
  }
  if (pqxx::field f = row[c.end_us]; !f.is_null()) {
    ReadTime(f, run->mutable_end_time());
  }
  if (!row[c.request_id].is_null()) {
    run->set_request_id(row[c.request_id].as<std::string>());
  }
  if (c.cancelled) run->set_cancelled(row[*c.cancelled].as<bool>(false));
  if (c.superseded) run->set_superseded(row[*c.superseded].as<bool>(false));
  if (c.labels && !row[*c.labels].is_null()) {
    // Written by StartRun from validated labels: unreadable only if edited
    // by hand, and then the run is still worth showing without them.
    (void)ReadStringMapJson(row[*c.labels].c_str(), "run's labels",
                            run->mutable_labels());
  }
}

std::string FormatMicros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

// --- lease expiry ---------------------------------------------------------

// Ends run `run_id` if its lease lapsed (run.expire); the caller holds the
// run's (task, batch) lock (run.lock_task_batch or run.lock_run).
absl::StatusOr<std::optional<ExpiredRun>> ExpireLocked(Tx& tx, int64_t run_id) {
  pqxx::result r =
      Exec(tx, sql::kRunExpire, run_id, std::string(kLeaseExpiredMessage));
  if (r.empty()) return std::optional<ExpiredRun>();
  ExpiredRun expired;
  expired.run_id = r[0]["run_id"].as<int64_t>();
  expired.task_id = r[0]["task_id"].as<int64_t>();
  expired.task_name = r[0]["task_name"].as<std::string>();
  expired.batch_id = r[0]["batch_id"].as<std::string>();
  expired.files_released = r[0]["files_released"].as<int32_t>();
  return std::optional<ExpiredRun>(std::move(expired));
}

// RESOURCE_EXHAUSTED for a start refused because every concurrency slot of
// its key is held: ErrorInfo CONCURRENCY_LIMIT naming the key, the limit and
// the holders. `detail` is metad_start_run's: the key, the holders as words,
// their run ids, one per line.
absl::Status ConcurrencyLimitError(const std::string& refused,
                                   const std::string& task,
                                   const std::string& batch_id, int64_t limit,
                                   const std::string& detail) {
  std::vector<std::string> lines = absl::StrSplit(detail, '\n');
  lines.resize(3);
  const std::string& key = lines[0];
  const std::string key_words =
      key.empty() ? std::string("the task's limit")
                  : absl::StrCat("the limit of key \"", key, "\"");
  return WithErrorInfo(
      absl::ResourceExhaustedError(absl::StrCat(
          refused, key_words, " (", limit, " live runs) is full, held by ",
          lines[1], "; retry when one of them ends")),
      reason::kConcurrencyLimit,
      {{"task", task},
       {"batch_id", batch_id},
       {"key", key},
       {"limit", absl::StrCat(limit)},
       {"holders", lines[1]},
       {"holder_run_ids", lines[2]}});
}

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

// FAILED_PRECONDITION for a call on `run`, which has ended: RUN_CANCELLED
// when CancelRun ended it, RUN_ENDED otherwise.
absl::Status RunEndedOrCancelledError(const Run& run) {
  if (run.cancelled()) {
    return RunCancelledError(
        run.id(), absl::StrCat("run ", run.id(), " was cancelled (",
                               run.error_message(), "); start a new run"));
  }
  const std::string status = RunStatusText(run.status());
  return RunEndedError(run.id(), status,
                       EndedMessage(run.id(), status, run.error_message()));
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
    pqxx::result r = Exec(tx, sql::kRunState, run_id);
    if (r.empty()) {
      return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                   absl::StrCat("run ", run_id, " not found"));
    }
    const pqxx::row row = r[0];
    const std::string status = row["status"].as<std::string>();
    if (status != "PROCESSING") {
      Run ended;
      ended.set_id(run_id);
      ended.set_status(RunStatusFromText(status));
      ended.set_error_message(row["error_message"].as<std::string>());
      ended.set_cancelled(row["cancelled"].as<bool>());
      return RunEndedOrCancelledError(ended);
    }
    if (!row["lapsed"].as<bool>()) break;  // live again: a concurrent change
    if (!locked) {
      Exec(tx, sql::kRunLockTaskBatch, row["task_id"].as<int64_t>(),
           row["batch_id"].as<std::string>());
      locked = true;
      continue;  // look again now that transitions are serialized
    }
    ASSIGN_OR_RETURN(std::optional<ExpiredRun> expired,
                     ExpireLocked(tx, run_id));
    (void)expired;  // ended now, or just before by someone else: refused alike
    return LeaseExpiredError(
        run_id,
        LeaseExpiredMessage(run_id, row["lease_expire_us"].as<int64_t>()));
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
  kConcurrencyLimit,
  kConcurrencyKeyMissing,
  // metad_finish_run
  kFinished,
  kReplayed,
  kNotFound,
  kEnded,
  kLeaseExpired,
  kFileNotFound,
  kFileNotHeld,
  // both: changed under the lock every pass; the caller retries
  kConflicting,
};

// The columns of a metad_run_result (migration 0006): the run's, then the
// outcome code and the figures its message needs.
struct AnswerColumns {
  explicit AnswerColumns(const pqxx::result& r)
      : run(r),
        outcome(r.column_number("outcome")),
        detail(r.column_number("detail")),
        n1(r.column_number("n1")),
        n2(r.column_number("n2")) {}
  RunColumns run;
  pqxx::row_size_type outcome, detail, n1, n2;
};

// Reads the run of an answer that carries one, flags included.
void ReadAnswerRun(const pqxx::row& row, const AnswerColumns& c, Run* run) {
  ReadRun(row, c.run, run);
}

RunOutcome ReadOutcome(const pqxx::row& row, const AnswerColumns& c) {
  static const auto* codes = new absl::flat_hash_map<std::string, RunOutcome>{
      {"created", RunOutcome::kCreated},
      {"existing", RunOutcome::kExisting},
      {"request_id_reused", RunOutcome::kRequestIdReused},
      {"task_not_found", RunOutcome::kTaskNotFound},
      {"run_in_progress", RunOutcome::kRunInProgress},
      {"already_succeeded", RunOutcome::kAlreadySucceeded},
      {"attempts_exhausted", RunOutcome::kAttemptsExhausted},
      {"parents_unmet", RunOutcome::kParentsUnmet},
      {"concurrency_limit", RunOutcome::kConcurrencyLimit},
      {"concurrency_key_missing", RunOutcome::kConcurrencyKeyMissing},
      {"finished", RunOutcome::kFinished},
      {"replayed", RunOutcome::kReplayed},
      {"file_not_found", RunOutcome::kFileNotFound},
      {"file_not_held", RunOutcome::kFileNotHeld},
      {"not_found", RunOutcome::kNotFound},
      {"ended", RunOutcome::kEnded},
      {"lease_expired", RunOutcome::kLeaseExpired},
      {"conflicting", RunOutcome::kConflicting},
  };
  auto it = codes->find(row[c.outcome].as<std::string>());
  return it == codes->end() ? RunOutcome::kUnknown : it->second;
}

// A server-side function answered something this daemon does not know: a
// schema from another version (metad refuses those at start).
absl::Status UnknownOutcome(const char* what, const std::string& outcome) {
  log::Error("unknown_outcome", {{"tx", what}, {"outcome", outcome}});
  return absl::InternalError("internal error (see the daemon's log)");
}

absl::Status UnknownOutcome(const char* what, const pqxx::row& row,
                            const AnswerColumns& c) {
  return UnknownOutcome(what, row[c.outcome].as<std::string>());
}

// Words metad_start_run's answer for the caller of `in`.
absl::StatusOr<StartRunResult> AnswerStart(const pqxx::row& row,
                                           const AnswerColumns& c,
                                           const StartRunInput& in) {
  const std::string refused =
      absl::StrCat(in.task, " cannot start in batch ", in.batch_id, ": ");
  const RunOutcome outcome = ReadOutcome(row, c);
  switch (outcome) {
    case RunOutcome::kCreated:
    case RunOutcome::kExisting: {
      StartRunResult result;
      ReadAnswerRun(row, c, &result.run);
      result.created = outcome == RunOutcome::kCreated;
      return result;
    }
    case RunOutcome::kTaskNotFound:
      return NotFoundResourceError(
          resource::kTask, in.task,
          absl::StrCat("task ", in.task, " not found"));
    case RunOutcome::kRequestIdReused: {
      Run other;
      ReadAnswerRun(row, c, &other);
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
      const std::string run_id = absl::StrCat(row[c.n1].as<int64_t>());
      return WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat(
              refused, "run ", run_id, " of it is PROCESSING in this batch")),
          reason::kRunInProgress,
          {{"task", in.task}, {"batch_id", in.batch_id}, {"run_id", run_id}});
    }
    case RunOutcome::kAlreadySucceeded: {
      const std::string run_id = absl::StrCat(row[c.n1].as<int64_t>());
      return WithErrorInfo(
          absl::FailedPreconditionError(
              absl::StrCat(refused, "it already succeeded in this batch (run ",
                           run_id, ")")),
          reason::kAlreadySucceeded,
          {{"task", in.task}, {"batch_id", in.batch_id}, {"run_id", run_id}});
    }
    case RunOutcome::kAttemptsExhausted: {
      const int64_t errors = row[c.n1].as<int64_t>();
      const int64_t max_attempts = row[c.n2].as<int64_t>();
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
                               row[c.detail].as<std::string>());
    case RunOutcome::kConcurrencyLimit:
      return ConcurrencyLimitError(refused, in.task, in.batch_id,
                                   row[c.n1].as<int64_t>(),
                                   row[c.detail].as<std::string>());
    case RunOutcome::kConcurrencyKeyMissing: {
      const std::string label = row[c.detail].as<std::string>();
      return InvalidFieldError(
          "labels", absl::StrCat("task ", in.task,
                                 " limits concurrency per value of label \"",
                                 label, "\", which this run's labels lack"));
    }
    case RunOutcome::kConflicting:
      return absl::AbortedError(
          absl::StrCat(refused, "concurrent starts kept conflicting; retry"));
    default:
      return UnknownOutcome("run.start", row, c);
  }
}

// Words metad_finish_run's answer for the caller finishing `run_id`.
absl::StatusOr<FinishRunResult> AnswerFinish(const pqxx::row& row,
                                             const AnswerColumns& c,
                                             int64_t run_id) {
  switch (ReadOutcome(row, c)) {
    case RunOutcome::kFinished:
    case RunOutcome::kReplayed: {
      FinishRunResult result;
      ReadAnswerRun(row, c, &result.run);
      result.files_finished = row[c.n1].as<int32_t>();
      result.files_released = row[c.n2].as<int32_t>(0);
      result.replayed = ReadOutcome(row, c) == RunOutcome::kReplayed;
      return result;
    }
    case RunOutcome::kFileNotFound: {
      const int64_t file_id = row[c.n1].as<int64_t>();
      return NotFoundResourceError(
          resource::kFile, absl::StrCat(file_id),
          absl::StrCat("file_ids: file ", file_id, " not found"));
    }
    case RunOutcome::kFileNotHeld: {
      const int64_t file_id = row[c.n1].as<int64_t>();
      const std::string status = row[c.detail].as<std::string>();
      const int64_t holder = row[c.n2].as<int64_t>(0);
      return WithErrorInfo(
          absl::FailedPreconditionError(
              absl::StrCat("file_ids: file ", file_id, " is ", status,
                           holder == 0 ? std::string(" and held by no run")
                                       : absl::StrCat(" under run ", holder),
                           ", not held or completed by run ", run_id,
                           "; name only files this run claimed")),
          reason::kFileNotHeld,
          {{"file_id", absl::StrCat(file_id)},
           {"run_id", absl::StrCat(run_id)},
           {"status", status},
           {"holder_run_id", absl::StrCat(holder)}});
    }
    case RunOutcome::kNotFound:
      return NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                   absl::StrCat("run ", run_id, " not found"));
    case RunOutcome::kEnded: {
      Run ended;
      ReadAnswerRun(row, c, &ended);
      return RunEndedOrCancelledError(ended);
    }
    case RunOutcome::kLeaseExpired:
      return LeaseExpiredError(
          run_id, LeaseExpiredMessage(run_id, row[c.n1].as<int64_t>()));
    case RunOutcome::kConflicting:
      return absl::AbortedError(
          absl::StrCat("run ", run_id, " changed concurrently; retry"));
    default:
      return UnknownOutcome("run.finish", row, c);
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

RunEventColumns::RunEventColumns(const pqxx::result& r)
    : id(r.column_number("id")),
      run_id(r.column_number("run_id")),
      kind(r.column_number("kind")),
      from_status(r.column_number("from_status")),
      to_status(r.column_number("to_status")),
      message(r.column_number("message")),
      event_us(r.column_number("event_us")),
      actor(r.column_number("actor")) {}

void ReadRunEvent(const pqxx::row& row, const RunEventColumns& c,
                  metad::v1::RunEvent* event) {
  event->set_id(row[c.id].as<int64_t>());
  event->set_run_id(row[c.run_id].as<int64_t>());
  event->set_kind(row[c.kind].as<std::string>());
  if (!row[c.from_status].is_null()) {
    event->set_from_status(
        RunStatusFromText(row[c.from_status].as<std::string>()));
  }
  event->set_to_status(RunStatusFromText(row[c.to_status].as<std::string>()));
  event->set_message(row[c.message].as<std::string>());
  ReadTime(row[c.event_us], event->mutable_event_time());
  event->set_actor(row[c.actor].as<std::string>());
}

std::vector<Run> ReadRunRows(const pqxx::result& result) {
  std::vector<Run> runs(result.size());
  const RunColumns columns(result);
  for (size_t i = 0; i < result.size(); ++i) {
    ReadRun(result[i], columns, &runs[i]);
  }
  return runs;
}

absl::StatusOr<FinishRunResult> FinishRunInTx(Tx& tx,
                                              const FinishRunInput& in) {
  if (in.status != metad::v1::RUN_STATUS_SUCCESS &&
      in.status != metad::v1::RUN_STATUS_ERROR) {
    return InvalidFieldError("status",
                             "must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR");
  }
  const std::string message =
      in.status == metad::v1::RUN_STATUS_ERROR ? in.error_message : "";
  pqxx::result answer = Exec(tx, sql::kRunFinish, in.run_id,
                             std::string(RunStatusText(in.status)), message,
                             std::string(kLeaseExpiredMessage),
                             IntArrayLiteral(in.file_ids), in.settle_all_held);
  return AnswerFinish(answer[0], AnswerColumns(answer), in.run_id);
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
        answer =
            Exec(tx, sql::kRunStart, in.task, in.batch_id, in.worker_id,
                 in.lease_seconds, request_id,
                 std::string(kLeaseExpiredMessage), StringMapJson(in.labels));
        return absl::OkStatus();
      }));
  return AnswerStart(answer[0], AnswerColumns(answer), in);
}

// --- Heartbeat --------------------------------------------------------------

absl::StatusOr<Run> RunStore::Heartbeat(const TxOptions& options,
                                        int64_t run_id, int32_t lease_seconds) {
  Run run;
  RETURN_IF_ERROR(TransactCommittingRefusal(
      db_, "run.heartbeat", options,
      [&](Tx& tx, absl::Status* refusal) -> absl::Status {
        pqxx::result r = Exec(tx, sql::kRunHeartbeat, run_id, lease_seconds);
        // The first call through after an outage may find its lease lapsed
        // in time nobody could reach the database: the lease clock owes it
        // that time (store/lease_clock.h) before it is refused.
        if (r.empty() &&
            CatchUpLeasesInTx(tx, std::nullopt, /*tick=*/false).extended > 0) {
          r = Exec(tx, sql::kRunHeartbeat, run_id, lease_seconds);
        }
        if (!r.empty()) {
          ReadRun(r[0], RunColumns(r), &run);
          return absl::OkStatus();
        }
        *refusal = WhyNotLive(tx, run_id);
        return absl::OkStatus();
      }));
  return run;
}

// --- FinishRun --------------------------------------------------------------

absl::StatusOr<FinishRunResult> RunStore::FinishRun(const TxOptions& options,
                                                    const FinishRunInput& in) {
  if (in.status != metad::v1::RUN_STATUS_SUCCESS &&
      in.status != metad::v1::RUN_STATUS_ERROR) {
    return InvalidFieldError("status",
                             "must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR");
  }
  const std::string message =
      in.status == metad::v1::RUN_STATUS_ERROR ? in.error_message : "";
  pqxx::result answer;
  // One statement: a refusal commits too (a lapsed run is ended on the way).
  RETURN_IF_ERROR(
      db_->Autocommit("run.finish", options, [&](AutoTx& tx) -> absl::Status {
        answer = Exec(tx, sql::kRunFinish, in.run_id,
                      std::string(RunStatusText(in.status)), message,
                      std::string(kLeaseExpiredMessage),
                      IntArrayLiteral(in.file_ids), in.settle_all_held);
        return absl::OkStatus();
      }));
  return AnswerFinish(answer[0], AnswerColumns(answer), in.run_id);
}

// --- group commit -----------------------------------------------------------

namespace {

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
    absl::FunctionRef<absl::StatusOr<Out>(const pqxx::row&,
                                          const AnswerColumns&, size_t)>
        answer,
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
  const AnswerColumns columns(rows);
  for (size_t i = 0; i < order.size(); ++i) {
    out[order[i]] = answer(rows[i], columns, order[i]);
  }
  return out;
}
}  // namespace

absl::StatusOr<std::vector<absl::StatusOr<StartRunResult>>> RunStore::StartRuns(
    const TxOptions& options, const std::vector<const StartRunInput*>& ins) {
  const std::vector<size_t> order = LockOrder(ins, [](const StartRunInput& in) {
    return std::tie(in.task, in.batch_id);
  });
  std::vector<std::string> tasks, batches, workers, request_ids, labels;
  std::vector<int32_t> leases;
  for (size_t i : order) {
    tasks.push_back(ins[i]->task);
    batches.push_back(ins[i]->batch_id);
    workers.push_back(ins[i]->worker_id);
    leases.push_back(ins[i]->lease_seconds);
    request_ids.push_back(ins[i]->request_id);
    labels.push_back(StringMapJson(ins[i]->labels));
  }
  return RunBatch<StartRunResult>(
      db_, "run.start_batch", options, order,
      [&](const pqxx::row& row, const AnswerColumns& c, size_t i) {
        return AnswerStart(row, c, *ins[i]);
      },
      sql::kRunStartBatch, TextArrayLiteral(tasks), TextArrayLiteral(batches),
      TextArrayLiteral(workers), IntArrayLiteral(leases),
      TextArrayLiteral(request_ids), std::string(kLeaseExpiredMessage),
      TextArrayLiteral(labels));
}

absl::StatusOr<std::vector<absl::StatusOr<FinishRunResult>>>
RunStore::FinishRuns(const TxOptions& options,
                     const std::vector<const FinishRunInput*>& ins) {
  const std::vector<size_t> order =
      LockOrder(ins, [](const FinishRunInput& in) { return in.run_id; });
  std::vector<int64_t> runs, files;
  std::vector<int32_t> file_counts;
  std::vector<std::string> statuses, messages, settle_all;
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
    files.insert(files.end(), in.file_ids.begin(), in.file_ids.end());
    file_counts.push_back(static_cast<int32_t>(in.file_ids.size()));
    settle_all.push_back(in.settle_all_held ? "t" : "f");
  }
  return RunBatch<FinishRunResult>(
      db_, "run.finish_batch", options, order,
      [&](const pqxx::row& row, const AnswerColumns& c, size_t i) {
        return AnswerFinish(row, c, ins[i]->run_id);
      },
      sql::kRunFinishBatch, IntArrayLiteral(runs), TextArrayLiteral(statuses),
      TextArrayLiteral(messages), std::string(kLeaseExpiredMessage),
      IntArrayLiteral(files), IntArrayLiteral(file_counts),
      TextArrayLiteral(settle_all));
}

// --- reads ------------------------------------------------------------------

absl::StatusOr<Run> RunStore::GetRun(const TxOptions& options, int64_t run_id) {
  Run run;
  RETURN_IF_ERROR(
      db_->Transact("run.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result r = Exec(tx, sql::kRunGet, run_id);
        if (r.empty()) {
          return NotFoundResourceError(
              resource::kRun, absl::StrCat(run_id),
              absl::StrCat("run ", run_id, " not found"));
        }
        ReadRun(r[0], RunColumns(r), &run);
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
        Exec(tx, sql::kRunForceCustomPlan);
        const MapMatchParams labels = MapMatch(filter.labels);
        const std::string status(RunStatusText(filter.status));
        pqxx::result r;
        if (labels.contains.has_value()) {
          r = Exec(tx, sql::kRunListSelected, after_id, filter.task,
                   filter.batch_id, status, filter.started_after_us,
                   filter.started_before_us, limit, labels.contains,
                   labels.has_keys, kSelectorProbeLimit);
        }
        if (!labels.contains.has_value() || !SelectorProbeAnswered(r)) {
          r = Exec(tx, sql::kRunList, after_id, filter.task, filter.batch_id,
                   status, filter.started_after_us, filter.started_before_us,
                   limit, labels.contains, labels.has_keys);
        }
        runs.resize(r.size());
        const RunColumns columns(r);
        for (size_t i = 0; i < r.size(); ++i) ReadRun(r[i], columns, &runs[i]);
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
        pqxx::result r = Exec(tx, sql::kRunGetBatch, batch_id);
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
          task->set_task_id(row["task_id"].as<int64_t>());
          task->set_task_name(row["task_name"].as<std::string>());
          task->set_attempts(row["attempts"].as<int32_t>());
          // No latest run when RerunTasks superseded them all: UNSPECIFIED.
          if (!row["latest_run_id"].is_null()) {
            task->set_status(
                RunStatusFromText(row["status"].as<std::string>()));
            task->set_latest_run_id(row["latest_run_id"].as<int64_t>());
            task->set_latest_error_message(
                row["latest_error_message"].as<std::string>());
          }
          ReadTime(row["deadline_us"], task->mutable_deadline());
          task->set_late(row["late"].as<bool>());
          batch.set_processing_runs(batch.processing_runs() +
                                    row["processing"].as<int32_t>());
          batch.set_success_runs(batch.success_runs() +
                                 row["success"].as<int32_t>());
          batch.set_error_runs(batch.error_runs() + row["error"].as<int32_t>());
          const int64_t start = row["first_start_us"].as<int64_t>();
          first_start =
              batch.tasks_size() == 1 ? start : std::min(first_start, start);
          if (const pqxx::field end = row["last_end_us"]; !end.is_null()) {
            last_end = std::max(last_end.value_or(end.as<int64_t>()),
                                end.as<int64_t>());
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
        Exec(tx, sql::kRunForceCustomPlan);
        pqxx::result r =
            Exec(tx, sql::kRunListEvents, after_id, run_id, batch_id, limit);
        events.resize(r.size());
        const RunEventColumns columns(r);
        for (size_t i = 0; i < r.size(); ++i) {
          ReadRunEvent(r[i], columns, &events[i]);
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
        for (const pqxx::row& row : Exec(tx, sql::kRunFindLapsed, limit)) {
          ids.push_back(row["id"].as<int64_t>());
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
        if (Exec(tx, sql::kRunLockRun, run_id).empty()) return absl::OkStatus();
        ASSIGN_OR_RETURN(expired, ExpireLocked(tx, run_id));
        return absl::OkStatus();
      }));
  return expired;
}

// --- the operator's verbs ---------------------------------------------------

absl::StatusOr<CancelRunResult> RunStore::CancelRun(const TxOptions& options,
                                                    int64_t run_id,
                                                    const std::string& reason) {
  CancelRunResult result;
  absl::Status refusal;
  RETURN_IF_ERROR(
      db_->Transact("run.cancel", options, [&](Tx& tx) -> absl::Status {
        result = CancelRunResult();
        refusal = absl::OkStatus();
        // The actor is written as '' until actors are passed down.
        const pqxx::row answer =
            Exec(tx, sql::kRunCancel, run_id, reason, std::string()).at(0);
        const std::string outcome = answer["outcome"].as<std::string>();
        if (outcome == "not_found") {
          refusal =
              NotFoundResourceError(resource::kRun, absl::StrCat(run_id),
                                    absl::StrCat("run ", run_id, " not found"));
          return absl::OkStatus();
        }
        if (outcome != "cancelled" && outcome != "replayed" &&
            outcome != "ended") {
          return UnknownOutcome("run.cancel", outcome);
        }
        // A later statement: it sees what the function did.
        pqxx::result r = Exec(tx, sql::kRunGet, run_id);
        ReadRun(r.at(0), RunColumns(r), &result.run);
        if (outcome == "ended") {
          const std::string status = RunStatusText(result.run.status());
          refusal = RunEndedError(
              run_id, status,
              absl::StrCat(
                  "run_id: run ", run_id, " cannot be cancelled: ",
                  EndedMessage(run_id, status, result.run.error_message())));
          return absl::OkStatus();
        }
        result.files_released = answer["files_released"].as<int32_t>();
        result.replayed = outcome == "replayed";
        return absl::OkStatus();
      }));
  if (!refusal.ok()) return refusal;
  return result;
}

absl::StatusOr<RerunTasksResult> RunStore::RerunTasks(
    const TxOptions& options, const RerunTasksInput& in) {
  RerunTasksResult result;
  RETURN_IF_ERROR(
      db_->Transact("run.rerun_tasks", options, [&](Tx& tx) -> absl::Status {
        result = RerunTasksResult();
        ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                         ResolveTaskIds(tx, "tasks", in.tasks, true));
        pqxx::result rows =
            Exec(tx, sql::kRunRerunTasks, in.batch_id, IntArrayLiteral(ids),
                 in.include_downstream, in.reason, std::string(),
                 std::string(kLeaseExpiredMessage));
        for (const pqxx::row& row : rows) {
          const std::string outcome = row["outcome"].as<std::string>();
          const std::string task = row["task_name"].as<std::string>();
          if (outcome == "run_in_progress") {
            // Returned as an error: the transaction rolls back, so nothing
            // of the call (a lapsed run ended on the way included) stays.
            const std::string run_id =
                absl::StrCat(row["run_id"].as<int64_t>());
            return WithErrorInfo(
                absl::FailedPreconditionError(absl::StrCat(
                    "tasks: ", task, " cannot be reopened in batch ",
                    in.batch_id, ": run ", run_id,
                    " of it is PROCESSING there (cancel it or let it end)")),
                reason::kRunInProgress,
                {{"task", task},
                 {"batch_id", in.batch_id},
                 {"run_id", run_id}});
          }
          if (outcome != "reopened") {
            return UnknownOutcome("run.rerun_tasks", outcome);
          }
          result.tasks.push_back(task);
          result.runs_superseded += row["runs_superseded"].as<int32_t>();
        }
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace metad::store
