-- Back to 0008: no task versions. metad_task_row (whose columns name the
-- version) is dropped too: the functions of 0008's release make it again.
DROP TRIGGER tasks_version ON tasks;
DROP FUNCTION metad_task_version_bump();
DROP FUNCTION IF EXISTS metad_task_row(anyelement);
ALTER TABLE tasks DROP COLUMN version;
