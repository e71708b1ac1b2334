-- The status page's reads (store/status_page_store.cc), each request one
-- read-only transaction. Runs are read as metad_run_row
-- (migrations/functions/15_rows.sql); readiness is metad_batch_readiness,
-- the rule GetReadyTasks and StartRun apply
-- (migrations/functions/40_rules.sql).

-- name: status.read_only
-- The page only reads: say so, so that a bug can never write.
SET TRANSACTION READ ONLY;

-- name: status.counts
-- Files and runs by status, tasks and edges: one row per (kind, status).
SELECT 'file' AS kind, status, count(*) AS n FROM files GROUP BY status
UNION ALL
SELECT 'run', status, count(*) FROM task_log GROUP BY status
UNION ALL
SELECT 'tasks', '', count(*) FROM tasks
UNION ALL
SELECT 'dependencies', '', count(*) FROM task_dependencies;

-- name: status.now_and_oldest
SELECT metad_us(now()) AS now_us,
       coalesce(extract(epoch FROM now() - min(start_time)), 0)::float8
         AS oldest_processing_seconds
  FROM task_log WHERE status = 'PROCESSING';

-- name: status.batches
-- Candidates: batches with a PROCESSING run (a small partial index) and the
-- batches of the latest $2 runs; each is then summed over its own runs
-- (task_log_batch). The state of a task is that of its latest run that is
-- not superseded (none when RerunTasks superseded them all).
WITH candidates AS (
  SELECT batch_id FROM task_log WHERE status = 'PROCESSING'
  UNION
  SELECT batch_id FROM (SELECT batch_id FROM task_log
                         ORDER BY id DESC LIMIT $2) latest
)
SELECT c.batch_id, s.processing, s.success, s.error, s.runs,
       metad_us(s.first_start) AS first_start_us,
       metad_us(s.last_activity) AS last_activity_us
  FROM candidates c
  CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE x.status = 'PROCESSING') AS processing,
           count(*) FILTER (WHERE x.status = 'SUCCESS') AS success,
           count(*) FILTER (WHERE x.status = 'ERROR') AS error,
           sum(x.runs) AS runs,
           min(x.first_start) AS first_start,
           max(x.last_activity) AS last_activity
      FROM (SELECT l.task_id,
                   (array_agg(l.status ORDER BY l.id DESC)
                      FILTER (WHERE NOT l.superseded))[1] AS status,
                   count(*) AS runs,
                   min(l.start_time) AS first_start,
                   greatest(max(l.start_time), max(l.end_time))
                     AS last_activity
              FROM task_log l
             WHERE l.batch_id = c.batch_id
             GROUP BY l.task_id) x
  ) s
 ORDER BY s.processing > 0 DESC, s.last_activity DESC, c.batch_id
 LIMIT $1;

-- name: status.failed_runs
-- The latest runs that failed, among the latest $2 run events.
SELECT l.id AS run_id, t.name AS task_name, l.batch_id, l.attempt,
       l.worker_id, l.error_message,
       metad_us(coalesce(l.end_time, e.event_time)) AS end_us
  FROM (SELECT id, run_id, event_time, to_status FROM run_events
         ORDER BY id DESC LIMIT $2) e
  JOIN task_log l ON l.id = e.run_id
  JOIN tasks t ON t.id = l.task_id
 WHERE e.to_status = 'ERROR'
 ORDER BY e.id DESC
 LIMIT $1;

-- name: status.failed_files
-- The latest files that failed, among the latest $2 file events.
SELECT f.id AS file_id, f.source, f.file_name,
       coalesce(e.run_id, 0) AS run_id, e.message,
       metad_us(e.event_time) AS event_us
  FROM (SELECT id, file_id, run_id, message, event_time, to_status
          FROM file_events ORDER BY id DESC LIMIT $2) e
  JOIN files f ON f.id = e.file_id
 WHERE e.to_status = 'ERROR'
 ORDER BY e.id DESC
 LIMIT $1;

-- name: status.file_links
-- The runs linked to files $1 (the failed files shown): the run that
-- produced each (files.producer_run_id) and the first $2 runs that claimed
-- it (its consumers), with their task and batch; producer first.
SELECT x.file_id, x.role, l.id AS run_id, t.name AS task_name, l.batch_id
  FROM (SELECT f.id AS file_id, 'producer' AS role, f.producer_run_id AS run_id
          FROM files f
         WHERE f.id = ANY ($1::bigint[]) AND f.producer_run_id IS NOT NULL
        UNION ALL
        SELECT u.id, 'consumer', c.run_id
          FROM unnest($1::bigint[]) AS u(id)
          CROSS JOIN LATERAL (SELECT DISTINCT e.run_id FROM file_events e
                               WHERE e.file_id = u.id AND e.kind = 'CLAIMED'
                               ORDER BY e.run_id LIMIT $2) c) x
  JOIN task_log l ON l.id = x.run_id
  JOIN tasks t ON t.id = l.task_id
 ORDER BY x.file_id, x.role DESC, l.id;

-- name: status.batch_tasks
-- Every task (up to $2) with its runs in batch $1: the latest run, the
-- attempts, and readiness.
SELECT t.id, t.name, t.description, t.max_attempts,
       r.attempts, r.latest_run_id, r.ready
  FROM (SELECT * FROM tasks ORDER BY id LIMIT $2) t
  JOIN metad_batch_readiness($1) r ON r.task_id = t.id
 ORDER BY t.id;

-- name: status.task_count
SELECT count(*) AS tasks FROM tasks;

-- name: status.batch_edges
-- The edges among the tasks status.batch_tasks shows.
SELECT d.parent_id, d.child_id
  FROM task_dependencies d
 WHERE d.parent_id IN (SELECT id FROM tasks ORDER BY id LIMIT $1)
   AND d.child_id IN (SELECT id FROM tasks ORDER BY id LIMIT $1)
 ORDER BY d.parent_id, d.child_id;

-- name: status.batch_runs
-- The latest $2 runs of batch $1. The page names tasks from its task list,
-- so the runs come without their task's name.
SELECT x.*
  FROM task_log l CROSS JOIN LATERAL metad_run_row(l, NULL) x
 WHERE l.batch_id = $1
 ORDER BY l.id DESC
 LIMIT $2;

-- name: status.runs_by_ids
-- Latest runs of tasks older than the batch's run window.
SELECT x.*
  FROM task_log l CROSS JOIN LATERAL metad_run_row(l, NULL) x
 WHERE l.id = ANY($1::bigint[]);

-- name: status.alerts
-- The latest missed deadlines and stale sources (migration 0012).
SELECT x.* FROM alerts a CROSS JOIN LATERAL metad_alert_row(a) x
 ORDER BY a.id DESC
 LIMIT $1;
