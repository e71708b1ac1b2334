-- The file registry: files and file_events (migrations/0001_init.up.sql),
-- run by store/file_store.cc. Every state change appends its file_events
-- rows in the same statement. Files are read as metad_file_row, events as
-- metad_file_event_row (migrations/functions/15_rows.sql).
--
-- Except where a hot statement is planned anew on every call (the claims,
-- whose LIMIT and array sizes make PostgreSQL keep a custom plan, and
-- file.register_read, which RegisterFile runs unprepared: see there), and
-- inlining metad_file_row into each plan cost 0.03 ms (register_read) to
-- 0.1 ms (claim_any) of planning per call, measured. Those, and
-- file.register_insert's RETURNING, write its columns out, with its names,
-- in its order; FileColumns in store/file_store.cc reads every file row by
-- those names.

-- name: file.lock_run
-- The run of a ClaimFiles or CompleteFile must be live. FOR SHARE: the run
-- cannot end or expire (those UPDATE the row) until this transaction
-- commits, and a concurrent end is seen before deciding.
SELECT status, metad_run_live(status, lease_expire_time) AS live,
       metad_us(lease_expire_time) AS lease_us, error_message, cancelled
FROM task_log WHERE id = $1 FOR SHARE;

-- name: file.lock_run_claim
-- file.lock_run for ClaimFiles, with the claim that request_id $2 made in
-- this run before, if any (claim_limit NULL when none).
SELECT l.status, metad_run_live(l.status, l.lease_expire_time) AS live,
       metad_us(l.lease_expire_time) AS lease_us, l.error_message, l.cancelled,
       c.source AS claim_source, c.claim_limit
FROM task_log l
LEFT JOIN claim_requests c ON c.run_id = l.id AND c.request_id = $2
WHERE l.id = $1 FOR SHARE OF l;

-- name: file.claim_replay
-- The files claim ($1 run, $2 request_id) took that the run still holds.
SELECT r.*
FROM claim_requests c
CROSS JOIN LATERAL unnest(c.file_ids) AS u(file_id)
JOIN files f ON f.id = u.file_id AND f.run_id = c.run_id
            AND f.status = 'PROCESSING'
CROSS JOIN LATERAL metad_file_row(f) r
WHERE c.run_id = $1 AND c.request_id = $2
ORDER BY f.id;

-- name: file.register_insert
-- One statement for the whole batch: the database dedupes (ON CONFLICT on
-- files_source_file_name), so concurrent registrants cannot both create a
-- file. DISTINCT ON keeps the first occurrence of a name repeated within the
-- request; rows go in in (source, file_name) order so that two overlapping
-- batches lock names in the same order and never deadlock. Answers the
-- created rows whole, so that a request whose names were all new needs no
-- file.register_read.
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
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count,
            attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us,
            metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM inserted
)
SELECT * FROM inserted;

-- name: file.register_read
-- The registered files in the order of the request. A separate statement (a
-- fresh READ COMMITTED snapshot) so that rows a concurrent registrant
-- committed while the insert waited on it are seen. metad_file_row's
-- columns written out (a hot path: see the top of this file). FileStore
-- and LineageStore run it unprepared (ExecCustomPlan; FileStore only for
-- the names the insert did not create): prepared, PostgreSQL switched to a generic plan made while files
-- was nearly empty (a hash join over a seq scan of files) and kept it while
-- the table grew, one whole scan per batch (session 9 in
-- docs/benchmarks.md).
SELECT f.id, f.source, f.file_name, f.status, f.checksum, f.size_bytes,
       f.row_count, f.attributes::text AS attributes, f.run_id,
       f.error_message, metad_us(f.create_time) AS create_us,
       metad_us(f.update_time) AS update_us, f.version, f.producer_run_id
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
     AS u(u_source, u_file_name, u_ord)
JOIN files f ON f.source = u_source AND f.file_name = u_file_name
ORDER BY u_ord;

-- name: file.register_change
-- Registrations that may bring new content for known files (FileStore
-- decides which from file.register_read; only the rare case runs this): $1
-- file ids (each at most once), $2 checksums ('' = not given), $3 sizes and
-- $4 row counts (0 = not given), $5 whether to send a SUCCESS or ERROR file
-- back to NEW (CHANGE_POLICY_REPROCESS), $6 actors. `old` locks the rows in
-- id order and, FOR UPDATE in READ COMMITTED, reads each one's latest
-- committed version, re-checking the difference on it: of two concurrent
-- registrations of the same new content, the second finds it stored and
-- changes nothing, so they make one version. Only a given value that
-- differs is a change. Answers the changed files, with their request
-- position.
WITH input AS (
  SELECT *
  FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
              $5::boolean[], $6::text[]) WITH ORDINALITY
       AS u(in_id, in_checksum, in_size, in_rows, in_reprocess, in_actor, ord)
), old AS (
  SELECT f.id, f.version, f.checksum, f.size_bytes, f.status, f.run_id,
         i.*
  FROM files f JOIN input i ON f.id = i.in_id
  WHERE (i.in_checksum <> '' AND i.in_checksum IS DISTINCT FROM f.checksum)
     OR (i.in_size > 0 AND i.in_size IS DISTINCT FROM f.size_bytes)
  ORDER BY f.id
  FOR UPDATE OF f
), changed AS (
  UPDATE files f
  SET version = o.version + 1,
      checksum = CASE WHEN o.in_checksum <> '' THEN o.in_checksum
                      ELSE f.checksum END,
      size_bytes = CASE WHEN o.in_size > 0 THEN o.in_size
                        ELSE f.size_bytes END,
      row_count = CASE WHEN o.in_rows > 0 THEN o.in_rows ELSE f.row_count END,
      status = CASE WHEN o.in_reprocess AND o.status IN ('SUCCESS', 'ERROR')
                    THEN 'NEW' ELSE f.status END,
      run_id = CASE WHEN o.in_reprocess AND o.status IN ('SUCCESS', 'ERROR')
                    THEN NULL ELSE f.run_id END,
      error_message = CASE WHEN o.in_reprocess
                                AND o.status IN ('SUCCESS', 'ERROR')
                           THEN '' ELSE f.error_message END,
      update_time = CASE WHEN o.in_reprocess
                              AND o.status IN ('SUCCESS', 'ERROR')
                         THEN now() ELSE f.update_time END
  FROM old o
  WHERE f.id = o.id
  RETURNING f AS file, o.ord, o.in_actor, o.status AS old_status,
            o.run_id AS old_run_id, o.version AS old_version,
            o.checksum AS old_checksum, o.size_bytes AS old_size
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                           message, actor, detail)
  SELECT (c.file).id, 'CHANGED', c.old_status, (c.file).status, c.old_run_id,
         format('version %s: checksum or size changed', (c.file).version),
         c.in_actor,
         jsonb_build_object(
           'previous', jsonb_build_object('version', c.old_version,
                                          'checksum', c.old_checksum,
                                          'size_bytes', c.old_size),
           'current', jsonb_build_object('version', (c.file).version,
                                         'checksum', (c.file).checksum,
                                         'size_bytes', (c.file).size_bytes))
  FROM changed c
)
SELECT c.ord, r.*
FROM changed c CROSS JOIN LATERAL metad_file_row(c.file) r
ORDER BY c.ord;

-- name: file.get_by_ids
-- Files by id, for the registrations file.register_change found already
-- changed by a concurrent registrant (a fresh snapshot sees its commit).
SELECT r.* FROM files f CROSS JOIN LATERAL metad_file_row(f) r
WHERE f.id = ANY($1::bigint[])
ORDER BY f.id;

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
  -- The attribute selector (store/string_map_json.h, MapMatch): key=value
  -- terms served by files_attribute_pairs (partial: "<> '{}'" matches it),
  -- key terms by files_attributes (migrations 0010, 0016).
  AND ($8::jsonb IS NULL OR (f.attributes @> $8::jsonb
                            AND f.attributes <> '{}'))
  AND ($9::text[] IS NULL OR f.attributes ?& $9::text[])
ORDER BY f.id
LIMIT $7;

-- name: file.list_selected
-- file.list for an attribute selector with key=value terms: the matches
-- first, unordered, at most $10 + 1, then sorted; above $10 the caller runs
-- file.list instead. Why: run.list_selected.
WITH hits AS MATERIALIZED (
  SELECT f.id
    FROM files f
   WHERE f.id > $1
     AND ($2::text IS NULL OR f.status = $2::text)
     AND ($3::text IS NULL OR f.source = $3::text)
     AND ($4::bigint IS NULL OR f.run_id = $4::bigint)
     AND ($5::bigint IS NULL OR f.create_time >= metad_ts($5::bigint))
     AND ($6::bigint IS NULL OR f.create_time < metad_ts($6::bigint))
     AND f.attributes @> $8::jsonb AND f.attributes <> '{}'
     AND ($9::text[] IS NULL OR f.attributes ?& $9::text[])
   LIMIT $10::int + 1
), page AS (
  SELECT id, count(*) OVER () AS hits FROM hits ORDER BY id LIMIT $7
)
SELECT r.*, p.hits
  FROM page p
  JOIN files f ON f.id = p.id
  CROSS JOIN LATERAL metad_file_row(f) r
 ORDER BY f.id;

-- name: file.claim_any
-- ClaimFiles from every source. It and file.claim_from_source are two
-- statements so each matches its partial index (files_new,
-- files_new_by_source) in a generic plan. SKIP LOCKED: concurrent claimers
-- take different files instead of queueing on the same ones. The two differ
-- only in `picked` and the source recorded; the rest (re-check NEW, move to
-- PROCESSING, one CLAIMED event per file, the claim_requests row of a
-- request_id, metad_file_row's columns written out: a hot path, see the top
-- of this file) must stay identical.
--
-- With a request_id ($3 here, $4 in claim_from_source; NULL for none) the
-- claimed ids are recorded for a retry to find (file.claim_replay). If a
-- concurrent twin of the call recorded first, `recorded` is 0 and the
-- caller rolls back and replays the twin's claim instead.
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
            metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
), recorded AS (
  INSERT INTO claim_requests (run_id, request_id, source, claim_limit,
                              file_ids)
  SELECT $1, $3::text, '', $2, coalesce(array_agg(id ORDER BY id), '{}')
  FROM claimed
  HAVING $3::text IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT *, (SELECT count(*) FROM recorded) AS recorded FROM claimed ORDER BY id;

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
            metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', $1 FROM claimed
), recorded AS (
  INSERT INTO claim_requests (run_id, request_id, source, claim_limit,
                              file_ids)
  SELECT $1, $4::text, $3, $2, coalesce(array_agg(id ORDER BY id), '{}')
  FROM claimed
  HAVING $4::text IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT *, (SELECT count(*) FROM recorded) AS recorded FROM claimed ORDER BY id;

-- name: file.lock_runs_claim
-- file.lock_run_claim for the calls of a claim batch (store/claim_batcher.h):
-- $1 run ids (distinct, ascending: batches lock runs in one order), $2 each
-- call's request_id ('' for none). A run that does not exist has no row.
SELECT l.id AS run_id, l.status,
       metad_run_live(l.status, l.lease_expire_time) AS live,
       metad_us(l.lease_expire_time) AS lease_us, l.error_message, l.cancelled,
       c.source AS claim_source, c.claim_limit
FROM unnest($1::bigint[], $2::text[]) AS u(u_run, u_request)
JOIN task_log l ON l.id = u.u_run
LEFT JOIN claim_requests c ON c.run_id = l.id
                          AND c.request_id = NULLIF(u.u_request, '')
ORDER BY l.id
FOR SHARE OF l;

-- name: file.claim_many_plan
-- Before file.claim_many_*: their UPDATE joins the few thousand picked ids
-- to files, and with estimates of that size the planner prefers hashing
-- the whole table (a sequential scan of every file: 115 ms per claim at
-- 100,000 files, measured) over one primary-key probe per picked id (4 ms).
-- Only for this transaction.
SELECT set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true);

-- name: file.claim_many_any
-- ClaimFiles of several runs at once (store/claim_batcher.h), from every
-- source: one SKIP LOCKED scan for the batch's total ($4) instead of one per
-- call, so concurrent claimers stop stepping over each other's rows. $1 the
-- runs (distinct), $2 their limits, $3 their request_ids ('' for none), in
-- the order they are served: the picked files, by id, go to the first run
-- up to its limit, then the next. Each file is updated once, so it goes to
-- one run. Otherwise as file.claim_any: re-check NEW, move to PROCESSING,
-- a CLAIMED event per file, a claim_requests row per request_id. One row
-- more with a NULL id when nothing was claimed; `recorded` counts the
-- claim_requests rows written (fewer than the request_ids given: a
-- concurrent twin recorded first, and the caller answers call by call).
WITH calls AS (
  SELECT u_run, u_limit, NULLIF(u_request, '') AS u_request,
         sum(u_limit) OVER (ORDER BY u_ord) AS u_end
  FROM unnest($1::bigint[], $2::int[], $3::text[]) WITH ORDINALITY
       AS u(u_run, u_limit, u_request, u_ord)
), picked AS (
  SELECT picked_id, row_number() OVER (ORDER BY picked_id) AS picked_rank
  FROM (SELECT id AS picked_id FROM files
        WHERE status = 'NEW'
        ORDER BY id LIMIT $4
        FOR UPDATE SKIP LOCKED) p
), assigned AS (
  SELECT picked_id, u_run AS picked_run
  FROM picked
  JOIN calls ON picked_rank > u_end - u_limit AND picked_rank <= u_end
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = picked_run, error_message = '',
      update_time = now()
  FROM assigned
  WHERE id = picked_id AND status = 'NEW'
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count,
            attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us,
            metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', run_id FROM claimed
), recorded AS (
  INSERT INTO claim_requests (run_id, request_id, source, claim_limit,
                              file_ids)
  SELECT u_run, u_request, '', u_limit,
         coalesce((SELECT array_agg(c.id ORDER BY c.id) FROM claimed c
                   WHERE c.run_id = u_run), '{}')
  FROM calls
  WHERE u_request IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT c.*, n.recorded
FROM (SELECT count(*) AS recorded FROM recorded) n
LEFT JOIN claimed c ON true
ORDER BY c.run_id, c.id;

-- name: file.claim_many_from_source
-- file.claim_many_any from source $5 only (the source filter written as in
-- file.claim_from_source, for files_new_by_source).
WITH calls AS (
  SELECT u_run, u_limit, NULLIF(u_request, '') AS u_request,
         sum(u_limit) OVER (ORDER BY u_ord) AS u_end
  FROM unnest($1::bigint[], $2::int[], $3::text[]) WITH ORDINALITY
       AS u(u_run, u_limit, u_request, u_ord)
), picked AS (
  SELECT picked_id, row_number() OVER (ORDER BY picked_id) AS picked_rank
  FROM (SELECT id AS picked_id FROM files
        WHERE status = 'NEW' AND source >= $5 AND source <= $5
        ORDER BY source, id LIMIT $4
        FOR UPDATE SKIP LOCKED) p
), assigned AS (
  SELECT picked_id, u_run AS picked_run
  FROM picked
  JOIN calls ON picked_rank > u_end - u_limit AND picked_rank <= u_end
), claimed AS (
  UPDATE files
  SET status = 'PROCESSING', run_id = picked_run, error_message = '',
      update_time = now()
  FROM assigned
  WHERE id = picked_id AND status = 'NEW'
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count,
            attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us,
            metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT id, 'CLAIMED', 'NEW', 'PROCESSING', run_id FROM claimed
), recorded AS (
  INSERT INTO claim_requests (run_id, request_id, source, claim_limit,
                              file_ids)
  SELECT u_run, u_request, $5, u_limit,
         coalesce((SELECT array_agg(c.id ORDER BY c.id) FROM claimed c
                   WHERE c.run_id = u_run), '{}')
  FROM calls
  WHERE u_request IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT c.*, n.recorded
FROM (SELECT count(*) AS recorded FROM recorded) n
LEFT JOIN claimed c ON true
ORDER BY c.run_id, c.id;

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
-- Why a fenced update matched nothing, or whether it already took effect.
SELECT status, run_id, error_message FROM files WHERE id = $1;

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

-- name: file.reprocess_lock_ids
-- ReprocessFiles by ids: lock the named files (id order: no deadlocks with
-- another reprocess) and read their status, so FileStore can refuse the
-- whole call before changing anything.
SELECT f.id, f.status FROM files f
WHERE f.id = ANY($1::bigint[])
ORDER BY f.id
FOR UPDATE;

-- name: file.reprocess_pick
-- ReprocessFiles by filter: up to $7 SUCCESS or ERROR files matching every
-- filter given (NULL = any), oldest id first. SKIP LOCKED: files a run or
-- another reprocess holds right now are left for the next call. Planned per
-- call (file.force_custom_plan first), like file.list.
SELECT id FROM files
WHERE status IN ('SUCCESS', 'ERROR')
  AND ($1::text IS NULL OR status = $1::text)
  AND ($2::text IS NULL OR source = $2::text)
  AND ($3::bigint IS NULL OR run_id = $3::bigint)
  AND ($4::bigint IS NULL OR producer_run_id = $4::bigint)
  AND ($5::bigint IS NULL OR update_time >= metad_ts($5::bigint))
  AND ($6::bigint IS NULL OR update_time < metad_ts($6::bigint))
ORDER BY id
LIMIT $7
FOR UPDATE SKIP LOCKED;

-- name: file.reprocess_more
-- After file.reprocess: whether the filter still matches a file (those just
-- sent to NEW no longer do, in this transaction's view).
SELECT EXISTS (
  SELECT 1 FROM files
  WHERE status IN ('SUCCESS', 'ERROR')
    AND ($1::text IS NULL OR status = $1::text)
    AND ($2::text IS NULL OR source = $2::text)
    AND ($3::bigint IS NULL OR run_id = $3::bigint)
    AND ($4::bigint IS NULL OR producer_run_id = $4::bigint)
    AND ($5::bigint IS NULL OR update_time >= metad_ts($5::bigint))
    AND ($6::bigint IS NULL OR update_time < metad_ts($6::bigint))
) AS more;

-- name: file.reprocess
-- Sends the files $1 (locked by this transaction, SUCCESS or ERROR) back to
-- NEW like file.reset, with a REPROCESSED event each carrying the reason
-- ($2) and actor ($3) and the run that had processed the file. `old` reads
-- the status before (the rows are locked: it is current).
WITH old AS (
  SELECT id AS old_id, status AS old_status, run_id AS old_run_id
  FROM files
  WHERE id = ANY($1::bigint[]) AND status IN ('SUCCESS', 'ERROR')
), done AS (
  UPDATE files f
  SET status = 'NEW', run_id = NULL, error_message = '', update_time = now()
  FROM old
  WHERE f.id = old_id
  RETURNING f.id, old_status, old_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                           message, actor)
  SELECT id, 'REPROCESSED', old_status, 'NEW', old_run_id, $2, $3 FROM done
)
SELECT id FROM done ORDER BY id;
