-- Deadlines, freshness and alerts (migration 0012), run by
-- store/deadline_store.cc. The rules live in
-- migrations/functions/70_deadlines.sql.

-- name: deadline.task_exists
SELECT EXISTS (SELECT 1 FROM tasks WHERE name = $1) AS found;

-- name: deadline.set_batch
INSERT INTO batch_deadlines (batch_id, task, deadline)
VALUES ($1, $2, metad_ts($3::bigint))
ON CONFLICT (batch_id, task) DO UPDATE
  SET deadline = EXCLUDED.deadline, update_time = now()
  WHERE batch_deadlines.deadline <> EXCLUDED.deadline;

-- name: deadline.clear_batch
DELETE FROM batch_deadlines WHERE batch_id = $1 AND task = $2;

-- name: deadline.in_force
SELECT metad_us(metad_task_deadline($1, $2)) AS deadline_us;

-- name: deadline.set_freshness
-- The same max_age again changes nothing; a new one counts from now (or
-- the latest file, if later).
INSERT INTO source_freshness (source, max_age)
VALUES ($1, $2::bigint * interval '1 microsecond')
ON CONFLICT (source) DO UPDATE
  SET max_age = EXCLUDED.max_age, declared_time = now()
  WHERE source_freshness.max_age <> EXCLUDED.max_age;

-- name: deadline.clear_freshness
DELETE FROM source_freshness WHERE source = $1;

-- name: deadline.get_freshness
SELECT (extract(epoch FROM s.max_age) * 1000000)::bigint AS max_age_us,
       metad_us(x.last_file) AS last_file_us,
       greatest(s.declared_time, x.last_file) + s.max_age <= now() AS stale
  FROM source_freshness s
  CROSS JOIN LATERAL (SELECT max(f.create_time) AS last_file FROM files f
                       WHERE f.source = s.source) x
 WHERE s.source = $1;

-- name: deadline.yield_to_locks
-- The checker's transaction waits at most 200 ms for a lock (an operator's
-- LOCK TABLE, a long DDL): the check is redone every interval, and a pool
-- connection is not held behind someone else's lock meanwhile.
SELECT set_config('lock_timeout', '200ms', true);

-- name: deadline.record_missed
-- Each checker's inserts only: another daemon's are skipped (ON CONFLICT).
SELECT x.kind FROM metad_record_missed_deadlines(now(), $1::bigint * interval '1 second') a
  CROSS JOIN LATERAL metad_alert_row(a) x;

-- name: deadline.record_stale
SELECT x.kind FROM metad_record_stale_sources(now()) a
  CROSS JOIN LATERAL metad_alert_row(a) x;

-- name: deadline.list_alerts
SELECT x.* FROM alerts a CROSS JOIN LATERAL metad_alert_row(a) x
 WHERE a.id > $1 AND ($2::text = '' OR a.kind = $2::text)
 ORDER BY a.id
 LIMIT $3;

-- name: deadline.count_alerts
-- The status page: alerts by kind, and those of the last day.
SELECT kind, count(*) AS total,
       count(*) FILTER (WHERE event_time > now() - interval '1 day') AS last_day
  FROM alerts GROUP BY kind;
