-- A version number per batch, bumped in the same transaction as every change
-- to the batch's runs, so a daemon can keep a GetReadyTasks answer and know,
-- with one indexed read in a later snapshot, whether the runs it was computed
-- from are still those of that snapshot (the graph's own version is 0007's).
-- Every replica reads it from the database, so an answer cached by one daemon
-- is never served after a change committed through another.
--
-- Statement triggers with transition tables: one bump per batch per
-- statement (the reaper expiring a thousand runs is one bump per batch).
-- Batches are bumped in batch_id order so two statements spanning the same
-- batches cannot deadlock. The cost: run changes of ONE batch now serialize
-- on its row from the change to its commit (runs of different batches do
-- not). `token`, random per bump, tells apart two states with the same count
-- after the database went back in time, as task_graph_version's does.
-- A batch with no row is at version 0; TRUNCATE task_log empties the table
-- (every batch is then empty again, so version 0 answers stay right).
CREATE TABLE batch_run_version (
  batch_id text   PRIMARY KEY,
  version  bigint NOT NULL,
  token    uuid   NOT NULL DEFAULT gen_random_uuid()
);

CREATE FUNCTION metad_bump_batch_run_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM batch_run_version;
  ELSE
    INSERT INTO batch_run_version AS v (batch_id, version)
    SELECT DISTINCT batch_id, 1 FROM changed ORDER BY batch_id
    ON CONFLICT (batch_id) DO UPDATE
      SET version = v.version + 1, token = gen_random_uuid();
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER task_log_batch_inserted AFTER INSERT ON task_log
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_batch_run_version();
CREATE TRIGGER task_log_batch_updated AFTER UPDATE ON task_log
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_batch_run_version();
CREATE TRIGGER task_log_batch_deleted AFTER DELETE ON task_log
  REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_batch_run_version();
CREATE TRIGGER task_log_batch_truncated AFTER TRUNCATE ON task_log
  FOR EACH STATEMENT EXECUTE FUNCTION metad_bump_batch_run_version();
