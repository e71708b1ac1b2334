-- Deadlines and freshness (migration 0012): when a task is due in a batch,
-- and the checks that record DEADLINE_MISSED and STALE alerts. Every daemon
-- runs the checks (daemon/background/deadline_checker.cc); the unique
-- indexes of alerts make each alert happen once however many run at once.

-- When `p_task` is due in `p_batch_id`: its SetBatchDeadline deadline, else
-- the batch's first run's start plus the task's expected_duration; NULL
-- when neither applies. (The checker applies the same rule in bulk.)
CREATE OR REPLACE FUNCTION metad_task_deadline(p_batch_id text, p_task text)
  RETURNS timestamptz
  LANGUAGE sql STABLE
  AS $$
  SELECT coalesce(
    (SELECT b.deadline FROM batch_deadlines b
      WHERE b.batch_id = p_batch_id AND b.task = p_task),
    (SELECT min(l.start_time) FROM task_log l WHERE l.batch_id = p_batch_id)
      + (SELECT t.expected_duration FROM tasks t WHERE t.name = p_task))
$$;

-- An alert (metad.v1.Alert).
CREATE OR REPLACE FUNCTION metad_alert_row(a alerts)
  RETURNS TABLE (id bigint, kind text, batch_id text, task text, source text,
                 due_us bigint, message text, event_us bigint)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT a.id, a.kind, coalesce(a.batch_id, ''), coalesce(a.task, ''),
         coalesce(a.source, ''), metad_us(a.due_time), a.message,
         metad_us(a.event_time)
$$;

-- Records DEADLINE_MISSED for every (batch, task) whose deadline is in
-- (p_now - p_lookback, p_now] and that had no SUCCESS run (not superseded)
-- ending by then: while its run is still PROCESSING, when it never started,
-- or when it succeeded too late. A task's expected_duration applies in a
-- batch where the task or one of its parent tasks has a run; a
-- SetBatchDeadline deadline applies whatever ran. Returns the alerts this
-- call inserted; those another checker inserted first are skipped (ON
-- CONFLICT DO NOTHING), so each is recorded, and counted, once.
CREATE OR REPLACE FUNCTION metad_record_missed_deadlines(p_now timestamptz,
                                                         p_lookback interval)
  RETURNS SETOF alerts
  LANGUAGE sql VOLATILE
  AS $$
  WITH recent AS (
    -- Batches whose first run may make a deadline fall in the window; none
    -- to look for (no scan of the window's runs, every check of every
    -- daemon) while no task has an expected_duration.
    SELECT DISTINCT l.batch_id FROM task_log l
     WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.expected_duration IS NOT NULL)
       AND l.start_time > p_now - p_lookback
             - (SELECT coalesce(max(t.expected_duration), interval '0')
                  FROM tasks t)
       AND l.start_time <= p_now
  ), firsts AS (
    SELECT r.batch_id,
           (SELECT min(l.start_time) FROM task_log l
             WHERE l.batch_id = r.batch_id) AS first_start
      FROM recent r
  ), candidates AS (
    SELECT f.batch_id, t.name AS task, f.first_start + t.expected_duration AS due
      FROM firsts f JOIN tasks t ON t.expected_duration IS NOT NULL
     WHERE f.first_start + t.expected_duration <= p_now
       AND f.first_start + t.expected_duration > p_now - p_lookback
       AND EXISTS (SELECT 1 FROM task_log l
                    WHERE l.batch_id = f.batch_id
                      AND (l.task_id = t.id
                           OR l.task_id IN (SELECT d.parent_id
                                              FROM task_dependencies d
                                             WHERE d.child_id = t.id)))
       AND NOT EXISTS (SELECT 1 FROM batch_deadlines b
                        WHERE b.batch_id = f.batch_id AND b.task = t.name)
    UNION ALL
    SELECT b.batch_id, b.task, b.deadline FROM batch_deadlines b
     WHERE b.deadline <= p_now AND b.deadline > p_now - p_lookback
  ), missed AS (
    SELECT c.*, s.status, s.run_id
      FROM candidates c
      LEFT JOIN LATERAL (
        SELECT l.status, l.id AS run_id, l.end_time
          FROM task_log l JOIN tasks t ON t.id = l.task_id
         WHERE l.batch_id = c.batch_id AND t.name = c.task
           AND NOT l.superseded
         ORDER BY l.id DESC LIMIT 1) s ON true
     WHERE NOT EXISTS (
       SELECT 1 FROM task_log l JOIN tasks t ON t.id = l.task_id
        WHERE l.batch_id = c.batch_id AND t.name = c.task
          AND l.status = 'SUCCESS' AND NOT l.superseded AND l.end_time <= c.due)
  )
  INSERT INTO alerts (kind, batch_id, task, due_time, message, event_time)
  SELECT 'DEADLINE_MISSED', m.batch_id, m.task, m.due,
         CASE WHEN m.run_id IS NULL THEN 'no run by the deadline'
              ELSE format('run %s was %s at the check', m.run_id, m.status)
         END,
         p_now
    FROM missed m
  ON CONFLICT DO NOTHING
  RETURNING *
$$;

-- Records STALE for every source whose latest file (or, with none, the
-- declaration) is older than its max_age at p_now. The due time is that
-- file's create_time plus max_age, so one gap is recorded once, and a new
-- file re-arms the check (the next gap has a later due time).
CREATE OR REPLACE FUNCTION metad_record_stale_sources(p_now timestamptz)
  RETURNS SETOF alerts
  LANGUAGE sql VOLATILE
  AS $$
  INSERT INTO alerts (kind, source, due_time, message, event_time)
  SELECT 'STALE', s.source, x.last_time + s.max_age,
         format('no new file since %s (expected every %s)', x.last_time,
                s.max_age),
         p_now
    FROM source_freshness s
    CROSS JOIN LATERAL (
      SELECT greatest(s.declared_time,
                      (SELECT max(f.create_time) FROM files f
                        WHERE f.source = s.source)) AS last_time) x
   WHERE x.last_time + s.max_age <= p_now
  ON CONFLICT DO NOTHING
  RETURNING *
$$;
