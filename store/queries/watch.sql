-- Watch streams: file_events and run_events read by id, run by
-- store/watch_store.cc (which explains the settled horizon). Events are
-- read as metad_file_event_row and metad_run_event_row
-- (migrations/functions/15_rows.sql), with the names a watcher filters on.
-- The file and run statements come in twins that differ only in the table,
-- in the most selective filter or in having no filters, so that each plan
-- uses its index; twins select the same columns.

-- name: watch.force_generic_plan
-- Sent first in a horizon step (watch.*_horizon) and before the reads of
-- unfiltered streams (watch.*_events_unfiltered). Their generic plans suit
-- every value (index scans on the id alone), but the plan cache keeps
-- choosing custom plans, planned anew per call, which on partitioned event
-- tables (migration 0014) costs more than the read and grows with every
-- partition; the generic plan prunes them at run time (docs/benchmarks.md,
-- "Session 9"). Not for the filtered reads: with their optional filters
-- ("$n = '' OR ...") unknown, the generic plan on a partitioned table
-- expects one row and sorts the whole id range for one page.
SELECT set_config('plan_cache_mode', 'force_generic_plan', true);

-- name: watch.file_horizon
-- One snapshot: whether the pending fence ($1, NULL for none) is passed
-- (every transaction older than it has ended), the largest visible id
-- after the settled horizon ($2; 0 when none), and the visible ids after
-- $2, at most $3. At least one row; id is NULL when there are none. The
-- largest id only matters above $2, so partitions below it are pruned.
WITH s AS (
  SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8, false)
           AS fence_passed,
         (SELECT coalesce(max(id), 0) FROM file_events WHERE id > $2)
           AS last_id
)
SELECT s.fence_passed, s.last_id, e.id
FROM s LEFT JOIN LATERAL (
  SELECT id FROM file_events WHERE id > $2 ORDER BY id LIMIT $3
) e ON true
ORDER BY e.id;

-- name: watch.run_horizon
-- watch.file_horizon for run_events.
WITH s AS (
  SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8, false)
           AS fence_passed,
         (SELECT coalesce(max(id), 0) FROM run_events WHERE id > $2)
           AS last_id
)
SELECT s.fence_passed, s.last_id, e.id
FROM s LEFT JOIN LATERAL (
  SELECT id FROM run_events WHERE id > $2 ORDER BY id LIMIT $3
) e ON true
ORDER BY e.id;

-- name: watch.take_fence
-- Gives this transaction its xid: taken after the horizon's snapshot, so it
-- is younger than every transaction that may hold an id that snapshot
-- missed.
SELECT pg_current_xact_id()::text AS fence;

-- name: watch.file_last_id
SELECT coalesce(max(id), 0) AS last_id FROM file_events;

-- name: watch.run_last_id
SELECT coalesce(max(id), 0) AS last_id FROM run_events;

-- name: watch.pruned_through
SELECT pruned_through FROM retention_state WHERE table_name = $1;

-- name: watch.file_events
-- The file events of a stream, with the file's source and name. The
-- selector's parameters (MapMatch, store/string_map_json.h) come last in
-- each twin.
SELECT x.*, f.source, f.file_name
FROM file_events e
JOIN files f ON f.id = e.file_id
CROSS JOIN LATERAL metad_file_event_row(e) x
WHERE e.id > $1 AND e.id <= $2
  AND ($3 = '' OR f.source = $3)
  AND ($4 = '' OR e.to_status = $4)
  AND ($6::jsonb IS NULL OR f.attributes @> $6::jsonb)
  AND ($7::text[] IS NULL OR f.attributes ?& $7::text[])
ORDER BY e.id
LIMIT $5;

-- name: watch.file_events_unfiltered
-- watch.file_events of a stream without filters, run with its generic plan
-- (watch.force_generic_plan).
SELECT x.*, f.source, f.file_name
FROM file_events e
JOIN files f ON f.id = e.file_id
CROSS JOIN LATERAL metad_file_event_row(e) x
WHERE e.id > $1 AND e.id <= $2
ORDER BY e.id
LIMIT $3;

-- name: watch.file_events_of_file
-- watch.file_events of one file ($6).
SELECT x.*, f.source, f.file_name
FROM file_events e
JOIN files f ON f.id = e.file_id
CROSS JOIN LATERAL metad_file_event_row(e) x
WHERE e.file_id = $6 AND e.id > $1 AND e.id <= $2
  AND ($3 = '' OR f.source = $3)
  AND ($4 = '' OR e.to_status = $4)
  AND ($7::jsonb IS NULL OR f.attributes @> $7::jsonb)
  AND ($8::text[] IS NULL OR f.attributes ?& $8::text[])
ORDER BY e.id
LIMIT $5;

-- name: watch.run_events
-- The run events of a stream, with the run's task and batch.
SELECT x.*, r.task_id, t.name AS task_name, r.batch_id
FROM run_events e
JOIN task_log r ON r.id = e.run_id
JOIN tasks t ON t.id = r.task_id
CROSS JOIN LATERAL metad_run_event_row(e) x
WHERE e.id > $1 AND e.id <= $2
  AND ($3 = '' OR r.batch_id = $3)
  AND ($4 = '' OR t.name = $4)
  AND ($5 = '' OR e.to_status = $5)
  AND ($7::jsonb IS NULL OR r.labels @> $7::jsonb)
  AND ($8::text[] IS NULL OR r.labels ?& $8::text[])
ORDER BY e.id
LIMIT $6;

-- name: watch.run_events_unfiltered
-- watch.run_events of a stream without filters, run with its generic plan
-- (watch.force_generic_plan).
SELECT x.*, r.task_id, t.name AS task_name, r.batch_id
FROM run_events e
JOIN task_log r ON r.id = e.run_id
JOIN tasks t ON t.id = r.task_id
CROSS JOIN LATERAL metad_run_event_row(e) x
WHERE e.id > $1 AND e.id <= $2
ORDER BY e.id
LIMIT $3;

-- name: watch.run_events_of_run
-- watch.run_events of one run ($7).
SELECT x.*, r.task_id, t.name AS task_name, r.batch_id
FROM run_events e
JOIN task_log r ON r.id = e.run_id
JOIN tasks t ON t.id = r.task_id
CROSS JOIN LATERAL metad_run_event_row(e) x
WHERE e.run_id = $7 AND e.id > $1 AND e.id <= $2
  AND ($3 = '' OR r.batch_id = $3)
  AND ($4 = '' OR t.name = $4)
  AND ($5 = '' OR e.to_status = $5)
  AND ($8::jsonb IS NULL OR r.labels @> $8::jsonb)
  AND ($9::text[] IS NULL OR r.labels ?& $9::text[])
ORDER BY e.id
LIMIT $6;

-- name: watch.async_commit
-- The wake-up hint needs no durable commit.
SELECT set_config('synchronous_commit', 'off', true);

-- name: watch.notify
SELECT pg_notify($1, '');
