-- Back to 0009: GetReadyTasks reads the batch's runs on every call.
DROP TRIGGER task_log_batch_truncated ON task_log;
DROP TRIGGER task_log_batch_deleted ON task_log;
DROP TRIGGER task_log_batch_updated ON task_log;
DROP TRIGGER task_log_batch_inserted ON task_log;
DROP FUNCTION metad_bump_batch_run_version();
DROP TABLE batch_run_version;
