-- Outputs and lineage (store/lineage_store.cc): the files a run produced
-- (run_outputs, files.producer_run_id, PRODUCED file events; migration
-- 0008) and GetLineage's walk (metad_lineage_walk,
-- migrations/functions/60_lineage.sql). Files are read as metad_file_row,
-- runs as metad_run_row (migrations/functions/15_rows.sql).

-- name: lineage.register_outputs
-- RegisterFiles' insert (file.register_insert: dedupe by the database, the
-- first occurrence of a repeated name, rows in (source, file_name) order so
-- that overlapping batches never deadlock), with producer_run_id = $8 on
-- the files it creates. Known files are left as they are.
WITH input AS (
  SELECT DISTINCT ON (source, file_name) *
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::text[]) WITH ORDINALITY
       AS u(source, file_name, checksum, size_bytes, row_count, attributes,
            request_id, ord)
  ORDER BY source, file_name, ord
), inserted AS (
  INSERT INTO files (source, file_name, checksum, size_bytes, row_count,
                     attributes, request_id, producer_run_id)
  SELECT source, file_name, checksum, NULLIF(size_bytes, 0),
         NULLIF(row_count, 0), attributes::jsonb, NULLIF(request_id, ''),
         $8::bigint
  FROM input
  ORDER BY source, file_name
  ON CONFLICT ON CONSTRAINT files_source_file_name DO NOTHING
  RETURNING id
), events AS (
  INSERT INTO file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM inserted
)
SELECT id FROM inserted;

-- name: lineage.link_outputs
-- Links run $1 to its outputs $2 (new or known files), once per run and
-- file: a PRODUCED event for each link this call makes, none for a repeat.
-- In file id order, the order every writer locks files in.
WITH linked AS (
  INSERT INTO run_outputs (run_id, file_id)
  SELECT $1::bigint, u.file_id
  FROM (SELECT DISTINCT unnest($2::bigint[]) AS file_id) u
  ORDER BY u.file_id
  ON CONFLICT (run_id, file_id) DO NOTHING
  RETURNING file_id
), events AS (
  INSERT INTO file_events (file_id, kind, from_status, to_status, run_id)
  SELECT f.id, 'PRODUCED', f.status, f.status, $1::bigint
  FROM linked l JOIN files f ON f.id = l.file_id
)
SELECT count(*) AS linked FROM linked;

-- name: lineage.outputs_by_name
-- A replayed FinishRun's outputs: the stored files of the names given, in
-- the order given (no row for a name that is not registered).
SELECT r.*
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
     AS u(u_source, u_file_name, u_ord)
JOIN files f ON f.source = u_source AND f.file_name = u_file_name
CROSS JOIN LATERAL metad_file_row(f) r
ORDER BY u_ord;

-- name: lineage.read_only
-- GetLineage only reads: say so, so that a bug can never write.
SET TRANSACTION READ ONLY;

-- name: lineage.file_exists
SELECT 1 AS found FROM files WHERE id = $1;

-- name: lineage.run_exists
SELECT 1 AS found FROM task_log WHERE id = $1;

-- name: lineage.page
-- One page of the walk from file $1 or run $2 (the other NULL), upstream
-- ($3) and/or downstream ($4), up to depth $5, at most $6 edges walked:
-- the edges after the key ($7 depth, $8 kind, $9 run, $10 file) in
-- (depth, kind, run_id, file_id) order, at most $11. An edge both
-- directions found keeps its smaller depth. Always one row at least: a
-- page with no edges is one row of NULL edge columns, so that `truncated`
-- is always answered.
WITH walk AS MATERIALIZED (
  SELECT * FROM metad_lineage_walk($1::bigint, $2::bigint, $3::boolean,
                                   $4::boolean, $5::integer, $6::integer)
), edges AS (
  SELECT min(u.depth) AS depth, u.kind, u.run_id, u.file_id
  FROM walk w,
       unnest(w.depths, w.kinds, w.run_ids, w.file_ids)
         AS u(depth, kind, run_id, file_id)
  GROUP BY u.kind, u.run_id, u.file_id
), page AS (
  SELECT * FROM edges e
  WHERE (e.depth, e.kind, e.run_id, e.file_id)
        > ($7::integer, $8::text, $9::bigint, $10::bigint)
  ORDER BY e.depth, e.kind, e.run_id, e.file_id
  LIMIT $11
)
SELECT w.truncated, p.depth, p.kind, p.run_id, p.file_id
FROM walk w LEFT JOIN page p ON true
ORDER BY p.depth, p.kind, p.run_id, p.file_id;

-- name: lineage.files
-- The files a page names, by id.
SELECT r.* FROM files f CROSS JOIN LATERAL metad_file_row(f) r
WHERE f.id = ANY ($1::bigint[])
ORDER BY f.id;

-- name: lineage.runs
-- The runs a page names, by id.
SELECT x.*
  FROM task_log r
  JOIN tasks t ON t.id = r.task_id
  CROSS JOIN LATERAL metad_run_row(r, t.name) x
 WHERE r.id = ANY ($1::bigint[])
 ORDER BY r.id;
