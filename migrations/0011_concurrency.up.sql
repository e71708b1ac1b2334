-- Concurrency limits held on leases (issue 15). A task may cap how many of
-- its runs are live at once (metad_run_live: PROCESSING, lease not lapsed),
-- over all batches: globally (concurrency_key_label empty), or per value of
-- one run label (concurrency_key_label names it). 0: no limit. The slot is
-- the run's lease itself, so there is nothing to release or orphan: a run
-- that ends, is cancelled or whose lease lapses stops counting at once.
-- metad_start_run (migrations/functions/50_runs.sql) checks the limit.
-- metad: expand-only
ALTER TABLE tasks ADD COLUMN concurrency_limit integer NOT NULL DEFAULT 0
  CHECK (concurrency_limit >= 0);
ALTER TABLE tasks ADD COLUMN concurrency_key_label text NOT NULL DEFAULT '';

-- The key a run took its slot under: '' for a task's global limit, the
-- value of the task's key label otherwise; NULL when its task had no limit
-- when it started (it holds no slot, and never will).
ALTER TABLE task_log ADD COLUMN concurrency_key text;

-- The holders of one task's slots: its live runs, found without a scan of
-- the task's runs (a small partial index: PROCESSING runs only).
CREATE INDEX task_log_slot_holders ON task_log (task_id, concurrency_key)
  WHERE status = 'PROCESSING';
