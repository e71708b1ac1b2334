-- The rules of the logbook, each defined once. The run functions
-- (50_runs.sql), the ready queries (store/dependency_ready.cc), the status
-- page (store/status_page_store.cc), the lease reaper and every fenced write
-- of a run use these. The task graph held in memory (store/task_graph.cc) is
-- the one other implementation of "ready", held to metad_may_start by
-- tests/dependency_store_pgtest.cc on random graphs.
--
-- The scalar rules are LANGUAGE sql, STABLE, one expression and no
-- subquery, so the planner inlines them: a call costs nothing, and index
-- predicates still match. The table functions are single SELECTs, which the
-- planner inlines into the calling query as subqueries.

-- A run's lease has lapsed: anyone may end the run as expired (ERROR, "lease
-- expired"), and the run itself may no longer write.
CREATE OR REPLACE FUNCTION metad_lease_lapsed(p_lease_expire_time timestamptz)
  RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT p_lease_expire_time <= now() $$;

-- A live run: PROCESSING, its lease not lapsed. Only a live run may
-- heartbeat, claim files or finish.
CREATE OR REPLACE FUNCTION metad_run_live(p_status text,
                                          p_lease_expire_time timestamptz)
  RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT p_status = 'PROCESSING'
               AND NOT metad_lease_lapsed(p_lease_expire_time) $$;

-- A task's concurrency slots (migration 0011): a slot is held by a live
-- run that took one (concurrency_key not NULL), and only while it is live,
-- so a run that ends, is cancelled or whose lease lapses frees its slot at
-- once, before any reaper. The holders of key p_key: the task's live runs
-- under that key (task_log_slot_holders). metad_start_run counts them under
-- a per-task lock.
CREATE OR REPLACE FUNCTION metad_slot_holders(p_task bigint, p_key text)
  RETURNS TABLE (run_id bigint, worker_id text)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT l.id, l.worker_id
    FROM task_log l
   WHERE l.task_id = p_task AND l.concurrency_key = p_key
     AND metad_run_live(l.status, l.lease_expire_time)
$$;

-- The key a run of a limited task takes its slot under: '' for a global
-- limit (empty key label), else the value of that label in the run's
-- labels; NULL when they lack it (StartRun refuses the run).
CREATE OR REPLACE FUNCTION metad_concurrency_key(p_key_label text,
                                                 p_labels jsonb)
  RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
  SELECT CASE WHEN p_key_label = '' THEN '' ELSE p_labels ->> p_key_label END
$$;

-- The advisory lock that serializes the starts of one limited task (all
-- its keys: one lock per task keeps the lock order simple, see
-- metad_start_run).
CREATE OR REPLACE FUNCTION metad_concurrency_lock(p_task bigint)
  RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT hashtextextended('metad.concurrency', p_task) $$;

-- A task whose global limit is full (every slot held): it may not start in
-- any batch, so GetReadyTasks does not offer it. A keyed limit (a non-empty
-- key label) never makes a task unready: whether it can start depends on
-- the label value of the run a worker would start, which GetReadyTasks does
-- not know; StartRun decides.
CREATE OR REPLACE FUNCTION metad_concurrency_full(p_task bigint,
                                                  p_limit integer,
                                                  p_key_label text)
  RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT p_limit > 0 AND p_key_label = ''
         AND (SELECT count(*) FROM metad_slot_holders(p_task, '')) >= p_limit
$$;

-- The ids of every task whose global limit is full, ascending, as an array
-- literal: what GetReadyTasks leaves out and what a held answer was
-- computed with (store/ready_cache.h). Few tasks have a limit: the partial
-- index tasks_concurrency_limited finds them without a scan of tasks.
CREATE OR REPLACE FUNCTION metad_full_tasks()
  RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}')::text
    FROM tasks t
   WHERE t.concurrency_limit > 0 AND t.concurrency_key_label = ''
     AND metad_concurrency_full(t.id, t.concurrency_limit,
                                t.concurrency_key_label)
$$;

-- A superseded run (RerunTasks reopened its task in its batch after it
-- ended) stays in the log but no longer counts there: it neither blocks a
-- start, nor spends an attempt, nor meets a child's edge. Each rule below
-- that looks at runs takes its superseded flag.

-- A run that stops its task from starting again in its batch: a SUCCESS
-- that is not superseded, or a live run. (A lapsed run does not: StartRun
-- ends it first.)
CREATE OR REPLACE FUNCTION metad_run_blocks_start(p_status text,
                                                  p_lease_expire_time timestamptz,
                                                  p_superseded boolean)
  RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (p_status = 'SUCCESS' AND NOT p_superseded)
               OR metad_run_live(p_status, p_lease_expire_time) $$;

-- A run that spent one of its task's max_attempts in its batch: an ERROR
-- that is not superseded (a cancelled run is an ERROR, so it counts), or a
-- PROCESSING run whose lease lapsed (the ERROR run it is about to be).
CREATE OR REPLACE FUNCTION metad_run_spent_attempt(p_status text,
                                                   p_lease_expire_time timestamptz,
                                                   p_superseded boolean)
  RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NOT p_superseded
               AND (p_status = 'ERROR'
                    OR (p_status = 'PROCESSING'
                        AND metad_lease_lapsed(p_lease_expire_time))) $$;

-- Edges whose parent has no SUCCESS run in batch p_batch that is not
-- superseded (probes the task_log_one_live_success partial index): their
-- child waits for that parent. Callers filter by child_id (the planner
-- pushes it into the edge scan) or group by it.
CREATE OR REPLACE FUNCTION metad_unmet_edges(p_batch text)
  RETURNS TABLE (parent_id bigint, child_id bigint)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT d.parent_id, d.child_id
    FROM task_dependencies d
   WHERE NOT EXISTS (SELECT 1 FROM task_log s
                      WHERE s.task_id = d.parent_id
                        AND s.batch_id = p_batch
                        AND s.status = 'SUCCESS'
                        AND NOT s.superseded)
$$;

-- The start rule ("ready"): a task may start in a batch when none of its
-- runs there blocks it, it has attempts left, and no parent is unmet.
-- Given those as a task's runs in the batch summed up:
--   p_blocked       bool_or(metad_run_blocks_start(...)), NULL for no runs;
--   p_spent         count of metad_run_spent_attempt(...) runs;
-- (superseded runs count in neither, and then as no runs at all).
--   p_unmet_parents count of its metad_unmet_edges, NULL for none.
-- metad_start_run checks the same parts one by one, to word its refusal.
CREATE OR REPLACE FUNCTION metad_may_start(p_blocked boolean, p_spent bigint,
                                           p_max_attempts integer,
                                           p_unmet_parents bigint)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT p_blocked IS NOT TRUE
               AND coalesce(p_spent, 0) < p_max_attempts
               AND coalesce(p_unmet_parents, 0) = 0 $$;

-- Every task in batch p_batch: its runs there that are not superseded
-- (attempts), the latest of them, and whether it may start
-- (metad_may_start). A task whose runs were all superseded has no latest
-- run and 0 attempts, as one that never ran. Set-based: one pass over the
-- batch's runs and one over the edges, whatever the number of tasks.
-- GetReadyTasks without targets and the status page read it; with targets,
-- GetReadyTasks sums up only the targets' upstream closure the same way.
CREATE OR REPLACE FUNCTION metad_batch_readiness(p_batch text)
  RETURNS TABLE (task_id bigint, attempts bigint, latest_run_id bigint,
                 ready boolean)
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT t.id, coalesce(r.attempts, 0), r.latest_run_id,
         metad_may_start(r.blocked, r.spent, t.max_attempts, u.unmet)
           AND NOT metad_concurrency_full(t.id, t.concurrency_limit,
                                          t.concurrency_key_label)
    FROM tasks t
    LEFT JOIN (
      SELECT l.task_id, count(*) AS attempts, max(l.id) AS latest_run_id,
             bool_or(metad_run_blocks_start(l.status, l.lease_expire_time,
                                            l.superseded))
               AS blocked,
             count(*) FILTER (WHERE metad_run_spent_attempt(
                                      l.status, l.lease_expire_time,
                                      l.superseded))
               AS spent
        FROM task_log l
       WHERE l.batch_id = p_batch AND NOT l.superseded
       GROUP BY l.task_id
    ) r ON r.task_id = t.id
    LEFT JOIN (
      SELECT e.child_id, count(*) AS unmet
        FROM metad_unmet_edges(p_batch) e
       GROUP BY e.child_id
    ) u ON u.child_id = t.id
$$;
