-- The database's own ceiling for RegisterFile's batches (docs/benchmarks.md,
-- session 9): one batch of 9 new files exactly as metad sends it (BEGIN,
-- the transaction's statement_timeout, file.register_insert with its
-- RETURNING, COMMIT), with no gRPC at all. Run with pgbench against a
-- database migrated by `metad migrate up`:
--   pgbench -n -M prepared -c 2 -j 2 -T 5 -f bench/register_ceiling.sql metad
-- files/s = tps x 9.
\set r random(1, 4611686018427387903)
BEGIN;
SELECT set_config('statement_timeout', '30000', true);
WITH input AS (
  SELECT DISTINCT ON (source, file_name) *
  FROM unnest(ARRAY['bench','bench','bench','bench','bench','bench','bench','bench','bench'],
              ARRAY['q-'||:client_id||'-'||:r||'-1','q-'||:client_id||'-'||:r||'-2','q-'||:client_id||'-'||:r||'-3','q-'||:client_id||'-'||:r||'-4','q-'||:client_id||'-'||:r||'-5','q-'||:client_id||'-'||:r||'-6','q-'||:client_id||'-'||:r||'-7','q-'||:client_id||'-'||:r||'-8','q-'||:client_id||'-'||:r||'-9'],
              ARRAY['','','','','','','','',''], ARRAY[1024,1024,1024,1024,1024,1024,1024,1024,1024]::bigint[], ARRAY[0,0,0,0,0,0,0,0,0]::bigint[],
              ARRAY['{}','{}','{}','{}','{}','{}','{}','{}','{}'], ARRAY['','','','','','','','',''])
       WITH ORDINALITY AS u(source, file_name, checksum, size_bytes, row_count, attributes, request_id, ord)
  ORDER BY source, file_name, ord
), inserted AS (
  INSERT INTO files (source, file_name, checksum, size_bytes, row_count, attributes, request_id)
  SELECT source, file_name, checksum, NULLIF(size_bytes, 0), NULLIF(row_count, 0), attributes::jsonb, NULLIF(request_id, '')
  FROM input ORDER BY source, file_name
  ON CONFLICT ON CONSTRAINT files_source_file_name DO NOTHING
  RETURNING id, source, file_name, status, checksum, size_bytes, row_count, attributes::text AS attributes, run_id, error_message,
            metad_us(create_time) AS create_us, metad_us(update_time) AS update_us, version, producer_run_id
), events AS (
  INSERT INTO file_events (file_id, kind, to_status) SELECT id, 'REGISTERED', 'NEW' FROM inserted
)
SELECT * FROM inserted;
COMMIT;
