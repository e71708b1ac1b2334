-- The claim-complete cycle's SQL alone, :batch files per claim: the three
-- transactions of bench/pgbench/claim_complete.sql, on metad's own tables
-- (bench/claim/ceiling.sh runs it).
\set r random(1, 4611686018427387903)
WITH r AS (
  INSERT INTO task_log (task_id, batch_id, status, attempt, worker_id,
                        lease_seconds, lease_expire_time)
  VALUES (1, 'p-' || :client_id || '-' || :r, 'PROCESSING', 1, 'pgbench', 300,
          now() + interval '300 seconds')
  RETURNING id
), e AS (
  INSERT INTO run_events (run_id, kind, to_status)
  SELECT id, 'STARTED', 'PROCESSING' FROM r
)
SELECT id AS run_id FROM r
\gset
WITH picked AS (
  SELECT id AS picked_id FROM files
  WHERE status = 'NEW'
  ORDER BY id LIMIT :batch
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = :run_id, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING id
), ev AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', :run_id FROM claimed
)
SELECT count(*) FROM claimed;
WITH r AS (
  UPDATE task_log
  SET status = 'SUCCESS', end_time = now(), lease_expire_time = NULL
  WHERE id = :run_id AND status = 'PROCESSING'
  RETURNING id
), f AS (
  UPDATE files SET status = 'SUCCESS', update_time = now()
  FROM r
  WHERE files.run_id = r.id AND files.status = 'PROCESSING'
  RETURNING files.id
), fe AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'FINISHED', 'PROCESSING', 'SUCCESS', :run_id FROM f
), re AS (
  INSERT INTO run_events (run_id, kind, from_status, to_status)
  SELECT id, 'FINISHED', 'PROCESSING', 'SUCCESS' FROM r
)
SELECT count(*) FROM f;
