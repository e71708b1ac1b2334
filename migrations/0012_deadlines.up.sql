-- Deadlines and freshness (issue 15): when a task is expected to have
-- succeeded in a batch, how often a source is expected to get new files,
-- and the alerts recorded when either is missed.
-- metad: expand-only

-- A task's expected duration: it should have a SUCCESS run in a batch by
-- this long after the batch's first run started. NULL: no expectation.
ALTER TABLE tasks ADD COLUMN expected_duration interval
  CHECK (expected_duration > interval '0');

-- Absolute deadlines for one task in one batch (SetBatchDeadline); they
-- take precedence over the task's expected_duration in that batch. Names,
-- not ids: a deadline may be set before the batch's first run, and must not
-- keep its task from being deleted.
CREATE TABLE batch_deadlines (
  batch_id    text        NOT NULL,
  task        text        NOT NULL,
  deadline    timestamptz NOT NULL,
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, task)
);

-- Freshness of a source (SetSourceFreshness): a new file is expected at
-- least every max_age; declared_time stands for the last file while the
-- source has none.
CREATE TABLE source_freshness (
  source        text        PRIMARY KEY,
  max_age       interval    NOT NULL CHECK (max_age > interval '0'),
  declared_time timestamptz NOT NULL DEFAULT now()
);

-- DEADLINE_MISSED and STALE, each recorded once: the unique indexes are
-- the guard, so any number of daemons may check at once (INSERT ... ON
-- CONFLICT DO NOTHING; the loser of a race inserts nothing).
CREATE TABLE alerts (
  id         bigserial   PRIMARY KEY,
  kind       text        NOT NULL CHECK (kind IN ('DEADLINE_MISSED', 'STALE')),
  batch_id   text,
  task       text,
  source     text,
  -- The instant that passed: the task's deadline, or the last file's
  -- create_time plus max_age.
  due_time   timestamptz NOT NULL,
  message    text        NOT NULL DEFAULT '',
  event_time timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'STALE') = (source IS NOT NULL)),
  CHECK ((kind = 'DEADLINE_MISSED') = (batch_id IS NOT NULL AND task IS NOT NULL))
);
-- One miss per (batch, task, deadline): moving the deadline re-arms it.
CREATE UNIQUE INDEX alerts_deadline_once ON alerts (batch_id, task, due_time)
  WHERE kind = 'DEADLINE_MISSED';
-- One STALE per (source, due time): a new file moves the due time, which
-- re-arms it.
CREATE UNIQUE INDEX alerts_stale_once ON alerts (source, due_time)
  WHERE kind = 'STALE';

-- The checker finds recent batches by their runs' start time, and a
-- source's latest file by its create_time.
CREATE INDEX task_log_start ON task_log (start_time);
CREATE INDEX files_source_create ON files (source, create_time);
