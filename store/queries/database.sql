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
