-- A version number for the task graph (tasks and their dependencies), so a
-- daemon can keep the graph in memory and know, in the same snapshot as the
-- runs it reads, whether its copy is still the graph of that snapshot.
-- GetReadyTasks then reads only the batch's runs instead of joining every
-- edge of the graph on every call (docs/benchmarks.md, Finding 6).
--
-- Row-level triggers: a statement that changes nothing (a re-registration
-- with the same settings, an edge that already exists) leaves the version
-- alone. Graph changes are rare and already serialize (edges on the graph
-- lock), so the one row is not a hot spot for the run and file RPCs, which
-- never write tasks or edges.
CREATE TABLE task_graph_version (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version  bigint  NOT NULL
);
INSERT INTO task_graph_version (version) VALUES (1);

CREATE FUNCTION metad_bump_task_graph_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE task_graph_version SET version = version + 1;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tasks_graph_version
  AFTER INSERT OR UPDATE OR DELETE ON tasks
  FOR EACH ROW EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER tasks_graph_version_truncate
  AFTER TRUNCATE ON tasks
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER task_dependencies_graph_version
  AFTER INSERT OR UPDATE OR DELETE ON task_dependencies
  FOR EACH ROW EXECUTE FUNCTION metad_bump_task_graph_version();
CREATE TRIGGER task_dependencies_graph_version_truncate
  AFTER TRUNCATE ON task_dependencies
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_task_graph_version();
