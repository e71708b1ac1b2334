-- The logbook issue (exactly once at the edges, outputs and lineage, file
-- versions, the operator's verbs): the tables and columns they need. The
-- functions that use them are in migrations/functions/.

-- ClaimFiles request_ids: a retried claim returns the files of the first
-- call (those the run still holds) instead of claiming more. One row per
-- (run, request_id); the source and limit are kept so that a reuse of the
-- id for a different claim is refused. Dropped with the run (retention).
CREATE TABLE claim_requests (
  run_id      bigint      NOT NULL REFERENCES task_log (id) ON DELETE CASCADE,
  request_id  text        NOT NULL,
  source      text        NOT NULL,
  claim_limit integer     NOT NULL,
  file_ids    bigint[]    NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, request_id)
);

-- FinishRun's own figures, kept so that a retried FinishRun (after a lost
-- answer) is answered with them. NULL until a FinishRun ends the run (an
-- expiry or a cancel leaves them NULL).
ALTER TABLE task_log ADD COLUMN finish_files integer;
ALTER TABLE task_log ADD COLUMN finish_released integer;

-- File versions: 1 at the first registration, one more for each
-- registration that brought a different checksum or size (a CHANGED event).
ALTER TABLE files ADD COLUMN version integer NOT NULL DEFAULT 1
  CHECK (version >= 1);
-- The run that recorded the file as an output (no foreign key: a file
-- outlives the runs that retention prunes, and keeps the id).
ALTER TABLE files ADD COLUMN producer_run_id bigint;
CREATE INDEX files_producer ON files (producer_run_id, id)
  WHERE producer_run_id IS NOT NULL;

-- Every output a run recorded (a file may be recorded by several runs; the
-- first is its producer_run_id).
CREATE TABLE run_outputs (
  run_id      bigint      NOT NULL REFERENCES task_log (id) ON DELETE CASCADE,
  file_id     bigint      NOT NULL REFERENCES files (id),
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, file_id)
);
CREATE INDEX run_outputs_file ON run_outputs (file_id, run_id);

-- A run's inputs, for lineage: the files it claimed.
CREATE INDEX file_events_claims ON file_events (run_id, file_id)
  WHERE kind = 'CLAIMED';

-- Who made each change, and for CHANGED events the content before and
-- after ({"previous": {...}, "current": {...}}).
-- Existing rows get '' (no rewrite); new rows the transaction's actor, which
-- the daemon sets with each call's transaction (metad.actor, from the
-- caller's token name or address: store/database.cc).
ALTER TABLE file_events ADD COLUMN actor text NOT NULL DEFAULT '';
ALTER TABLE file_events ALTER COLUMN actor
  SET DEFAULT coalesce(current_setting('metad.actor', true), '');
ALTER TABLE file_events ADD COLUMN detail jsonb;
ALTER TABLE run_events ADD COLUMN actor text NOT NULL DEFAULT '';
ALTER TABLE run_events ALTER COLUMN actor
  SET DEFAULT coalesce(current_setting('metad.actor', true), '');

-- CancelRun ends a run as ERROR with cancelled set; RerunTasks marks the
-- ended runs of a reopened task superseded: they stay in the log but no
-- longer count as its success or as spent attempts in the batch.
ALTER TABLE task_log ADD COLUMN cancelled boolean NOT NULL DEFAULT false;
ALTER TABLE task_log ADD COLUMN superseded boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX task_log_one_live_success ON task_log (task_id, batch_id)
  WHERE status = 'SUCCESS' AND NOT superseded;
DROP INDEX task_log_one_success;

-- StartRun's and FinishRun's answers carry the two flags (after the
-- outcome columns: metad_run_answer in 50_runs.sql fills them).
ALTER TYPE metad_run_result ADD ATTRIBUTE cancelled boolean,
                            ADD ATTRIBUTE superseded boolean;
-- Functions whose signature or result columns this schema changes: the
-- rules gained a superseded argument, the run row shapes two columns
-- (CREATE OR REPLACE cannot change either; migrations/functions/ makes the
-- new ones right after).
DROP FUNCTION IF EXISTS metad_run_blocks_start(text, timestamptz);
DROP FUNCTION IF EXISTS metad_run_spent_attempt(text, timestamptz);
DROP FUNCTION IF EXISTS metad_run_row(anyelement, text);
DROP FUNCTION IF EXISTS metad_run_event_row(anyelement);

-- The audit trail of the task registry and graph, and of reopenings.
CREATE TABLE task_events (
  id          bigserial   PRIMARY KEY,
  task        text        NOT NULL,
  kind        text        NOT NULL,
  detail      text        NOT NULL DEFAULT '',
  batch_id    text        NOT NULL DEFAULT '',
  actor       text        NOT NULL
              DEFAULT coalesce(current_setting('metad.actor', true), ''),
  event_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_events_task ON task_events (task, id);

-- Changes to the registry and the graph become task events, whatever
-- statement makes them (RegisterTask, DeleteTask, AddDependency,
-- RemoveDependency, or an operator's SQL). Rare writes: a row trigger.
CREATE FUNCTION metad_task_event() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_detail text;
BEGIN
  IF TG_TABLE_NAME = 'tasks' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO task_events (task, kind) VALUES (NEW.name, 'REGISTERED');
    ELSIF TG_OP = 'DELETE' THEN
      INSERT INTO task_events (task, kind) VALUES (OLD.name, 'DELETED');
    ELSE
      v_detail := concat_ws('; ',
        CASE WHEN NEW.max_attempts <> OLD.max_attempts THEN
          format('max_attempts %s -> %s', OLD.max_attempts, NEW.max_attempts)
        END,
        CASE WHEN NEW.default_lease_seconds <> OLD.default_lease_seconds THEN
          format('default_lease_seconds %s -> %s', OLD.default_lease_seconds,
                 NEW.default_lease_seconds)
        END,
        CASE WHEN NEW.description <> OLD.description THEN
          'description changed'
        END);
      IF v_detail <> '' THEN
        INSERT INTO task_events (task, kind, detail)
        VALUES (NEW.name, 'UPDATED', v_detail);
      END IF;
    END IF;
    RETURN NULL;
  END IF;
  -- task_dependencies: the child's event, naming the parent.
  IF TG_OP = 'INSERT' THEN
    INSERT INTO task_events (task, kind, detail)
    SELECT c.name, 'DEPENDENCY_ADDED', 'parent ' || p.name
      FROM tasks c, tasks p
     WHERE c.id = NEW.child_id AND p.id = NEW.parent_id;
  ELSE
    INSERT INTO task_events (task, kind, detail)
    SELECT c.name, 'DEPENDENCY_REMOVED', 'parent ' || p.name
      FROM tasks c, tasks p
     WHERE c.id = OLD.child_id AND p.id = OLD.parent_id;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_events AFTER INSERT OR UPDATE OR DELETE ON tasks
  FOR EACH ROW EXECUTE FUNCTION metad_task_event();
CREATE TRIGGER task_dependencies_events AFTER INSERT OR DELETE
  ON task_dependencies FOR EACH ROW EXECUTE FUNCTION metad_task_event();
