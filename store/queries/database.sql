-- The pool and transaction runner's own statements (store/database.cc).

-- name: db.set_tx_settings
-- Local to the transaction: the time left before the call's deadline ($1;
-- NULL keeps the current one) and the transaction's actor ($2; '' for
-- none), which the event tables' actor columns default to.
SELECT set_config('statement_timeout',
                  coalesce($1::text, current_setting('statement_timeout')),
                  true),
       set_config('metad.actor', $2::text, true);

-- name: db.set_session_statement_timeout
-- For Database::Autocommit, where each statement is its own transaction.
SELECT set_config('statement_timeout', $1, false);

-- name: db.ping
SELECT 1;

-- name: db.commit_position
-- Run right after a COMMIT on the same connection (only with a read pool):
-- the WAL insert position, which is past that commit's record, as a
-- decimal byte offset. NULL on a standby, which commits nothing.
SELECT CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text END;

-- name: db.replay_position
-- On a read pool's connection: whether the server is a standby, and the WAL
-- position it has replayed up to (a decimal byte offset; NULL on a
-- primary, which serves every position).
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery()
            THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::text END;

-- name: db.identity
-- Which server a new connection reached (store/timeline_fence.h): its
-- system identifier, whether it is a standby, and its timeline. A
-- primary's is the first 8 hex digits of its current WAL file's name
-- (pg_control_checkpoint's timeline lags a promotion until the next
-- checkpoint). A standby's is the highest of what it shows: its WAL
-- receiver's timeline (NULL unless the role is a superuser or in
-- pg_read_all_stats, or when it is not streaming), its last restartpoint's
-- and its minimum recovery point's (both lag); a lower bound. Every
-- function here is executable by any role in PostgreSQL 15.
SELECT (SELECT system_identifier FROM pg_control_system())::text
         AS system_id,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN
              greatest((SELECT received_tli FROM pg_stat_wal_receiver),
                       (SELECT timeline_id FROM pg_control_checkpoint()),
                       (SELECT min_recovery_end_timeline
                          FROM pg_control_recovery()))::bigint
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))
                   ::bit(32)::bigint
       END AS timeline;
