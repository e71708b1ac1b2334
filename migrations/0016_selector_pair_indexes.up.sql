-- Selectors with a common value (issue 16, label-list scenario): a
-- key=value term is served by jsonb_ops (0010's task_log_labels,
-- files_attributes) from the key's and the value's posting lists apart, so
-- "team=t7,level=3" over 1,000,000 runs reads every row's "team" and
-- "level" entries and 10% of rows' "3": ~500 index buffers, 9-25 ms. A
-- jsonb_path_ops index hashes key and value into one entry: the same term
-- reads "team=t7" (1%) and "level=3" (10%) only, 38 buffers, 0.6 ms
-- (docs/benchmarks.md, Session 9). The planner takes it for @> terms by
-- its lower cost; jsonb_ops stays for "key" terms (?&), which path_ops
-- cannot serve. Partial: rows without labels or attributes ('{}', most
-- files) are left out, so registering them costs this index nothing, and
-- the index is small enough that the planner prefers it even with
-- 10,000,000 files (unpartial, its estimate tied with jsonb_ops' and lost);
-- file.list and run.list add "<> '{}'" to a key=value term to match it
-- (no '{}' contains a non-empty object, so no answer changes).
-- metad: expand-only
-- A plain CREATE INDEX (migrations run in one transaction): on a large
-- files table, create files_attribute_pairs CONCURRENTLY by hand first; IF
-- NOT EXISTS then skips it here.
CREATE INDEX IF NOT EXISTS task_log_label_pairs
  ON task_log USING gin (labels jsonb_path_ops) WHERE labels <> '{}';
CREATE INDEX IF NOT EXISTS files_attribute_pairs
  ON files USING gin (attributes jsonb_path_ops) WHERE attributes <> '{}';
