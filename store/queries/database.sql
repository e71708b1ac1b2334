-- The pool and transaction runner's own statements (store/database.cc).

-- name: db.set_statement_timeout
-- Local to the transaction: the time left before the call's deadline.
SELECT set_config('statement_timeout', $1, true);

-- name: db.set_session_statement_timeout
-- For Database::Autocommit, where each statement is its own transaction.
SELECT set_config('statement_timeout', $1, false);

-- name: db.ping
SELECT 1;
