-- Back to 0010: no concurrency limits. metad_task_row (whose columns name
-- them) is dropped too: the functions of 0010's release make it again.
DROP FUNCTION IF EXISTS metad_task_row(anyelement);
DROP FUNCTION IF EXISTS metad_concurrency_full(bigint, integer, text);
DROP FUNCTION IF EXISTS metad_slot_holders(bigint, text);
DROP FUNCTION IF EXISTS metad_concurrency_key(text, jsonb);
DROP FUNCTION IF EXISTS metad_concurrency_lock(bigint);
DROP INDEX task_log_slot_holders;
ALTER TABLE task_log DROP COLUMN concurrency_key;
ALTER TABLE tasks DROP COLUMN concurrency_key_label;
ALTER TABLE tasks DROP COLUMN concurrency_limit;
