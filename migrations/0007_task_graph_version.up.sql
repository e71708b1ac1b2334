-- A version number for the task graph (tasks and their dependencies), so a
-- daemon can keep the graph in memory and know, in the same snapshot as the
-- runs it reads, whether its copy is still the graph of that snapshot.
-- GetReadyTasks then reads only the batch's runs instead of joining every
-- edge of the graph on every call (docs/benchmarks.md, Finding 6).
--
-- Statement triggers with transition tables: one bump per statement that
-- changed rows, however many (a bulk import is one bump), and none for a
-- statement that changed nothing (a re-registration with the same
-- settings). Graph changes are rare and edge changes already serialize on
-- the graph lock, so the one row is no hot spot; the run and file RPCs never
-- write tasks or edges.
CREATE TABLE task_graph_version (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version  bigint  NOT NULL
);
-- Starts at the clock in microseconds: a table dropped and created again
-- (migrate down, then up) starts above any version a running daemon holds.
INSERT INTO task_graph_version (version)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);

CREATE FUNCTION metad_bump_task_graph_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Two branches: a TRUNCATE trigger has no transition table to look at.
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE task_graph_version SET version = version + 1;
  ELSIF EXISTS (SELECT 1 FROM changed) THEN
    UPDATE task_graph_version SET version = version + 1;
  END IF;
  RETURN NULL;
END;
$$;

-- A trigger with a transition table takes one event, hence four per table.
CREATE TRIGGER tasks_graph_inserted AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER tasks_graph_updated AFTER UPDATE ON tasks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER tasks_graph_deleted AFTER DELETE ON tasks
  REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER tasks_graph_truncated AFTER TRUNCATE ON tasks
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();

CREATE TRIGGER task_dependencies_graph_inserted AFTER INSERT
  ON task_dependencies REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER task_dependencies_graph_updated AFTER UPDATE
  ON task_dependencies REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER task_dependencies_graph_deleted AFTER DELETE
  ON task_dependencies REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER task_dependencies_graph_truncated AFTER TRUNCATE
  ON task_dependencies
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
