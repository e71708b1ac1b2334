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
