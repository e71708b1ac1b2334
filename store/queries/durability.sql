-- The write probe of the monitor (store/durability_probe.cc).

-- name: durability.probe
-- A transactional WAL record (a logical decoding message, ignored by
-- physical standbys and by PostgreSQL itself), so the commit takes a
-- transaction id, writes a commit record and waits for the synchronous
-- standbys like any write, without touching a table. (A transaction id
-- alone is not enough: a commit that wrote no WAL before it does not wait.)
-- Executable by any role in PostgreSQL 15.
SELECT pg_logical_emit_message(true, 'metad.durability_probe', '');
