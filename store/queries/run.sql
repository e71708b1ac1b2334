-- Runs: task_log and run_events (migrations/0001_init.up.sql), run by
-- store/run_store.cc. StartRun and FinishRun are server-side functions
-- (migrations/functions/50_runs.sql) answering a metad_run_result; every
-- other statement that returns runs reads them as metad_run_row
-- (migrations/functions/15_rows.sql), the same columns by the same names.

-- name: run.lock_task_batch
-- The (task, batch) advisory lock that serializes the transitions of a
-- task's runs in a batch (metad_start_run and metad_finish_run take it too).
SELECT pg_advisory_xact_lock(hashtextextended($2::text, $1::bigint));

-- name: run.lock_run
-- The same lock, found through a run; no row for an unknown run.
SELECT pg_advisory_xact_lock(hashtextextended(batch_id, task_id))
  FROM task_log
 WHERE id = $1;

-- name: run.expire
-- Ends a PROCESSING run whose lease lapsed, releases its files and writes
-- the events, in one statement. No row when the run is not (or no longer)
-- both. The caller holds the run's (task, batch) lock.
SELECT run_id, task_id, task_name, batch_id, files_released
  FROM metad_expire_run($1, $2);

-- name: run.state
-- Why Heartbeat's conditional update changed nothing.
SELECT task_id, batch_id, status, error_message, cancelled,
       metad_us(lease_expire_time) AS lease_expire_us,
       metad_lease_lapsed(lease_expire_time) AS lapsed
  FROM task_log
 WHERE id = $1;

-- name: run.start
SELECT * FROM metad_start_run($1, $2, $3, $4, $5, $6, $7::jsonb);

-- name: run.heartbeat
-- The happy path of Heartbeat is this one statement: no lock, no event.
-- The run comes back whole with its task's name, and is shaped outside the
-- UPDATE (joining tasks outside instead cost 4 us of the statement's 30,
-- measured).
WITH beat AS (
  UPDATE task_log r
     SET lease_expire_time = now() + coalesce(nullif($2::integer, 0),
                                              r.lease_seconds)
                                     * interval '1 second',
         heartbeat_time = now()
    FROM tasks t
   WHERE r.id = $1 AND t.id = r.task_id
     AND metad_run_live(r.status, r.lease_expire_time)
  RETURNING r AS run, t.name AS task_name
)
SELECT x.* FROM beat b CROSS JOIN LATERAL metad_run_row(b.run, b.task_name) x;

-- name: run.finish
SELECT * FROM metad_finish_run($1, $2, $3, $4, $5::bigint[], $6);

-- name: run.start_batch
-- Group commit (store/group_commit.h): the StartRun calls of a batch in one
-- statement, answered row by row in the order of the arrays.
SELECT * FROM metad_start_runs($1::text[], $2::text[], $3::text[],
                               $4::integer[], $5::text[], $6, $7::text[]);

-- name: run.finish_batch
-- Group commit of FinishRun calls, as run.start_batch.
SELECT * FROM metad_finish_runs($1::bigint[], $2::text[], $3::text[], $4,
                                $5::bigint[], $6::integer[],
                                $7::boolean[]);

-- name: run.get
SELECT x.*
  FROM task_log r
  JOIN tasks t ON t.id = r.task_id
  CROSS JOIN LATERAL metad_run_row(r, t.name) x
 WHERE r.id = $1;

-- name: run.force_custom_plan
-- The lists' optional filters ("$n = '' OR ...") only fold away in a plan
-- made for the given values; a cached generic plan would scan by id and
-- filter, whatever the filters. Sent before run.list and run.list_events.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: run.list
SELECT x.*
  FROM task_log r
  JOIN tasks t ON t.id = r.task_id
  CROSS JOIN LATERAL metad_run_row(r, t.name) x
 WHERE r.id > $1
   AND ($2::text = '' OR t.name = $2::text)
   AND ($3::text = '' OR r.batch_id = $3::text)
   AND ($4::text = '' OR r.status = $4::text)
   AND ($5::bigint IS NULL OR r.start_time >= metad_ts($5::bigint))
   AND ($6::bigint IS NULL OR r.start_time < metad_ts($6::bigint))
   -- The label selector (store/string_map_json.h, MapMatch): key=value
   -- terms served by task_log_label_pairs (partial: "<> '{}'" matches it),
   -- key terms by task_log_labels (migrations 0010, 0016).
   AND ($8::jsonb IS NULL OR (r.labels @> $8::jsonb
                             AND r.labels <> '{}'))
   AND ($9::text[] IS NULL OR r.labels ?& $9::text[])
 ORDER BY r.id
 LIMIT $7;

-- name: run.list_selected
-- run.list for a label selector with key=value terms, planned so that a
-- selective selector cannot be walked along task_log_pkey. The planner's
-- estimate of "labels @> ..." comes from a sample of whole label objects
-- and is often 10x off either way; under ORDER BY id LIMIT an
-- overestimate makes it walk the primary key and test every row (30 ms
-- for 0.1% of 1,000,000 runs; docs/benchmarks.md, session 9). This finds
-- the matches first, unordered (the GIN index, or a scan that stops early
-- when they are dense), at most $10 + 1 of them, then sorts them. `hits`
-- says how many it found: above $10 the page may be incomplete, and the
-- caller runs run.list instead (a dense selector, where the key walk is
-- what fits).
WITH hits AS MATERIALIZED (
  SELECT r.id
    FROM task_log r
   WHERE r.id > $1
     AND ($2::text = '' OR r.task_id = (SELECT id FROM tasks
                                         WHERE name = $2::text))
     AND ($3::text = '' OR r.batch_id = $3::text)
     AND ($4::text = '' OR r.status = $4::text)
     AND ($5::bigint IS NULL OR r.start_time >= metad_ts($5::bigint))
     AND ($6::bigint IS NULL OR r.start_time < metad_ts($6::bigint))
     AND r.labels @> $8::jsonb AND r.labels <> '{}'
     AND ($9::text[] IS NULL OR r.labels ?& $9::text[])
   LIMIT $10::int + 1
), page AS (
  SELECT id, count(*) OVER () AS hits FROM hits ORDER BY id LIMIT $7
)
SELECT x.*, p.hits
  FROM page p
  JOIN task_log r ON r.id = p.id
  JOIN tasks t ON t.id = r.task_id
  CROSS JOIN LATERAL metad_run_row(r, t.name) x
 ORDER BY r.id;

-- name: run.get_batch
-- One row per task with runs in the batch, from one snapshot. The task's
-- state is that of its runs that are not superseded (RerunTasks): its
-- latest such run and their count; NULL latest when all were superseded.
-- The per-status counts are of those runs too; the times are of all. The
-- deadline is metad_task_deadline's (migrations/functions/70_deadlines.sql);
-- late: it passed with no SUCCESS run ending by then.
SELECT a.task_id, t.name AS task_name, l.status, a.attempts,
       l.id AS latest_run_id, l.error_message AS latest_error_message,
       a.processing, a.success, a.error,
       metad_us(a.first_start) AS first_start_us,
       metad_us(a.last_end) AS last_end_us,
       metad_us(d.deadline) AS deadline_us,
       coalesce(d.deadline < now() AND NOT EXISTS (
         SELECT 1 FROM task_log s
          WHERE s.batch_id = $1 AND s.task_id = a.task_id
            AND s.status = 'SUCCESS' AND NOT s.superseded
            AND s.end_time <= d.deadline), false) AS late
  FROM (SELECT task_id, max(id) FILTER (WHERE NOT superseded) AS latest_id,
               count(*) FILTER (WHERE NOT superseded) AS attempts,
               count(*) FILTER (WHERE status = 'PROCESSING') AS processing,
               count(*) FILTER (WHERE status = 'SUCCESS' AND NOT superseded)
                 AS success,
               count(*) FILTER (WHERE status = 'ERROR' AND NOT superseded)
                 AS error,
               min(start_time) AS first_start, max(end_time) AS last_end
          FROM task_log
         WHERE batch_id = $1
         GROUP BY task_id) a
  LEFT JOIN task_log l ON l.id = a.latest_id
  JOIN tasks t ON t.id = a.task_id
  CROSS JOIN LATERAL (SELECT metad_task_deadline($1, t.name) AS deadline) d
 ORDER BY a.task_id;

-- name: run.list_events
SELECT x.*
  FROM run_events e
  CROSS JOIN LATERAL metad_run_event_row(e) x
 WHERE e.id > $1
   AND ($2::bigint = 0 OR e.run_id = $2::bigint)
   AND ($3::text = '' OR e.run_id IN (SELECT id FROM task_log
                                       WHERE batch_id = $3::text))
 ORDER BY e.id
 LIMIT $4;

-- name: run.find_lapsed
-- The lease reaper's scan (task_log_lease).
SELECT id
  FROM task_log
 WHERE status = 'PROCESSING' AND metad_lease_lapsed(lease_expire_time)
 ORDER BY lease_expire_time
 LIMIT $1;

-- name: run.cancel
-- CancelRun (migrations/functions/60_verbs.sql): the outcome; the run is
-- read after it with run.get.
SELECT outcome, files_released FROM metad_cancel_run($1, $2, $3);

-- name: run.rerun_tasks
-- RerunTasks (migrations/functions/60_verbs.sql): one row per reopened task,
-- or one run_in_progress row.
SELECT outcome, task_id, task_name, run_id, runs_superseded
  FROM metad_rerun_tasks($1, $2::bigint[], $3, $4, $5, $6);
