-- Back to 0006: GetReadyTasks reads the graph from the tables on every call.
DROP TRIGGER task_dependencies_graph_truncated ON task_dependencies;
DROP TRIGGER task_dependencies_graph_deleted ON task_dependencies;
DROP TRIGGER task_dependencies_graph_updated ON task_dependencies;
DROP TRIGGER task_dependencies_graph_inserted ON task_dependencies;
DROP TRIGGER tasks_graph_truncated ON tasks;
DROP TRIGGER tasks_graph_deleted ON tasks;
DROP TRIGGER tasks_graph_updated ON tasks;
DROP TRIGGER tasks_graph_inserted ON tasks;
DROP FUNCTION metad_bump_task_graph_version();
DROP TABLE task_graph_version;
