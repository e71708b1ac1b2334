-- Concurrency limits held on leases (issue 15). A task may cap how many of
-- its runs are live at once (metad_run_live: PROCESSING, lease not lapsed),
-- over all batches: globally (concurrency_key_label empty), or per value of
-- one run label (concurrency_key_label names it). 0: no limit. The slot is
-- the run's lease itself, so there is nothing to release or orphan: a run
-- that ends, is cancelled or whose lease lapses stops counting at once.
-- metad_start_run (migrations/functions/50_runs.sql) checks the limit.
-- metad: expand-only
ALTER TABLE tasks ADD COLUMN concurrency_limit integer NOT NULL DEFAULT 0
  CHECK (concurrency_limit >= 0);
ALTER TABLE tasks ADD COLUMN concurrency_key_label text NOT NULL DEFAULT '';

-- The key a run took its slot under: '' for a task's global limit, the
-- value of the task's key label otherwise; NULL when its task had no limit
-- when it started (it holds no slot, and never will).
ALTER TABLE task_log ADD COLUMN concurrency_key text;

-- The holders of one task's slots: its live runs, found without a scan of
-- the task's runs (a small partial index: PROCESSING runs only).
CREATE INDEX task_log_slot_holders ON task_log (task_id, concurrency_key)
  WHERE status = 'PROCESSING';
-- The tasks with a global limit, which every GetReadyTasks looks at (its
-- answer cache must see slots taken in other batches): few, so a small index.
CREATE INDEX tasks_concurrency_limited ON tasks (id)
  WHERE concurrency_limit > 0 AND concurrency_key_label = '';

-- Changes of the limit are task events (UPDATED), as the other settings'
-- (metad_task_event of migration 0008, with the two settings added).
CREATE OR REPLACE FUNCTION metad_task_event() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_detail text;
BEGIN
  IF TG_TABLE_NAME = 'tasks' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO task_events (task, kind) VALUES (NEW.name, 'REGISTERED');
    ELSIF TG_OP = 'DELETE' THEN
      INSERT INTO task_events (task, kind) VALUES (OLD.name, 'DELETED');
    ELSE
      v_detail := concat_ws('; ',
        CASE WHEN NEW.max_attempts <> OLD.max_attempts THEN
          format('max_attempts %s -> %s', OLD.max_attempts, NEW.max_attempts)
        END,
        CASE WHEN NEW.default_lease_seconds <> OLD.default_lease_seconds THEN
          format('default_lease_seconds %s -> %s', OLD.default_lease_seconds,
                 NEW.default_lease_seconds)
        END,
        CASE WHEN NEW.description <> OLD.description THEN
          'description changed'
        END,
        CASE WHEN NEW.concurrency_limit <> OLD.concurrency_limit THEN
          format('concurrency_limit %s -> %s', OLD.concurrency_limit,
                 NEW.concurrency_limit)
        END,
        CASE WHEN NEW.concurrency_key_label <> OLD.concurrency_key_label THEN
          format('concurrency_key_label "%s" -> "%s"',
                 OLD.concurrency_key_label, NEW.concurrency_key_label)
        END);
      IF v_detail <> '' THEN
        INSERT INTO task_events (task, kind, detail)
        VALUES (NEW.name, 'UPDATED', v_detail);
      END IF;
    END IF;
    RETURN NULL;
  END IF;
  -- task_dependencies: the child's event, naming the parent.
  IF TG_OP = 'INSERT' THEN
    INSERT INTO task_events (task, kind, detail)
    SELECT c.name, 'DEPENDENCY_ADDED', 'parent ' || p.name
      FROM tasks c, tasks p
     WHERE c.id = NEW.child_id AND p.id = NEW.parent_id;
  ELSE
    INSERT INTO task_events (task, kind, detail)
    SELECT c.name, 'DEPENDENCY_REMOVED', 'parent ' || p.name
      FROM tasks c, tasks p
     WHERE c.id = OLD.child_id AND p.id = OLD.parent_id;
  END IF;
  RETURN NULL;
END
$$;
