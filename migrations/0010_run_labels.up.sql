-- Run labels (issue 15, "Labels and search"): a string map set at StartRun
-- (StartRunRequest.labels), returned with every read of the run. A constant
-- default: no table rewrite. The functions that write and read it are in
-- migrations/functions/ (metad_start_run's labelled form, metad_run_row,
-- metad_run_answer).
-- metad: expand-only
ALTER TABLE task_log ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(labels) = 'object');
-- StartRun's and FinishRun's answers carry the labels (last: after the
-- flags of migration 0008; metad_run_answer fills it).
ALTER TYPE metad_run_result ADD ATTRIBUTE labels jsonb;
-- The run row shape gains a column (CREATE OR REPLACE cannot change the
-- result columns; migrations/functions/ makes it again right after).
DROP FUNCTION IF EXISTS metad_run_row(anyelement, text);
-- Label and attribute selectors (ListRuns, ListFiles, the watch streams):
-- key=value terms are jsonb containment (@>), "key" terms key existence
-- (?&). The default jsonb_ops GIN class serves both (jsonb_path_ops would
-- serve only @>); README.md, "Labels and search", shows the plans.
-- A plain CREATE INDEX (migrations run in one transaction): on a large
-- files table, create files_attributes CONCURRENTLY by hand first; IF NOT
-- EXISTS then skips it here.
CREATE INDEX IF NOT EXISTS task_log_labels ON task_log USING gin (labels);
CREATE INDEX IF NOT EXISTS files_attributes ON files USING gin (attributes);
