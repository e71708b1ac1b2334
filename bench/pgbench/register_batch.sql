-- `register-batch`: RegisterFiles' rows, 100 files per transaction, each
-- with its REGISTERED event, returning the stored rows.
\set r random(1, 4611686018427387903)
WITH ins AS (
  INSERT INTO pgb.files (source, file_name, checksum, size_bytes, attributes)
  SELECT 'bench', 'p-' || :client_id || '-' || :r || '-' || g, '', 1024, '{}'
  FROM generate_series(1, 100) g
  ORDER BY 2
  ON CONFLICT (source, file_name) DO NOTHING
  RETURNING *
), ev AS (
  INSERT INTO pgb.file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM ins
)
SELECT * FROM ins;
