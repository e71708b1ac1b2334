-- StartRun and FinishRun as one server-side function each (first written
-- in migration 0006; docs/benchmarks.md, Finding 4 says why): run in the
-- database they cost one round trip instead of six to eight. The rules they
-- apply are 40_rules.sql's. The functions decide; the daemon words every
-- refusal: each returns one metad_run_result (migration 0006) holding the
-- run (NULL columns when there is none) and an outcome code with the
-- figures its message needs; store/run_store.cc maps the code to a
-- RunOutcome. Each statement of a PL/pgSQL function takes a new snapshot
-- (READ COMMITTED), so the checks after the advisory lock see what the
-- lock's previous holder committed.
--
-- After the pass that finds a lapsed PROCESSING run and expires it, the
-- ERROR run it became counts as a spent attempt, as metad_run_spent_attempt
-- says.

-- Ends a PROCESSING run whose lease lapsed, releases its files and writes
-- the events. No row when the run is not (or no longer) both. The caller
-- holds the run's (task, batch) lock.
CREATE OR REPLACE FUNCTION metad_expire_run(p_run bigint, p_message text)
  RETURNS TABLE (run_id bigint, task_id bigint, task_name text,
                 batch_id text, files_released bigint)
  LANGUAGE sql VOLATILE
  AS $$
  WITH r AS (
    UPDATE task_log
       SET status = 'ERROR', error_message = p_message, end_time = now(),
           lease_expire_time = NULL
     WHERE id = p_run AND status = 'PROCESSING'
       AND metad_lease_lapsed(lease_expire_time)
    RETURNING id, task_id, batch_id
  ), f AS (
    UPDATE files
       SET status = 'NEW', run_id = NULL, update_time = now()
      FROM r
     WHERE files.run_id = r.id AND files.status = 'PROCESSING'
    RETURNING files.id
  ), fe AS (
    INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                             message, actor)
    SELECT id, 'RELEASED', 'PROCESSING', 'NEW', p_run, p_message, 'metad'
      FROM f
  ), re AS (
    -- The daemon's own change, whoever's call found the lease lapsed.
    INSERT INTO run_events (run_id, kind, from_status, to_status, message,
                            actor)
    SELECT id, 'EXPIRED', 'PROCESSING', 'ERROR', p_message, 'metad' FROM r
  )
  SELECT r.id, r.task_id, t.name, r.batch_id, (SELECT count(*) FROM f)
    FROM r JOIN tasks t ON t.id = r.task_id
$$;

-- The run's columns are metad_run_row's (15_rows.sql), written out: this
-- function is planned again in every transaction that calls it (a SQL
-- function called from PL/pgSQL is not inlined), and inlining metad_run_row
-- into it added 0.05-0.14 ms to each call (pgbench, measured), against
-- about 1 ms for a whole metad_start_run.
--
-- The run's cancelled and superseded flags (added by migration 0008) and
-- its labels (0010) end metad_run_result, after the outcome columns.
CREATE OR REPLACE FUNCTION metad_run_answer(p_run bigint, p_outcome text, p_detail text,
                                  p_n1 bigint, p_n2 bigint)
  RETURNS metad_run_result
  LANGUAGE sql STABLE
  AS $$
  SELECT r.id, r.task_id, t.name, r.batch_id, r.status, r.attempt,
         r.worker_id, metad_us(r.lease_expire_time), r.error_message,
         metad_us(r.start_time), metad_us(r.heartbeat_time),
         metad_us(r.end_time), r.request_id,
         p_outcome, p_detail, p_n1, p_n2, r.cancelled, r.superseded,
         r.labels
    FROM (SELECT p_run AS id) k
    LEFT JOIN task_log r ON r.id = k.id
    LEFT JOIN tasks t ON t.id = r.task_id
$$;

-- Outcomes: created (run), existing (run: the request_id's own run),
-- request_id_reused (run: the other run), task_not_found,
-- run_in_progress (n1 = the PROCESSING run), already_succeeded (n1 = the
-- SUCCESS run), attempts_exhausted (n1 = ERROR runs, n2 = max_attempts;
-- superseded runs count in neither, see 40_rules.sql),
-- parents_unmet (detail = the parents, ", "-separated), conflicting
-- (inserts kept losing races outside the lock: the caller retries),
-- concurrency_limit (every slot of the key is held: n1 = the limit, n2 =
-- the holders; detail = three lines: the key, the holders as "run N
-- (worker W)" ", "-separated, their run ids ","-separated),
-- concurrency_key_missing (detail = the task's key label, which the run's
-- labels lack).
-- p_labels: the run's labels, a JSON object of strings (migration 0010),
-- validated by the daemon; a retry of a request_id answers the first run
-- with its own labels.
--
-- Concurrency limits (migration 0011): starts of one limited task take a
-- per-task lock before the (task, batch) lock, so two starts never both
-- see a free last slot, in any replica; the group commit orders its calls
-- by task, then batch, so every transaction takes these locks in one order.
-- The check comes last (after the request_id, so a retry still gets its
-- run): the holders are the live runs under the key, read after the lock.
CREATE OR REPLACE FUNCTION metad_start_run(p_task text, p_batch text, p_worker text,
                                p_lease_seconds integer, p_request_id text,
                                p_expired_message text, p_labels jsonb)
  RETURNS metad_run_result
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_task_id bigint;
  v_max_attempts bigint;
  v_lease integer;
  v_run bigint;
  v_run_task bigint;
  v_run_batch text;
  v_processing bigint;
  v_lapsed boolean;
  v_success bigint;
  v_errors bigint;
  v_attempt integer;
  v_parents text;
  v_limit integer;
  v_key_label text;
  v_key text;
  v_holders bigint;
  v_holder_text text;
  v_holder_ids text;
BEGIN
  -- FOR KEY SHARE: a concurrent DeleteTask waits for this run to exist.
  SELECT t.id, t.max_attempts, t.default_lease_seconds, t.concurrency_limit,
         t.concurrency_key_label
    INTO v_task_id, v_max_attempts, v_lease, v_limit, v_key_label
    FROM tasks t
   WHERE t.name = p_task
     FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN metad_run_answer(NULL, 'task_not_found', NULL, NULL, NULL);
  END IF;
  IF p_lease_seconds > 0 THEN
    v_lease := p_lease_seconds;
  END IF;
  IF v_limit > 0 THEN
    v_key := metad_concurrency_key(v_key_label, coalesce(p_labels, '{}'));
    PERFORM pg_advisory_xact_lock(metad_concurrency_lock(v_task_id));
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_batch, v_task_id));
  -- A pass ends in an answer, or loops after expiring a lapsed run or
  -- losing an insert race to a caller outside the lock.
  FOR pass IN 1..3 LOOP
    IF p_request_id IS NOT NULL THEN
      SELECT l.id, l.task_id, l.batch_id INTO v_run, v_run_task, v_run_batch
        FROM task_log l
       WHERE l.request_id = p_request_id;
      IF FOUND THEN
        IF v_run_task <> v_task_id OR v_run_batch <> p_batch THEN
          RETURN metad_run_answer(v_run, 'request_id_reused', NULL, NULL,
                                   NULL);
        END IF;
        RETURN metad_run_answer(v_run, 'existing', NULL, NULL, NULL);
      END IF;
    END IF;
    SELECT max(l.id) FILTER (WHERE l.status = 'PROCESSING'),
           bool_or(metad_lease_lapsed(l.lease_expire_time))
             FILTER (WHERE l.status = 'PROCESSING'),
           max(l.id) FILTER (WHERE l.status = 'SUCCESS'
                                   AND NOT l.superseded),
           count(*) FILTER (WHERE metad_run_spent_attempt(
                                    l.status, l.lease_expire_time,
                                    l.superseded)),
           -- Attempts keep counting up over superseded runs too.
           coalesce(max(l.attempt), 0)
      INTO v_processing, v_lapsed, v_success, v_errors, v_attempt
      FROM task_log l
     WHERE l.task_id = v_task_id AND l.batch_id = p_batch;
    IF v_processing IS NOT NULL THEN
      IF v_lapsed THEN
        PERFORM metad_expire_run(v_processing, p_expired_message);
        CONTINUE;
      END IF;
      RETURN metad_run_answer(NULL, 'run_in_progress', NULL, v_processing,
                               NULL);
    END IF;
    IF v_success IS NOT NULL THEN
      RETURN metad_run_answer(NULL, 'already_succeeded', NULL, v_success,
                               NULL);
    END IF;
    IF v_errors >= v_max_attempts THEN
      RETURN metad_run_answer(NULL, 'attempts_exhausted', NULL, v_errors,
                               v_max_attempts);
    END IF;
    SELECT string_agg(p.name, ', ' ORDER BY p.name)
      INTO v_parents
      FROM metad_unmet_edges(p_batch) u
      JOIN tasks p ON p.id = u.parent_id
     WHERE u.child_id = v_task_id;
    IF v_parents IS NOT NULL THEN
      RETURN metad_run_answer(NULL, 'parents_unmet', v_parents, NULL, NULL);
    END IF;
    IF v_limit > 0 THEN
      IF v_key IS NULL THEN
        RETURN metad_run_answer(NULL, 'concurrency_key_missing', v_key_label,
                                 NULL, NULL);
      END IF;
      SELECT count(*),
             string_agg('run ' || h.run_id || ' (worker ' || h.worker_id || ')',
                        ', ' ORDER BY h.run_id),
             string_agg(h.run_id::text, ',' ORDER BY h.run_id)
        INTO v_holders, v_holder_text, v_holder_ids
        FROM metad_slot_holders(v_task_id, v_key) h;
      IF v_holders >= v_limit THEN
        RETURN metad_run_answer(NULL, 'concurrency_limit',
                                 v_key || E'\n' || v_holder_text || E'\n'
                                   || v_holder_ids,
                                 v_limit, v_holders);
      END IF;
    END IF;
    -- ON CONFLICT DO NOTHING: the unique partial indexes (one PROCESSING
    -- and one live SUCCESS run per task and batch, unique request_id) answer
    -- races the advisory lock does not cover; the next pass finds out which.
    WITH r AS (
      INSERT INTO task_log (task_id, batch_id, status, attempt, worker_id,
                            lease_seconds, lease_expire_time, request_id,
                            labels, concurrency_key, start_time)
      VALUES (v_task_id, p_batch, 'PROCESSING', v_attempt + 1, p_worker,
              v_lease, now() + v_lease * interval '1 second', p_request_id,
              coalesce(p_labels, '{}'), CASE WHEN v_limit > 0 THEN v_key END,
              -- A slot's holder records when it took the slot (after the
              -- lock and the count), not when its transaction began: the
              -- run log then shows the holders' intervals as they were.
              CASE WHEN v_limit > 0 THEN clock_timestamp() ELSE now() END)
      ON CONFLICT DO NOTHING
      RETURNING id
    ), e AS (
      INSERT INTO run_events (run_id, kind, from_status, to_status)
      SELECT id, 'STARTED', NULL, 'PROCESSING' FROM r
    )
    SELECT id INTO v_run FROM r;
    IF v_run IS NOT NULL THEN
      RETURN metad_run_answer(v_run, 'created', NULL, NULL, NULL);
    END IF;
  END LOOP;
  RETURN metad_run_answer(NULL, 'conflicting', NULL, NULL, NULL);
END
$$;

-- The form daemons before migration 0010 call (a rolling upgrade runs old
-- and new daemons on one schema): no labels.
CREATE OR REPLACE FUNCTION metad_start_run(p_task text, p_batch text, p_worker text,
                                p_lease_seconds integer, p_request_id text,
                                p_expired_message text)
  RETURNS metad_run_result
  LANGUAGE sql VOLATILE
  AS $$
  SELECT metad_start_run(p_task, p_batch, p_worker, p_lease_seconds,
                         p_request_id, p_expired_message, '{}'::jsonb)
$$;

-- FinishRun's default wording of a file it releases because the worker did
-- not name it.
CREATE OR REPLACE FUNCTION metad_unnamed_release_message() RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT 'not named by FinishRun'::text $$;

-- Outcomes: finished (run, n1 = held files set to the run's outcome, n2 =
-- held files not named and released to NEW), replayed (run: it already
-- ended this way by a FinishRun; n1, n2 that call's figures), not_found,
-- ended (run: its status and message say how), lease_expired (n1 = when
-- the lease lapsed, in microseconds; the run is ended as expired here),
-- file_not_found (n1 = a named file that does not exist), file_not_held
-- (n1 = a named file the run neither holds nor completed, n2 = the run
-- that holds or last processed it, detail = its status). Refusals change
-- nothing (but a lapsed run is expired).
--
-- p_files are the files the worker names (p_settle_all false): held ones
-- take the run's outcome, held ones not named go back to NEW (the worker
-- never saw them: a lost ClaimFiles answer). p_settle_all: every held file
-- takes the outcome (the unsafe form of workers that name none).
CREATE OR REPLACE FUNCTION metad_finish_run(p_run bigint, p_status text, p_message text,
                                 p_expired_message text, p_files bigint[],
                                 p_settle_all boolean)
  RETURNS metad_run_result
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_task_id bigint;
  v_batch text;
  v_status text;
  v_message text;
  v_lease_us bigint;
  v_lapsed boolean;
  v_finish_files integer;
  v_finish_released integer;
  v_bad bigint;
  v_bad_run bigint;
  v_bad_status text;
  v_files bigint;
  v_released bigint;
BEGIN
  SELECT l.task_id, l.batch_id INTO v_task_id, v_batch
    FROM task_log l
   WHERE l.id = p_run;
  IF NOT FOUND THEN
    RETURN metad_run_answer(NULL, 'not_found', NULL, NULL, NULL);
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(v_batch, v_task_id));
  -- FOR UPDATE waits for the ClaimFiles and CompleteFile transactions that
  -- hold the run FOR SHARE (file.lock_run), so the statements below (each
  -- with a fresh snapshot) see every file they claimed; after it, they wait
  -- for us and then find the run ended.
  SELECT l.status, l.error_message, metad_us(l.lease_expire_time),
         metad_lease_lapsed(l.lease_expire_time), l.finish_files,
         l.finish_released
    INTO v_status, v_message, v_lease_us, v_lapsed, v_finish_files,
         v_finish_released
    FROM task_log l
   WHERE l.id = p_run
     FOR UPDATE;
  IF v_status <> 'PROCESSING' THEN
    -- A retry of the FinishRun that ended it answers as that call did.
    IF v_finish_files IS NOT NULL AND v_status = p_status
       AND v_message = p_message THEN
      RETURN metad_run_answer(p_run, 'replayed', NULL, v_finish_files,
                               v_finish_released);
    END IF;
    RETURN metad_run_answer(p_run, 'ended', NULL, NULL, NULL);
  END IF;
  IF v_lapsed THEN
    PERFORM metad_expire_run(p_run, p_expired_message);
    RETURN metad_run_answer(NULL, 'lease_expired', NULL, v_lease_us, NULL);
  END IF;
  -- Every named file must be the run's: held, or completed by it.
  IF NOT p_settle_all AND cardinality(p_files) > 0 THEN
    SELECT n.id, f.run_id, f.status INTO v_bad, v_bad_run, v_bad_status
      FROM unnest(p_files) AS n(id)
      LEFT JOIN files f ON f.id = n.id
     WHERE f.run_id IS DISTINCT FROM p_run
     LIMIT 1;
    IF v_bad IS NOT NULL THEN
      IF v_bad_status IS NULL THEN
        RETURN metad_run_answer(NULL, 'file_not_found', NULL, v_bad, NULL);
      END IF;
      RETURN metad_run_answer(NULL, 'file_not_held', v_bad_status, v_bad,
                               v_bad_run);
    END IF;
  END IF;
  -- One statement (a round of planning and executing less than one per
  -- step: FinishRun is a hot path): the held files, their events, the run
  -- with the figures a retry is answered with, its event.
  WITH f AS (
    UPDATE files
       SET status = CASE WHEN k.named THEN p_status ELSE 'NEW' END,
           run_id = CASE WHEN k.named THEN p_run END,
           error_message = CASE WHEN k.named THEN p_message ELSE '' END,
           update_time = now()
      FROM (SELECT h.id,
                   p_settle_all OR h.id IN (SELECT unnest(p_files)) AS named
              FROM files h
             WHERE h.run_id = p_run AND h.status = 'PROCESSING') k
     WHERE files.id = k.id
    RETURNING files.id, k.named
  ), fe AS (
    INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                             message)
    SELECT id, CASE WHEN named THEN 'FINISHED' ELSE 'RELEASED' END,
           'PROCESSING', CASE WHEN named THEN p_status ELSE 'NEW' END, p_run,
           CASE WHEN named THEN p_message
                ELSE metad_unnamed_release_message() END
      FROM f
  ), counts AS (
    SELECT count(*) FILTER (WHERE named) AS finished,
           count(*) FILTER (WHERE NOT named) AS released
      FROM f
  ), r AS (
    UPDATE task_log
       SET status = p_status, error_message = p_message, end_time = now(),
           lease_expire_time = NULL,
           finish_files = (SELECT finished FROM counts),
           finish_released = (SELECT released FROM counts)
     WHERE id = p_run
    RETURNING id
  ), re AS (
    INSERT INTO run_events (run_id, kind, from_status, to_status, message)
    SELECT id, 'FINISHED', 'PROCESSING', p_status, p_message FROM r
  )
  SELECT finished, released INTO v_files, v_released FROM counts;
  RETURN metad_run_answer(p_run, 'finished', NULL, v_files, v_released);
END
$$;

-- The form daemons before migration 0008 call (a rolling upgrade runs old
-- and new daemons on one schema): every held file takes the outcome.
CREATE OR REPLACE FUNCTION metad_finish_run(p_run bigint, p_status text, p_message text,
                                 p_expired_message text)
  RETURNS metad_run_result
  LANGUAGE sql VOLATILE
  AS $$
  SELECT metad_finish_run(p_run, p_status, p_message, p_expired_message,
                          '{}'::bigint[], true)
$$;

-- Group commit (store/group_commit.h): concurrent StartRun or FinishRun
-- calls share one statement and one commit. Element i of the answer is
-- call i's, as if the calls ran one after another in array order (the
-- caller orders them so that concurrent batches take their locks in the
-- same order). An empty request_id means none; p_labels holds each call's
-- labels as JSON text ('{}' for none).
CREATE OR REPLACE FUNCTION metad_start_runs(p_tasks text[], p_batches text[],
                                 p_workers text[], p_lease_seconds integer[],
                                 p_request_ids text[], p_expired_message text,
                                 p_labels text[])
  RETURNS SETOF metad_run_result
  LANGUAGE plpgsql VOLATILE
  AS $$
BEGIN
  FOR i IN 1..coalesce(array_length(p_tasks, 1), 0) LOOP
    RETURN NEXT metad_start_run(p_tasks[i], p_batches[i], p_workers[i],
                                p_lease_seconds[i],
                                nullif(p_request_ids[i], ''),
                                p_expired_message,
                                coalesce(p_labels[i], '{}')::jsonb);
  END LOOP;
END
$$;

-- The pre-0010 form (see the six-argument metad_start_run).
CREATE OR REPLACE FUNCTION metad_start_runs(p_tasks text[], p_batches text[],
                                 p_workers text[], p_lease_seconds integer[],
                                 p_request_ids text[], p_expired_message text)
  RETURNS SETOF metad_run_result
  LANGUAGE sql VOLATILE
  AS $$
  SELECT * FROM metad_start_runs(p_tasks, p_batches, p_workers,
                                 p_lease_seconds, p_request_ids,
                                 p_expired_message, '{}'::text[])
$$;

-- p_files holds every call's named files one after another, p_file_counts
-- how many are each call's (a PL/pgSQL array cannot be ragged).
CREATE OR REPLACE FUNCTION metad_finish_runs(p_runs bigint[], p_statuses text[],
                                  p_messages text[], p_expired_message text,
                                  p_files bigint[], p_file_counts integer[],
                                  p_settle_all boolean[])
  RETURNS SETOF metad_run_result
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_at integer := 0;
BEGIN
  FOR i IN 1..coalesce(array_length(p_runs, 1), 0) LOOP
    RETURN NEXT metad_finish_run(p_runs[i], p_statuses[i], p_messages[i],
                                 p_expired_message,
                                 coalesce(p_files[v_at + 1:v_at + p_file_counts[i]],
                                          '{}'),
                                 p_settle_all[i]);
    v_at := v_at + p_file_counts[i];
  END LOOP;
END
$$;

-- The pre-0008 form (see the four-argument metad_finish_run).
CREATE OR REPLACE FUNCTION metad_finish_runs(p_runs bigint[], p_statuses text[],
                                  p_messages text[], p_expired_message text)
  RETURNS SETOF metad_run_result
  LANGUAGE plpgsql VOLATILE
  AS $$
BEGIN
  FOR i IN 1..coalesce(array_length(p_runs, 1), 0) LOOP
    RETURN NEXT metad_finish_run(p_runs[i], p_statuses[i], p_messages[i],
                                 p_expired_message, '{}'::bigint[], true);
  END LOOP;
END
$$;
