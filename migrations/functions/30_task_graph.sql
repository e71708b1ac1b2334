-- Bumps task_graph_version once per statement that changed tasks or
-- task_dependencies (the triggers are in migration 0007, which says why).
CREATE OR REPLACE FUNCTION metad_bump_task_graph_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Two branches: a TRUNCATE trigger has no transition table to look at.
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE task_graph_version
    SET version = version + 1, token = gen_random_uuid();
  ELSIF EXISTS (SELECT 1 FROM changed) THEN
    UPDATE task_graph_version
    SET version = version + 1, token = gen_random_uuid();
  END IF;
  RETURN NULL;
END;
$$;
