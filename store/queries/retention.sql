-- Retention (store/retention_store.cc): old finished runs with their events,
-- and old file events, deleted in small batches; retention_state
-- (migrations/0004_retention.up.sql) records how far each event table has
-- been pruned.

-- name: retention.prune_runs
-- Runs that a file points to (files.run_id, a foreign key) are kept, so the
-- file keeps its link to the run that last processed it. Deleting the
-- events and the runs in one statement satisfies run_events' foreign key,
-- which PostgreSQL checks at the end of the statement.
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
SELECT (SELECT count(*) FROM runs) AS runs,
       (SELECT count(*) FROM events) AS run_events,
       (SELECT coalesce(max(id), 0) FROM events) AS last_event_id,
       (SELECT coalesce(max(id), 0) FROM runs) AS last_run_id;

-- name: retention.prune_file_events
-- The $2 lowest unlocked event ids; of those, the ones before the first
-- event at or after the cutoff.
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
SELECT count(*) AS deleted, coalesce(max(id), 0) AS last_event_id FROM gone;

-- name: retention.raise_mark
UPDATE retention_state SET pruned_through = $2, update_time = now()
WHERE table_name = $1 AND pruned_through < $2;

-- name: retention.count_runs
-- What retention.prune_runs would delete (a dry run).
WITH old AS (
  SELECT t.id FROM task_log t
  WHERE t.status <> 'PROCESSING' AND t.end_time < metad_ts($1)
    AND NOT EXISTS (SELECT FROM files f WHERE f.run_id = t.id)
)
SELECT (SELECT count(*) FROM old) AS runs,
       (SELECT count(*) FROM run_events e JOIN old ON e.run_id = old.id)
         AS run_events;

-- name: retention.count_file_events
SELECT count(*) AS file_events FROM file_events
WHERE event_time < metad_ts($1);

-- name: retention.drop_partition
-- One whole partition of old history, when retention would delete all of
-- it (migrations/0014_partitioned_history.up.sql); next_after NULL: stop.
SELECT next_after, events, runs, last_event_id
  FROM metad_prune_event_partition($1, metad_ts($2), $3);

-- name: retention.ensure_partitions
SELECT metad_ensure_event_partitions() AS made;
