-- The state gauges of /metrics (store/state_count_store.cc).

-- name: stats.files_by_status
SELECT status, count(*) AS n FROM files GROUP BY status;

-- name: stats.runs_by_status
SELECT status, count(*) AS n FROM task_log GROUP BY status;

-- name: stats.oldest_processing
SELECT coalesce(extract(epoch FROM now() - min(start_time)), 0)::float8
         AS seconds
FROM task_log WHERE status = 'PROCESSING';
