-- Back to 0009: runs lose their labels. The functions written for this
-- schema whose signatures or result columns the older release does not
-- know go; its next start makes its own (as 0008's down does).
DROP FUNCTION IF EXISTS metad_start_runs(text[], text[], text[], integer[],
                                         text[], text, text[]);
DROP FUNCTION IF EXISTS metad_start_run(text, text, text, integer, text, text,
                                        jsonb);
DROP FUNCTION IF EXISTS metad_run_row(anyelement, text);
ALTER TYPE metad_run_result DROP ATTRIBUTE labels;
ALTER TABLE task_log DROP COLUMN labels;
