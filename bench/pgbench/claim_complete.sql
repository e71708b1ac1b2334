-- `claim-complete`: a worker's cycle as three transactions: start a run;
-- claim up to 100 NEW files (FOR UPDATE SKIP LOCKED) with a CLAIMED event
-- each; finish the run, setting its files to SUCCESS with a FINISHED event
-- each. Files per second are counted from pgb.file_events afterwards.
\set r random(1, 4611686018427387903)
WITH r AS (
  INSERT INTO pgb.task_log (task_id, batch_id, status, attempt, worker_id,
                            lease_seconds, lease_expire_time)
  VALUES (1, 'p-' || :client_id || '-' || :r, 'PROCESSING', 1, 'pgbench', 300,
          now() + interval '300 seconds')
  RETURNING id
), e AS (
  INSERT INTO pgb.run_events (run_id, kind, to_status)
  SELECT id, 'STARTED', 'PROCESSING' FROM r
)
SELECT id AS run_id FROM r
\gset
WITH picked AS (
  SELECT id AS picked_id FROM pgb.files
  WHERE status = 'NEW'
  ORDER BY id LIMIT 100
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE pgb.files
  SET status = 'PROCESSING', run_id = :run_id, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING *
), ev AS (
  INSERT INTO pgb.file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', :run_id FROM claimed
)
SELECT * FROM claimed ORDER BY id;
WITH r AS (
  UPDATE pgb.task_log
  SET status = 'SUCCESS', end_time = now(), lease_expire_time = NULL
  WHERE id = :run_id AND status = 'PROCESSING' AND lease_expire_time > now()
  RETURNING id
), f AS (
  UPDATE pgb.files SET status = 'SUCCESS', update_time = now()
  FROM r
  WHERE files.run_id = r.id AND files.status = 'PROCESSING'
  RETURNING files.id
), fe AS (
  INSERT INTO pgb.file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'FINISHED', 'PROCESSING', 'SUCCESS', :run_id FROM f
), re AS (
  INSERT INTO pgb.run_events (run_id, kind, from_status, to_status)
  SELECT id, 'FINISHED', 'PROCESSING', 'SUCCESS' FROM r
)
SELECT count(*) FROM f;
