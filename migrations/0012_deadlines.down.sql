-- Back to 0011: deadlines, freshness and their alerts are forgotten.
-- metad_task_row (whose columns name expected_duration) is dropped too: the
-- functions of the older release make it again.
DROP FUNCTION IF EXISTS metad_record_missed_deadlines(timestamptz, interval);
DROP FUNCTION IF EXISTS metad_record_stale_sources(timestamptz);
DROP FUNCTION IF EXISTS metad_task_deadline(text, text);
DROP FUNCTION IF EXISTS metad_alert_row(alerts);
DROP FUNCTION IF EXISTS metad_task_row(anyelement);
DROP INDEX files_source_create;
DROP INDEX task_log_start;
DROP TABLE alerts;
DROP TABLE source_freshness;
DROP TABLE batch_deadlines;
ALTER TABLE tasks DROP COLUMN expected_duration;
