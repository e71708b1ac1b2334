-- The migrator's bookkeeping (store/migrator.cc): which numbered migrations
-- are applied (metad_schema_migrations) and which definition files
-- (metad_schema_definitions), under one advisory lock. The two tables are
-- made here, not by a migration: they record the migrations.

-- name: migrate.lock
-- Held for the whole of Up/Down, session-scoped, so only one process
-- changes the schema at a time.
SELECT pg_advisory_lock($1);

-- name: migrate.unlock
SELECT pg_advisory_unlock($1);

-- name: migrate.checksum
-- Computed by the server, so every binary agrees on it.
SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS checksum;

-- name: migrate.table_exists
SELECT to_regclass('metad_schema_migrations') IS NOT NULL AS present;

-- name: migrate.create_table
CREATE TABLE IF NOT EXISTS metad_schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrate.add_expand_only
-- Whether a migration only adds (docs/architecture.md, "The rollback
-- window"): recorded so that a metad that does not know it may still serve.
ALTER TABLE metad_schema_migrations
  ADD COLUMN IF NOT EXISTS expand_only boolean NOT NULL DEFAULT false;

-- name: migrate.list
-- Read through to_jsonb, so a table made before the expand_only column
-- existed reads as false instead of failing.
SELECT version, name, checksum, applied_at::text AS applied_at,
       coalesce((to_jsonb(m) ->> 'expand_only')::boolean, false) AS expand_only
FROM metad_schema_migrations m ORDER BY version;

-- name: migrate.record
INSERT INTO metad_schema_migrations (version, name, checksum, expand_only)
VALUES ($1, $2, $3, $4);

-- name: migrate.forget
DELETE FROM metad_schema_migrations WHERE version = $1;

-- name: migrate.definitions_table_exists
SELECT to_regclass('metad_schema_definitions') IS NOT NULL AS present;

-- name: migrate.create_definitions_table
CREATE TABLE IF NOT EXISTS metad_schema_definitions (
  name text PRIMARY KEY,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrate.definitions
SELECT name, checksum FROM metad_schema_definitions ORDER BY name;

-- name: migrate.record_definition
INSERT INTO metad_schema_definitions (name, checksum) VALUES ($1, $2);

-- name: migrate.forget_definitions
DELETE FROM metad_schema_definitions;
