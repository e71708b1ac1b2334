#include "store/deadline_store.h"

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "store/proto_time.h"
#include "store/queries/deadline.sql.h"
#include "store/sql.h"

namespace metad::store {
namespace {

void SetDuration(int64_t us, google::protobuf::Duration* d) {
  d->set_seconds(us / 1000000);
  d->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

}  // namespace

absl::StatusOr<std::optional<int64_t>> DeadlineStore::SetBatchDeadline(
    const TxOptions& options, const std::string& batch_id,
    const std::string& task, std::optional<int64_t> deadline_us) {
  std::optional<int64_t> in_force;
  absl::Status status =
      db_->Transact("deadline.set_batch", options, [&](Tx& tx) -> absl::Status {
        in_force.reset();
        if (!Exec(tx, sql::kDeadlineTaskExists, task)[0]["found"].as<bool>()) {
          return NotFoundResourceError(
              resource::kTask, task,
              absl::StrCat("task: no task named \"", task, "\""));
        }
        if (deadline_us) {
          Exec(tx, sql::kDeadlineSetBatch, batch_id, task, *deadline_us);
        } else {
          Exec(tx, sql::kDeadlineClearBatch, batch_id, task);
        }
        const pqxx::field f =
            Exec(tx, sql::kDeadlineInForce, batch_id, task)[0]["deadline_us"];
        if (!f.is_null()) in_force = f.as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return in_force;
}

absl::StatusOr<metad::v1::SourceFreshness> DeadlineStore::SetSourceFreshness(
    const TxOptions& options, const std::string& source, int64_t max_age_us) {
  metad::v1::SourceFreshness out;
  absl::Status status = db_->Transact(
      "deadline.set_freshness", options, [&](Tx& tx) -> absl::Status {
        out.Clear();
        out.set_source(source);
        if (max_age_us == 0) {
          Exec(tx, sql::kDeadlineClearFreshness, source);
          return absl::OkStatus();
        }
        Exec(tx, sql::kDeadlineSetFreshness, source, max_age_us);
        pqxx::result r = Exec(tx, sql::kDeadlineGetFreshness, source);
        SetDuration(r[0]["max_age_us"].as<int64_t>(), out.mutable_max_age());
        ReadTime(r[0]["last_file_us"], out.mutable_last_file_time());
        out.set_stale(r[0]["stale"].as<bool>());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<AlertCounts> DeadlineStore::RecordAlerts(
    const TxOptions& options, int64_t lookback_seconds) {
  AlertCounts counts;
  absl::Status status =
      db_->Transact("deadline.record", options, [&](Tx& tx) -> absl::Status {
        counts = AlertCounts();
        Exec(tx, sql::kDeadlineYieldToLocks);
        counts.deadline_missed =
            Exec(tx, sql::kDeadlineRecordMissed, lookback_seconds).size();
        counts.stale = Exec(tx, sql::kDeadlineRecordStale).size();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<std::vector<metad::v1::Alert>> DeadlineStore::ListAlerts(
    const TxOptions& options, const std::string& kind, int64_t after_id,
    int32_t limit) {
  std::vector<metad::v1::Alert> alerts;
  absl::Status status = db_->Transact(
      "deadline.list_alerts", options, [&](Tx& tx) -> absl::Status {
        alerts.clear();
        for (const pqxx::row& row :
             Exec(tx, sql::kDeadlineListAlerts, after_id, kind, limit)) {
          metad::v1::Alert& a = alerts.emplace_back();
          a.set_id(row["id"].as<int64_t>());
          a.set_kind(row["kind"].as<std::string>());
          a.set_batch_id(row["batch_id"].as<std::string>());
          a.set_task(row["task"].as<std::string>());
          a.set_source(row["source"].as<std::string>());
          ReadTime(row["due_us"], a.mutable_due_time());
          a.set_message(row["message"].as<std::string>());
          ReadTime(row["event_us"], a.mutable_event_time());
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return alerts;
}

absl::StatusOr<AlertTotals> DeadlineStore::Totals(const TxOptions& options) {
  AlertTotals totals;
  absl::Status status = db_->Transact(
      "deadline.count_alerts", options, [&](Tx& tx) -> absl::Status {
        totals = AlertTotals();
        for (const pqxx::row& row : Exec(tx, sql::kDeadlineCountAlerts)) {
          const int64_t n = row["total"].as<int64_t>();
          if (row["kind"].as<std::string>() == "STALE") {
            totals.stale = n;
          } else {
            totals.deadline_missed = n;
          }
          totals.last_day += row["last_day"].as<int64_t>();
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return totals;
}

}  // namespace metad::store
