#include "store/retention_store.h"

#include "store/sql.h"

namespace metad::store {
namespace {

// Runs that a file points to (files.run_id, a foreign key) are kept, so the
// file keeps its link to the run that last processed it. Deleting the
// events and the runs in one statement satisfies run_events' foreign key,
// which PostgreSQL checks at the end of the statement.
constexpr Query kPruneRuns{"retention.prune_runs", R"sql(
WITH victims AS (
  SELECT t.id FROM task_log t
  WHERE t.id > $3 AND t.status <> 'PROCESSING'
    AND t.end_time < metad_ts($1)
    AND NOT EXISTS (SELECT FROM files f WHERE f.run_id = t.id)
  ORDER BY t.id
  LIMIT $2
  FOR UPDATE OF t SKIP LOCKED
), events AS (
  DELETE FROM run_events e USING victims v WHERE e.run_id = v.id
  RETURNING e.id
), runs AS (
  DELETE FROM task_log t USING victims v WHERE t.id = v.id
  RETURNING t.id
)
SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events),
       (SELECT coalesce(max(id), 0) FROM events),
       (SELECT coalesce(max(id), 0) FROM runs)
)sql"};

// The `limit` lowest unlocked event ids; of those, the ones before the
// first event at or after the cutoff.
constexpr Query kPruneFileEvents{"retention.prune_file_events", R"sql(
WITH head AS MATERIALIZED (
  SELECT id, event_time FROM file_events
  ORDER BY id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), victims AS (
  SELECT id FROM head
  WHERE id < coalesce((SELECT min(id) FROM head
                       WHERE event_time >= metad_ts($1)),
                      9223372036854775807)
), gone AS (
  DELETE FROM file_events e USING victims v WHERE e.id = v.id
  RETURNING e.id
)
SELECT count(*), coalesce(max(id), 0) FROM gone
)sql"};

constexpr Query kRaiseMark{"retention.raise_mark", R"sql(
UPDATE retention_state SET pruned_through = $2, update_time = now()
WHERE table_name = $1 AND pruned_through < $2
)sql"};

constexpr Query kCountRuns{"retention.count_runs", R"sql(
WITH old AS (
  SELECT t.id FROM task_log t
  WHERE t.status <> 'PROCESSING' AND t.end_time < metad_ts($1)
    AND NOT EXISTS (SELECT FROM files f WHERE f.run_id = t.id)
)
SELECT (SELECT count(*) FROM old),
       (SELECT count(*) FROM run_events e JOIN old ON e.run_id = old.id)
)sql"};

constexpr Query kCountFileEvents{"retention.count_file_events",
                                 "SELECT count(*) FROM file_events "
                                 "WHERE event_time < metad_ts($1)"};

}  // namespace

absl::StatusOr<PruneCounts> RetentionStore::PruneRuns(const TxOptions& options,
                                                      int64_t cutoff_micros,
                                                      int limit,
                                                      int64_t* after_run_id) {
  PruneCounts counts;
  int64_t last_run = 0;
  absl::Status status =
      db_->Transact("retention.prune_runs", options, [&](Tx& tx) {
        pqxx::row row =
            Exec(tx, kPruneRuns, cutoff_micros, limit, *after_run_id)[0];
        counts = PruneCounts();
        counts.runs = row[0].as<int64_t>();
        counts.run_events = row[1].as<int64_t>();
        int64_t last_event = row[2].as<int64_t>();
        last_run = row[3].as<int64_t>();
        if (last_event > 0) {
          Exec(tx, kRaiseMark, EventTableName(EventTable::kRunEvents),
               last_event);
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
        pqxx::row row = Exec(tx, kPruneFileEvents, cutoff_micros, limit)[0];
        deleted = row[0].as<int64_t>();
        int64_t last_event = row[1].as<int64_t>();
        if (last_event > 0) {
          Exec(tx, kRaiseMark, EventTableName(EventTable::kFileEvents),
               last_event);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<PruneCounts> RetentionStore::CountPrunable(
    const TxOptions& options, int64_t cutoff_micros) {
  PruneCounts counts;
  absl::Status status = db_->Transact("retention.count", options, [&](Tx& tx) {
    pqxx::row runs = Exec(tx, kCountRuns, cutoff_micros)[0];
    counts.runs = runs[0].as<int64_t>();
    counts.run_events = runs[1].as<int64_t>();
    counts.file_events =
        Exec(tx, kCountFileEvents, cutoff_micros)[0][0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace metad::store
