-- Back to 0007. Cancelled and superseded runs stay as plain ERROR/SUCCESS
-- rows; if a batch holds two SUCCESS runs of one task (a rerun), the unique
-- index cannot be made again and this migration fails: delete the
-- superseded runs first.
DROP TRIGGER task_dependencies_events ON task_dependencies;
DROP TRIGGER tasks_events ON tasks;
DROP FUNCTION metad_task_event();
DROP TABLE task_events;
CREATE UNIQUE INDEX task_log_one_success ON task_log (task_id, batch_id)
  WHERE status = 'SUCCESS';
DROP INDEX task_log_one_live_success;
ALTER TABLE task_log DROP COLUMN superseded;
ALTER TABLE task_log DROP COLUMN cancelled;
ALTER TABLE run_events DROP COLUMN actor;
ALTER TABLE file_events DROP COLUMN detail;
ALTER TABLE file_events DROP COLUMN actor;
DROP INDEX file_events_claims;
DROP TABLE run_outputs;
DROP INDEX files_producer;
ALTER TABLE files DROP COLUMN producer_run_id;
ALTER TABLE files DROP COLUMN version;
ALTER TABLE task_log DROP COLUMN finish_released;
ALTER TABLE task_log DROP COLUMN finish_files;
DROP TABLE claim_requests;
-- The functions written for this schema (migrations/functions/) whose
-- signatures 0006's down does not know; the next Up applies them again.
DROP FUNCTION IF EXISTS metad_finish_runs(bigint[], text[], text[], text,
                                          bigint[], integer[], boolean[]);
DROP FUNCTION IF EXISTS metad_finish_run(bigint, text, text, text, bigint[],
                                         boolean);
DROP FUNCTION IF EXISTS metad_unnamed_release_message();
-- Row shapes whose columns this schema changed (15_rows.sql): an older
-- binary's CREATE OR REPLACE cannot change a function's result columns, so
-- they go, and that binary makes its own.
DROP FUNCTION IF EXISTS metad_file_row(anyelement);
DROP FUNCTION IF EXISTS metad_file_event_row(anyelement);
DROP FUNCTION IF EXISTS metad_run_row(anyelement, text);
DROP FUNCTION IF EXISTS metad_run_event_row(anyelement);
DROP FUNCTION IF EXISTS metad_run_blocks_start(text, timestamptz, boolean);
DROP FUNCTION IF EXISTS metad_run_spent_attempt(text, timestamptz, boolean);
DROP FUNCTION IF EXISTS metad_cancel_run(bigint, text, text);
DROP FUNCTION IF EXISTS metad_rerun_tasks(text, bigint[], boolean, text, text,
                                          text);
ALTER TYPE metad_run_result DROP ATTRIBUTE superseded,
                            DROP ATTRIBUTE cancelled;
DROP FUNCTION IF EXISTS metad_event_actor(text, bigint);
DROP FUNCTION IF EXISTS metad_actor(text);
