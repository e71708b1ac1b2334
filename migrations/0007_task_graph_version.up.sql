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
--
-- `token` changes with every bump: a daemon compares version and token, so
-- a database that went back in time (a restore, a failover that lost
-- commits, this table dropped and made again) cannot match a graph it holds
-- by the count alone. Writes that skip triggers (session_replication_role =
-- replica, a restore with triggers disabled) must bump it themselves, or
-- restart the daemons.
CREATE TABLE task_graph_version (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version  bigint  NOT NULL,
  token    uuid    NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO task_graph_version (version) VALUES (1);

CREATE FUNCTION metad_bump_task_graph_version() RETURNS trigger
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
