-- Back to 0006: GetReadyTasks reads the graph from the tables on every call.
DROP TRIGGER task_dependencies_graph_version_truncate ON task_dependencies;
DROP TRIGGER task_dependencies_graph_version ON task_dependencies;
DROP TRIGGER tasks_graph_version_truncate ON tasks;
DROP TRIGGER tasks_graph_version ON tasks;
DROP FUNCTION metad_bump_task_graph_version();
DROP TABLE task_graph_version;
