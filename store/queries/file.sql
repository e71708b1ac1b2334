-- The file registry: files and file_events (migrations/0001_init.up.sql),
-- run by store/file_store.cc. Every state change appends its file_events
-- rows in the same statement. Files are read as metad_file_row, events as
-- metad_file_event_row (migrations/functions/15_rows.sql).
--
-- Except where a hot statement is planned anew on every call: PostgreSQL
-- keeps a custom plan for file.register_read and the claims (their LIMIT
-- and array sizes make the generic plan look dearer), and inlining
-- metad_file_row into each plan cost 0.03 ms (register_read) to 0.1 ms
-- (claim_any) of planning per call, measured. Those write its columns out,
-- with its names, in its order; FileColumns in store/file_store.cc reads
-- every file row by those names.

-- name: file.lock_run
-- The run of a ClaimFiles or CompleteFile must be live. FOR SHARE: the run
-- cannot end or expire (those UPDATE the row) until this transaction
-- commits, and a concurrent end is seen before deciding.
SELECT status, metad_run_live(status, lease_expire_time) AS live,
       metad_us(lease_expire_time) AS lease_us, error_message, cancelled
FROM task_log WHERE id = $1 FOR SHARE;

-- name: file.register_insert
-- One statement for the whole batch: the database dedupes (ON CONFLICT on
-- files_source_file_name), so concurrent registrants cannot both create a
-- file. DISTINCT ON keeps the first occurrence of a name repeated within the
-- request; rows go in in (source, file_name) order so that two overlapping
-- batches lock names in the same order and never deadlock.
WITH input AS (
  SELECT DISTINCT ON (source, file_name) *
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::text[]) WITH ORDINALITY
       AS u(source, file_name, checksum, size_bytes, row_count, attributes,
            request_id, ord)
  ORDER BY source, file_name, ord
), inserted AS (
  INSERT INTO files (source, file_name, checksum, size_bytes, row_count,
                     attributes, request_id)
  SELECT source, file_name, checksum, NULLIF(size_bytes, 0),
         NULLIF(row_count, 0), attributes::jsonb, NULLIF(request_id, '')
  FROM input
  ORDER BY source, file_name
  ON CONFLICT ON CONSTRAINT files_source_file_name DO NOTHING
  RETURNING id
), events AS (
  INSERT INTO file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM inserted
)
SELECT id FROM inserted;

-- name: file.register_read
-- The registered files in the order of the request. A separate statement (a
-- fresh READ COMMITTED snapshot) so that rows a concurrent registrant
-- committed while the insert waited on it are seen. metad_file_row's
-- columns written out (a hot path: see the top of this file).
SELECT f.id, f.source, f.file_name, f.status, f.checksum, f.size_bytes,
       f.row_count, f.attributes::text AS attributes, f.run_id,
       f.error_message, metad_us(f.create_time) AS create_us,
       metad_us(f.update_time) AS update_us
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
     AS u(u_source, u_file_name, u_ord)
JOIN files f ON f.source = u_source AND f.file_name = u_file_name
ORDER BY u_ord;

-- name: file.get_by_id
SELECT r.* FROM files f CROSS JOIN LATERAL metad_file_row(f) r
WHERE f.id = $1;

-- name: file.get_by_name
SELECT r.* FROM files f CROSS JOIN LATERAL metad_file_row(f) r
WHERE f.source = $1 AND f.file_name = $2;

-- name: file.force_custom_plan
-- For file.list: see there.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: file.list
-- One statement for every combination of filters. Planned per call with the
-- actual values (file.force_custom_plan first), the "$n IS NULL OR ..."
-- terms fold away and the planner picks the index that fits the filters
-- given: files_status, files_run, files_create_time or the primary key.
-- Keyset paging (id > last ORDER BY id) keeps deep pages as cheap as the
-- first.
SELECT r.*
FROM files f CROSS JOIN LATERAL metad_file_row(f) r
WHERE f.id > $1
  AND ($2::text IS NULL OR f.status = $2::text)
  AND ($3::text IS NULL OR f.source = $3::text)
  AND ($4::bigint IS NULL OR f.run_id = $4::bigint)
  AND ($5::bigint IS NULL OR f.create_time >= metad_ts($5::bigint))
  AND ($6::bigint IS NULL OR f.create_time < metad_ts($6::bigint))
ORDER BY f.id
LIMIT $7;

-- name: file.claim_any
-- ClaimFiles from every source. It and file.claim_from_source are two
-- statements so each matches its partial index (files_new,
-- files_new_by_source) in a generic plan. SKIP LOCKED: concurrent claimers
-- take different files instead of queueing on the same ones. The two differ
-- only in `picked`; the rest (re-check NEW, move to PROCESSING, one CLAIMED
-- event per file, metad_file_row's columns written out: a hot path, see the
-- top of this file) must stay identical.
WITH picked AS (
  SELECT id AS picked_id FROM files
  WHERE status = 'NEW'
  ORDER BY id LIMIT $2
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = $1, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count,
            attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us,
            metad_us(update_time) AS update_us
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
)
SELECT * FROM claimed ORDER BY id;

-- name: file.claim_from_source
-- ClaimFiles from source $3 (see file.claim_any). The source filter is
-- written as `source >= $3 AND source <= $3 ORDER BY source, id` (the same
-- rows as `source = $3` under the deterministic collation): with `=` the
-- planner drops `source` from the sort order and, costing files_new's heap
-- order as cheaper, walks every NEW file filtering on source (measured:
-- 580 ms per claim for a source with no NEW files among 60k NEW ones,
-- 0.5 ms with files_new_by_source).
WITH picked AS (
  SELECT id AS picked_id FROM files
  WHERE status = 'NEW' AND source >= $3 AND source <= $3
  ORDER BY source, id LIMIT $2
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = $1, error_message = '',
      update_time = now()
  FROM picked
  WHERE id = picked_id AND status = 'NEW'
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count,
            attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us,
            metad_us(update_time) AS update_us
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
)
SELECT * FROM claimed ORDER BY id;

-- name: file.complete
-- CompleteFile, fenced: only a file PROCESSING under this run changes.
WITH done AS (
  UPDATE files
  SET status = $3, error_message = $4, update_time = now()
  WHERE id = $1 AND status = 'PROCESSING' AND run_id = $2
  RETURNING files.*
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                           message)
  SELECT id, 'COMPLETED', 'PROCESSING', status, $2, error_message FROM done
)
SELECT r.* FROM done d CROSS JOIN LATERAL metad_file_row(d::files) r;

-- name: file.state
-- Why a fenced update matched nothing.
SELECT status, run_id FROM files WHERE id = $1;

-- name: file.reset
-- ResetFile: an ERROR file back to NEW.
WITH reset AS (
  UPDATE files
  SET status = 'NEW', run_id = NULL, error_message = '', update_time = now()
  WHERE id = $1 AND status = 'ERROR'
  RETURNING files.*
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, message)
  SELECT id, 'RESET', 'ERROR', 'NEW', $2 FROM reset
)
SELECT r.* FROM reset x CROSS JOIN LATERAL metad_file_row(x::files) r;

-- name: file.exists
SELECT 1 AS found FROM files WHERE id = $1;

-- name: file.events_of_file
SELECT r.*
FROM file_events e CROSS JOIN LATERAL metad_file_event_row(e) r
WHERE e.file_id = $1 AND e.id > $2
ORDER BY e.id LIMIT $3;

-- name: file.events_all
SELECT r.*
FROM file_events e CROSS JOIN LATERAL metad_file_event_row(e) r
WHERE e.id > $1
ORDER BY e.id LIMIT $2;
