-- Task etags (UpdateTask, AIP-154): a per-row version, one more for every
-- UPDATE that changes the row, whoever makes it (RegisterTask, UpdateTask,
-- an operator's SQL, or the previous release in the rollback window): a
-- BEFORE UPDATE trigger bumps it, so no writer can forget. An UPDATE that
-- leaves every column as it was keeps the version. Existing rows start at 1
-- (a constant default: no table rewrite). The etag is the task's id and
-- this version (metad_task_row, migrations/functions/15_rows.sql).
-- metad: expand-only
ALTER TABLE tasks ADD COLUMN version bigint NOT NULL DEFAULT 1
  CHECK (version >= 1);

CREATE FUNCTION metad_task_version_bump() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  -- Compared without the version itself, so a statement that sets only the
  -- version still counts one change from the stored one.
  NEW.version := OLD.version;
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.version := OLD.version + 1;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER tasks_version BEFORE UPDATE ON tasks
  FOR EACH ROW EXECUTE FUNCTION metad_task_version_bump();
