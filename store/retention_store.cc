#include "store/retention_store.h"

#include "store/queries/retention.sql.h"
#include "store/sql.h"

namespace metad::store {

absl::StatusOr<PruneCounts> RetentionStore::PruneRuns(const TxOptions& options,
                                                      int64_t cutoff_micros,
                                                      int limit,
                                                      int64_t* after_run_id) {
  PruneCounts counts;
  int64_t last_run = 0;
  absl::Status status =
      db_->Transact("retention.prune_runs", options, [&](Tx& tx) {
        pqxx::row row = Exec(tx, sql::kRetentionPruneRuns, cutoff_micros, limit,
                             *after_run_id)[0];
        counts = PruneCounts();
        counts.runs = row["runs"].as<int64_t>();
        counts.run_events = row["run_events"].as<int64_t>();
        int64_t last_event = row["last_event_id"].as<int64_t>();
        last_run = row["last_run_id"].as<int64_t>();
        if (last_event > 0) {
          Exec(tx, sql::kRetentionRaiseMark,
               EventTableName(EventTable::kRunEvents), last_event);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (last_run > *after_run_id) *after_run_id = last_run;
  return counts;
}

absl::StatusOr<int64_t> RetentionStore::PruneFileEvents(
    const TxOptions& options, int64_t cutoff_micros, int limit) {
  int64_t deleted = 0;
  absl::Status status =
      db_->Transact("retention.prune_file_events", options, [&](Tx& tx) {
        pqxx::row row =
            Exec(tx, sql::kRetentionPruneFileEvents, cutoff_micros, limit)[0];
        deleted = row["deleted"].as<int64_t>();
        int64_t last_event = row["last_event_id"].as<int64_t>();
        if (last_event > 0) {
          Exec(tx, sql::kRetentionRaiseMark,
               EventTableName(EventTable::kFileEvents), last_event);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<PartitionDrop> RetentionStore::DropPartition(
    const TxOptions& options, EventTable table, int64_t cutoff_micros,
    int64_t after) {
  PartitionDrop drop;
  absl::Status status =
      db_->Transact("retention.drop_partition", options, [&](Tx& tx) {
        pqxx::row row = Exec(tx, sql::kRetentionDropPartition,
                             EventTableName(table), cutoff_micros, after)[0];
        drop = PartitionDrop();
        if (!row["next_after"].is_null()) {
          drop.next_after = row["next_after"].as<int64_t>();
        }
        drop.events = row["events"].as<int64_t>();
        drop.runs = row["runs"].as<int64_t>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return drop;
}

absl::StatusOr<int> RetentionStore::EnsurePartitions(const TxOptions& options) {
  int made = 0;
  absl::Status status =
      db_->Transact("retention.ensure_partitions", options, [&](Tx& tx) {
        made = Exec(tx, sql::kRetentionEnsurePartitions)[0]["made"].as<int>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return made;
}

absl::StatusOr<PruneCounts> RetentionStore::CountPrunable(
    const TxOptions& options, int64_t cutoff_micros) {
  PruneCounts counts;
  absl::Status status = db_->Transact("retention.count", options, [&](Tx& tx) {
    pqxx::row runs = Exec(tx, sql::kRetentionCountRuns, cutoff_micros)[0];
    counts.runs = runs["runs"].as<int64_t>();
    counts.run_events = runs["run_events"].as<int64_t>();
    counts.file_events = Exec(tx, sql::kRetentionCountFileEvents,
                              cutoff_micros)[0]["file_events"]
                             .as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace metad::store
