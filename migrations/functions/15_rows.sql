-- The shape of each kind of row the daemon reads: its columns, their names
-- and how each is encoded (times as metad_us microseconds), defined once.
-- store/queries/*.sql select them by name and the stores read the columns by
-- name (store/file_store.cc's ReadFile, run_store.cc's ReadRun, ...):
--
--   SELECT r.* FROM files f CROSS JOIN LATERAL metad_file_row(f) r
--    WHERE f.id = $1;
--
-- and, for rows a data-modifying CTE returns (its outer SELECT cannot read
-- the table it changed), RETURNING the table's columns, cast back to its
-- row type:
--
--   WITH done AS (UPDATE files SET ... RETURNING files.*)
--   SELECT r.* FROM done d CROSS JOIN LATERAL metad_file_row(d::files) r;
--
-- or, beside other columns, RETURNING the row whole (`RETURNING r AS run,
-- t.name AS task_name`, then metad_run_row(b.run, b.task_name)).
--
-- Each is a single SELECT without FROM, LANGUAGE sql and STABLE, so the
-- planner inlines it: the row's fields become the scan's own columns, and
-- the plan is the one of the columns written out (EXPLAIN VERBOSE shows the
-- same scans and the expressions in the Output lines). The row parameter is
-- anyelement rather than the table's type: a parameter of a table's row
-- type would make the function depend on the table, so a down migration's
-- DROP TABLE would fail, as it would with a view. Given a row of another
-- table, a call fails when it is planned.
--
-- Inlining is redone whenever a statement is planned: once per connection
-- for a statement that settles on a generic plan, but on every call for one
-- that keeps custom plans (a LIMIT $n or an array's size makes PostgreSQL
-- keep them), where it cost 0.03-0.1 ms per call (measured). The hot
-- statements of that kind write the columns out instead, by the same names
-- (file.register_read, the claims, the watch reads, ready_for_targets).

-- An event's actor as read: the one recorded, or for an event of a run's
-- own calls written without one (StartRun and FinishRun commit without a
-- transaction of their own, so no metad.actor), the run's worker_id.
CREATE OR REPLACE FUNCTION metad_event_actor(p_actor text, p_run bigint)
  RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT coalesce(nullif(p_actor, ''),
                  (SELECT l.worker_id FROM task_log l WHERE l.id = p_run), '')
$$;

-- A task (metad.v1.Task). The etag is the id and the row's version
-- (migration 0009: bumped by every UPDATE that changes the row), so it
-- changes with every change, and a task registered again after a delete
-- never repeats an etag of the one before. (DROP first: see
-- metad_file_row.)
DROP FUNCTION IF EXISTS metad_task_row(anyelement);
CREATE FUNCTION metad_task_row(t anyelement)
  RETURNS TABLE (id bigint, name text, description text, max_attempts integer,
                 default_lease_seconds integer, create_us bigint,
                 update_us bigint, etag text, concurrency_limit integer,
                 concurrency_key_label text, expected_duration_us bigint)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT t.id, t.name, t.description, t.max_attempts, t.default_lease_seconds,
         metad_us(t.create_time), metad_us(t.update_time),
         t.id || '-' || t.version, t.concurrency_limit, t.concurrency_key_label,
         (extract(epoch FROM t.expected_duration) * 1000000)::bigint
$$;

-- A run (metad.v1.Run) of task_log, with its task's name (NULL where the
-- caller does not need it). The same columns up to request_id, in the same
-- order, begin metad_run_result (migration 0006), which metad_run_answer
-- (50_runs.sql) fills with them written out: see there why, and how it
-- carries cancelled, superseded and labels after its outcome columns.
-- labels is jsonb's text (migration 0010). (DROP first: see metad_file_row.)
DROP FUNCTION IF EXISTS metad_run_row(anyelement, text);
CREATE FUNCTION metad_run_row(r anyelement, p_task_name text)
  RETURNS TABLE (id bigint, task_id bigint, task_name text, batch_id text,
                 status text, attempt integer, worker_id text,
                 lease_expire_us bigint, error_message text, start_us bigint,
                 heartbeat_us bigint, end_us bigint, request_id text,
                 cancelled boolean, superseded boolean, labels text)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT r.id, r.task_id, p_task_name, r.batch_id, r.status, r.attempt,
         r.worker_id, metad_us(r.lease_expire_time), r.error_message,
         metad_us(r.start_time), metad_us(r.heartbeat_time),
         metad_us(r.end_time), r.request_id, r.cancelled, r.superseded,
         r.labels::text
$$;

-- A file (metad.v1.File). attributes is jsonb's text. (DROP first: CREATE
-- OR REPLACE cannot change the columns of a RETURNS TABLE, and nothing
-- depends on these functions; the definitions are applied in one
-- transaction, so no statement ever finds them missing.)
DROP FUNCTION IF EXISTS metad_file_row(anyelement);
CREATE FUNCTION metad_file_row(f anyelement)
  RETURNS TABLE (id bigint, source text, file_name text, status text,
                 checksum text, size_bytes bigint, row_count bigint,
                 attributes text, run_id bigint, error_message text,
                 create_us bigint, update_us bigint, version integer,
                 producer_run_id bigint)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT f.id, f.source, f.file_name, f.status, f.checksum, f.size_bytes,
         f.row_count, f.attributes::text, f.run_id, f.error_message,
         metad_us(f.create_time), metad_us(f.update_time), f.version,
         f.producer_run_id
$$;

-- A file event (metad.v1.FileEvent). from_status and run_id may be NULL;
-- detail is jsonb's text or NULL (CHANGED: {"previous": {...}, "current":
-- {...}}, each {"version", "checksum", "size_bytes"}, size NULL if unknown).
DROP FUNCTION IF EXISTS metad_file_event_row(anyelement);
CREATE FUNCTION metad_file_event_row(e anyelement)
  RETURNS TABLE (id bigint, file_id bigint, kind text, from_status text,
                 to_status text, run_id bigint, message text,
                 event_us bigint, actor text, detail text)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT e.id, e.file_id, e.kind, e.from_status, e.to_status, e.run_id,
         e.message, metad_us(e.event_time), metad_event_actor(e.actor, e.run_id),
         e.detail::text
$$;

-- A run event (metad.v1.RunEvent). from_status may be NULL.
CREATE OR REPLACE FUNCTION metad_run_event_row(e anyelement)
  RETURNS TABLE (id bigint, run_id bigint, kind text, from_status text,
                 to_status text, message text, event_us bigint, actor text)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT e.id, e.run_id, e.kind, e.from_status, e.to_status, e.message,
         metad_us(e.event_time), metad_event_actor(e.actor, e.run_id)
$$;

-- An edge of the dependency graph (metad.v1.Dependency), with its tasks'
-- names.
CREATE OR REPLACE FUNCTION metad_dependency_row(d anyelement,
                                                p_parent_name text,
                                                p_child_name text)
  RETURNS TABLE (parent_id bigint, parent_name text, child_id bigint,
                 child_name text, create_us bigint)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT d.parent_id, p_parent_name, d.child_id, p_child_name,
         metad_us(d.create_time)
$$;
