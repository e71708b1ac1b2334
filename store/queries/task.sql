-- The task registry: tasks (migrations/0001_init.up.sql), run by
-- store/task_store.cc. Tasks are read as metad_task_row
-- (migrations/functions/15_rows.sql), here and in dependency.sql.

-- name: task.resolve
-- Task names to ids, for the other stores (ResolveTaskIds).
SELECT t.id, t.name FROM tasks t WHERE t.name = ANY($1::text[]);

-- name: task.resolve_key_share
-- The same, locking the rows FOR KEY SHARE: a concurrent DeleteTask waits
-- for the caller's commit (or the caller sees the task gone).
SELECT t.id, t.name FROM tasks t WHERE t.name = ANY($1::text[])
FOR KEY SHARE;

-- name: task.register
-- On conflict, 0 keeps the stored setting ($7, expected_duration in
-- microseconds: 0 keeps it, and means none on creation); the row is written only when
-- something changes, so the usual re-registration at worker start costs no
-- update (the row is still locked, and read back by task.get_by_name). The
-- row comes back whole (`t AS task`) beside `created`, and is shaped
-- outside the INSERT.
WITH upserted AS (
  INSERT INTO tasks AS t (name, description, max_attempts,
                          default_lease_seconds, expected_duration)
  VALUES ($1, $2, COALESCE(NULLIF($3::integer, 0), $5::integer),
          COALESCE(NULLIF($4::integer, 0), $6::integer),
          NULLIF($7::bigint, 0) * interval '1 microsecond')
  ON CONFLICT (name) DO UPDATE SET
    description = EXCLUDED.description,
    max_attempts = COALESCE(NULLIF($3::integer, 0), t.max_attempts),
    default_lease_seconds = COALESCE(NULLIF($4::integer, 0),
                                     t.default_lease_seconds),
    expected_duration = COALESCE(EXCLUDED.expected_duration,
                                 t.expected_duration),
    update_time = now()
  WHERE t.description <> EXCLUDED.description
     OR ($3::integer <> 0 AND t.max_attempts <> $3::integer)
     OR ($4::integer <> 0 AND t.default_lease_seconds <> $4::integer)
     OR (EXCLUDED.expected_duration IS NOT NULL
         AND t.expected_duration IS DISTINCT FROM EXCLUDED.expected_duration)
  RETURNING t AS task, (t.xmax = 0) AS created
)
SELECT x.*, u.created
  FROM upserted u CROSS JOIN LATERAL metad_task_row(u.task) x;

-- name: task.update
-- UpdateTask, after task.lock_by_name and the etag check: the new values
-- (the stored ones for fields not in the mask). Run only when something
-- differs; the tasks_version trigger bumps the version (the etag), and
-- tasks_events records what changed.
WITH updated AS (
  UPDATE tasks AS t
  SET description = $2, max_attempts = $3, default_lease_seconds = $4,
      concurrency_limit = $5, concurrency_key_label = $6,
      expected_duration = NULLIF($7::bigint, 0) * interval '1 microsecond',
      update_time = now()
  WHERE t.id = $1
  RETURNING t.*
)
SELECT x.* FROM updated u CROSS JOIN LATERAL metad_task_row(u::tasks) x;

-- name: task.get_by_name
SELECT x.* FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.name = $1;

-- name: task.get_by_id
SELECT x.* FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.id = $1;

-- name: task.list
-- starts_with takes the prefix literally (LIKE would treat % and _ as
-- wildcards); the scan follows the primary key for keyset pagination.
SELECT x.*
FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.id > $1 AND starts_with(t.name, $2)
ORDER BY t.id
LIMIT $3;

-- name: task.lock_by_id
-- DeleteTask locks the task first, so a run or an edge added concurrently
-- either is seen by task.usage or fails on its foreign key.
SELECT x.* FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.id = $1
FOR UPDATE OF t;

-- name: task.lock_by_name
SELECT x.* FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.name = $1
FOR UPDATE OF t;

-- name: task.usage
-- Runs only need an existence check (a task may have millions); edges are
-- counted for the message.
SELECT EXISTS (SELECT 1 FROM task_log WHERE task_id = $1) AS has_runs,
       (SELECT count(*) FROM task_dependencies WHERE child_id = $1) AS parents,
       (SELECT count(*) FROM task_dependencies WHERE parent_id = $1) AS children;

-- name: task.delete
DELETE FROM tasks WHERE id = $1;

-- name: task.events_all
-- ListTaskEvents of every task (task_events: migration 0008; written by its
-- triggers on tasks and task_dependencies, and by RerunTasks).
SELECT id, task, kind, detail, batch_id, actor,
       metad_us(event_time) AS event_us
FROM task_events
WHERE id > $1
ORDER BY id LIMIT $2;

-- name: task.events_of_task
-- ListTaskEvents of one task (task_events_task index).
SELECT id, task, kind, detail, batch_id, actor,
       metad_us(event_time) AS event_us
FROM task_events
WHERE task = $1 AND id > $2
ORDER BY id LIMIT $3;
