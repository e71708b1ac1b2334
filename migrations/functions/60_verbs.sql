-- The operator's verbs on runs: CancelRun and RerunTasks, one server-side
-- function each, under the same (task, batch) advisory locks as StartRun and
-- FinishRun (50_runs.sql), so a verb and a transition of the same runs
-- serialize. As there, the functions decide and store/run_verbs.cc words the
-- answer. Actors are written as given ('' until the daemon passes one).

-- Ends PROCESSING run p_run as ERROR on an operator's word: error_message
-- "cancelled: <reason>" ("cancelled" without one), cancelled set, the lease
-- cleared; its PROCESSING files go back to NEW (RELEASED events, "run
-- cancelled") and the run gets a CANCELLED event. A run whose lease lapsed
-- but that the reaper has not ended yet is still PROCESSING, and is
-- cancelled like a live one. The cancelled run is an ERROR run: it spends
-- one of its task's attempts in the batch (40_rules.sql).
-- Outcomes: cancelled (files_released: those it held), replayed (already
-- cancelled, nothing changed; files_released: those its cancel released),
-- not_found, ended (ended otherwise). The caller reads the run afterwards,
-- in the same transaction. (A table rather than a metad_run_result: a
-- function returning that type would keep migration 0006's down from
-- dropping it.)
CREATE OR REPLACE FUNCTION metad_cancel_run(p_run bigint, p_reason text,
                                            p_actor text)
  RETURNS TABLE (outcome text, files_released bigint)
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_task_id bigint;
  v_batch text;
  v_message text;
  v_done bigint;
  v_files bigint;
  v_cancelled boolean;
BEGIN
  SELECT l.task_id, l.batch_id INTO v_task_id, v_batch
    FROM task_log l
   WHERE l.id = p_run;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, 0::bigint;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(v_batch, v_task_id));
  v_message := CASE WHEN p_reason = '' THEN 'cancelled'
                    ELSE 'cancelled: ' || p_reason END;
  WITH r AS (
    UPDATE task_log
       SET status = 'ERROR', error_message = v_message, end_time = now(),
           lease_expire_time = NULL, cancelled = true
     WHERE id = p_run AND status = 'PROCESSING'
    RETURNING id
  ), f AS (
    UPDATE files
       SET status = 'NEW', run_id = NULL, update_time = now()
      FROM r
     WHERE files.run_id = r.id AND files.status = 'PROCESSING'
    RETURNING files.id
  ), fe AS (
    INSERT INTO file_events (file_id, kind, from_status, to_status, run_id,
                             message, actor)
    SELECT id, 'RELEASED', 'PROCESSING', 'NEW', p_run, 'run cancelled',
           metad_actor(p_actor)
      FROM f
  ), re AS (
    INSERT INTO run_events (run_id, kind, from_status, to_status, message,
                            actor)
    SELECT id, 'CANCELLED', 'PROCESSING', 'ERROR', v_message, metad_actor(p_actor) FROM r
  )
  SELECT (SELECT id FROM r), (SELECT count(*) FROM f) INTO v_done, v_files;
  IF v_done IS NOT NULL THEN
    RETURN QUERY SELECT 'cancelled'::text, v_files;
    RETURN;
  END IF;
  SELECT l.cancelled INTO v_cancelled FROM task_log l WHERE l.id = p_run;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, 0::bigint;
  ELSIF v_cancelled THEN
    RETURN QUERY
      SELECT 'replayed'::text, count(*)
        FROM file_events e
       WHERE e.run_id = p_run AND e.kind = 'RELEASED'
         AND e.message = 'run cancelled';
  ELSE
    RETURN QUERY SELECT 'ended'::text, 0::bigint;
  END IF;
END
$$;

-- Reopens tasks p_task_ids (and, with p_downstream, every task below them
-- in the graph) in batch p_batch: their ended runs there that are not yet
-- superseded are marked superseded (a SUPERSEDED run event each), so that
-- StartRun accepts the tasks again with fresh attempts and their children
-- wait for them again (40_rules.sql). A PROCESSING run whose lease lapsed is
-- ended as expired first, as StartRun would; a live one refuses the whole
-- call. The (task, batch) locks are taken in task id order; the graph is
-- walked under the graph lock (shared: edge changes take it exclusively).
-- Answers, by task id, one row per reopened task: the named ones, and the
-- tasks below them that had runs to supersede, each with a REOPENED task
-- event (detail = p_reason):
--   ('reopened', task_id, task_name, NULL, runs superseded)
-- or one row ('run_in_progress', task_id, task_name, run_id, 0) naming a
-- live run, after which the caller must roll back (the expiries included).
CREATE OR REPLACE FUNCTION metad_rerun_tasks(p_batch text,
                                             p_task_ids bigint[],
                                             p_downstream boolean,
                                             p_reason text, p_actor text,
                                             p_expired_message text)
  RETURNS TABLE (outcome text, task_id bigint, task_name text,
                 run_id bigint, runs_superseded bigint)
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_ids bigint[];
  v_id bigint;
  v_message text;
BEGIN
  IF p_downstream THEN
    PERFORM pg_advisory_xact_lock_shared(1297367364, 1);
    WITH RECURSIVE down(id) AS (
      SELECT unnest(p_task_ids)
      UNION
      SELECT d.child_id FROM task_dependencies d JOIN down ON d.parent_id = down.id
    )
    SELECT array_agg(down.id ORDER BY down.id) INTO v_ids FROM down;
  ELSE
    SELECT array_agg(DISTINCT x ORDER BY x) INTO v_ids
      FROM unnest(p_task_ids) x;
  END IF;
  FOREACH v_id IN ARRAY coalesce(v_ids, '{}') LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended(p_batch, v_id));
  END LOOP;
  RETURN QUERY
    SELECT 'run_in_progress'::text, l.task_id, t.name, l.id, 0::bigint
      FROM task_log l JOIN tasks t ON t.id = l.task_id
     WHERE l.batch_id = p_batch AND l.task_id = ANY(v_ids)
       AND metad_run_live(l.status, l.lease_expire_time)
     ORDER BY l.task_id
     LIMIT 1;
  IF FOUND THEN
    RETURN;
  END IF;
  PERFORM metad_expire_run(l.id, p_expired_message)
     FROM task_log l
    WHERE l.batch_id = p_batch AND l.task_id = ANY(v_ids)
      AND l.status = 'PROCESSING';
  v_message := CASE WHEN p_reason = '' THEN 'reopened'
                    ELSE 'reopened: ' || p_reason END;
  RETURN QUERY
    WITH s AS (
      UPDATE task_log l
         SET superseded = true
       WHERE l.batch_id = p_batch AND l.task_id = ANY(v_ids)
         AND l.status <> 'PROCESSING' AND NOT l.superseded
      RETURNING l.id, l.task_id, l.status
    ), re AS (
      INSERT INTO run_events (run_id, kind, from_status, to_status, message,
                              actor)
      SELECT s.id, 'SUPERSEDED', s.status, s.status, v_message, metad_actor(p_actor)
        FROM s
    ), per_task AS (
      SELECT s.task_id, count(*) AS n FROM s GROUP BY s.task_id
    ), reopened AS (
      SELECT t.id, t.name, coalesce(p.n, 0) AS n
        FROM tasks t LEFT JOIN per_task p ON p.task_id = t.id
       WHERE t.id = ANY(p_task_ids) OR p.task_id IS NOT NULL
    ), te AS (
      INSERT INTO task_events (task, kind, detail, batch_id, actor)
      SELECT r.name, 'REOPENED', p_reason, p_batch, metad_actor(p_actor) FROM reopened r
    )
    SELECT 'reopened'::text, r.id, r.name, NULL::bigint, r.n
      FROM reopened r
     ORDER BY r.id;
END
$$;
