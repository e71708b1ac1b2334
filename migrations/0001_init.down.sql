DROP TABLE run_events;
DROP TABLE file_events;
DROP TABLE files;
DROP TABLE task_log;
DROP TABLE task_dependencies;
DROP TABLE tasks;
DROP FUNCTION metad_ts(bigint);
DROP FUNCTION metad_us(timestamptz);
