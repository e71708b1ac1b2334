-- The seed's own example of an evolving schema: a row count per file, added
-- without rewriting or losing existing rows (NULL means unknown).
ALTER TABLE files ADD COLUMN row_count bigint CHECK (row_count >= 0);
