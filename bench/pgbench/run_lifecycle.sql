-- `run-lifecycle`: StartRun then FinishRun as two transactions: insert a
-- PROCESSING run with its STARTED event; end it as SUCCESS (with the files it
-- holds, none here) and its FINISHED event. One script = one lifecycle.
\set r random(1, 4611686018427387903)
WITH r AS (
  INSERT INTO pgb.task_log (task_id, batch_id, status, attempt, worker_id,
                            lease_seconds, lease_expire_time, request_id)
  VALUES (1, 'p-' || :client_id || '-' || :r, 'PROCESSING', 1, 'pgbench', 60,
          now() + interval '60 seconds', 'p-' || :client_id || '-' || :r)
  RETURNING id
), e AS (
  INSERT INTO pgb.run_events (run_id, kind, to_status)
  SELECT id, 'STARTED', 'PROCESSING' FROM r
)
SELECT id AS run_id FROM r
\gset
WITH r AS (
  UPDATE pgb.task_log
  SET status = 'SUCCESS', end_time = now(), lease_expire_time = NULL
  WHERE id = :run_id AND status = 'PROCESSING' AND lease_expire_time > now()
  RETURNING id
), f AS (
  UPDATE pgb.files SET status = 'SUCCESS', update_time = now()
  WHERE run_id = :run_id AND status = 'PROCESSING'
  RETURNING id
), e AS (
  INSERT INTO pgb.run_events (run_id, kind, from_status, to_status)
  SELECT id, 'FINISHED', 'PROCESSING', 'SUCCESS' FROM r
)
SELECT count(*) FROM f;
