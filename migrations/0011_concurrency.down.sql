-- Back to 0010: no concurrency limits; metad_task_event as 0008 wrote it.
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
-- metad_task_row (whose columns name
-- them) is dropped too: the functions of 0010's release make it again.
DROP FUNCTION IF EXISTS metad_task_row(anyelement);
DROP FUNCTION IF EXISTS metad_full_tasks();
DROP FUNCTION IF EXISTS metad_concurrency_full(bigint, integer, text);
DROP FUNCTION IF EXISTS metad_slot_holders(bigint, text);
DROP FUNCTION IF EXISTS metad_concurrency_key(text, jsonb);
DROP FUNCTION IF EXISTS metad_concurrency_lock(bigint);
DROP INDEX task_log_slot_holders;
DROP INDEX tasks_concurrency_limited;
ALTER TABLE task_log DROP COLUMN concurrency_key;
ALTER TABLE tasks DROP COLUMN concurrency_key_label;
ALTER TABLE tasks DROP COLUMN concurrency_limit;
