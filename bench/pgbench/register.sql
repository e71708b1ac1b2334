-- `register`: RegisterFile's rows, one file per transaction: the file
-- (deduped by ON CONFLICT on (source, file_name)) and its REGISTERED event,
-- returning the stored row.
\set r random(1, 4611686018427387903)
WITH ins AS (
  INSERT INTO pgb.files (source, file_name, checksum, size_bytes, attributes)
  VALUES ('bench', 'p-' || :client_id || '-' || :r, '', 1024, '{}')
  ON CONFLICT (source, file_name) DO NOTHING
  RETURNING *
), ev AS (
  INSERT INTO pgb.file_events (file_id, kind, to_status)
  SELECT id, 'REGISTERED', 'NEW' FROM ins
)
SELECT * FROM ins;
