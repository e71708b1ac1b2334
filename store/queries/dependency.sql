-- The dependency graph: task_dependencies (migrations/0001_init.up.sql) and
-- task_graph_version (0007), run by store/dependency_store.cc (edges and
-- walks) and store/dependency_ready.cc (GetReadyTasks). Tasks are read as
-- metad_task_row, edges as metad_dependency_row
-- (migrations/functions/15_rows.sql); the ready rule is metad_may_start
-- (migrations/functions/40_rules.sql).

-- name: dependency.upstream_edges
-- The edges of the upstream closure of the seeds: every edge whose child is
-- a seed or reachable from one. UNION on the bare id expands each task
-- once, so the walk is linear in the subgraph's size however many paths
-- lead to a task; depths are computed in C++ from these edges (carrying a
-- depth or a path in the recursive rows would expand a task once per
-- distinct depth or path).
WITH RECURSIVE up(id) AS (
  SELECT unnest($1::bigint[])
  UNION
  SELECT d.parent_id FROM task_dependencies d JOIN up ON d.child_id = up.id
)
SELECT d.parent_id, d.child_id
FROM up JOIN task_dependencies d ON d.child_id = up.id;

-- name: dependency.downstream_edges
-- The edges of the downstream closure of the seeds, as
-- dependency.upstream_edges.
WITH RECURSIVE down(id) AS (
  SELECT unnest($1::bigint[])
  UNION
  SELECT d.child_id FROM task_dependencies d JOIN down ON d.parent_id = down.id
)
SELECT d.parent_id, d.child_id
FROM down JOIN task_dependencies d ON d.parent_id = down.id;

-- name: dependency.tasks_by_ids
SELECT x.*
FROM tasks t CROSS JOIN LATERAL metad_task_row(t) x
WHERE t.id = ANY($1::bigint[])
ORDER BY t.id;

-- name: dependency.lock_graph
-- Serializes every change of the edges. The two-int key space of advisory
-- locks is separate from the bigint keys the run transitions use, so no
-- collision.
SELECT pg_advisory_xact_lock(1297367364, 1);

-- name: dependency.get_edge
SELECT metad_us(create_time) AS create_us
FROM task_dependencies WHERE parent_id = $1 AND child_id = $2;

-- name: dependency.reaches
-- Whether $2 is reachable from $1 along parent -> child edges. The
-- recursive CTE is evaluated lazily, so the walk stops as soon as $2 turns
-- up.
WITH RECURSIVE down(id) AS (
  SELECT $1::bigint
  UNION
  SELECT d.child_id FROM task_dependencies d JOIN down ON d.parent_id = down.id
)
SELECT 1 AS found FROM down WHERE id = $2 LIMIT 1;

-- name: dependency.insert_edge
INSERT INTO task_dependencies (parent_id, child_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING metad_us(create_time) AS create_us;

-- name: dependency.remove_edge
DELETE FROM task_dependencies WHERE parent_id = $1 AND child_id = $2
RETURNING metad_us(create_time) AS create_us;

-- name: dependency.list_parents
-- A page of the edges into $1: parents after id $2, at most $3.
SELECT x.*
FROM task_dependencies d
JOIN tasks p ON p.id = d.parent_id
JOIN tasks c ON c.id = d.child_id
CROSS JOIN LATERAL metad_dependency_row(d, p.name, c.name) x
WHERE d.child_id = $1 AND d.parent_id > $2
ORDER BY d.parent_id
LIMIT $3::bigint;

-- name: dependency.list_children
-- A page of the edges out of $1: children after id $2, at most $3.
SELECT x.*
FROM task_dependencies d
JOIN tasks p ON p.id = d.parent_id
JOIN tasks c ON c.id = d.child_id
CROSS JOIN LATERAL metad_dependency_row(d, p.name, c.name) x
WHERE d.parent_id = $1 AND d.child_id > $2
ORDER BY d.child_id
LIMIT $3::bigint;

-- name: dependency.ready_all
-- GetReadyTasks from SQL, every task: metad_batch_readiness, set-based;
-- a page: ids after $2, at most $3.
SELECT x.*
FROM tasks t
JOIN metad_batch_readiness($1) r ON r.task_id = t.id
CROSS JOIN LATERAL metad_task_row(t) x
WHERE r.ready AND t.id > $2
ORDER BY t.id
LIMIT $3::bigint;

-- name: dependency.ready_for_targets
-- GetReadyTasks from SQL, for targets: the candidates are the targets'
-- upstream closure (each task expanded once); each is summed up as
-- metad_batch_readiness does, through task_log_batch and the edges into it,
-- so the cost follows the closure's size, not the batch's or the graph's.
-- metad_task_row's columns written out: the statement gets a custom plan on
-- each call, and inlining metad_task_row cost 0.08 ms of planning per call
-- (measured), a fifth of the planning. A page: ids after $3, at most $4.
WITH RECURSIVE candidates(id) AS (
  SELECT unnest($2::bigint[])
  UNION
  SELECT d.parent_id
  FROM task_dependencies d JOIN candidates c ON d.child_id = c.id
)
SELECT t.id, t.name, t.description, t.max_attempts, t.default_lease_seconds,
       metad_us(t.create_time) AS create_us,
       metad_us(t.update_time) AS update_us, t.id || '-' || t.version AS etag,
       t.concurrency_limit, t.concurrency_key_label,
       (extract(epoch FROM t.expected_duration) * 1000000)::bigint
         AS expected_duration_us
FROM candidates JOIN tasks t ON t.id = candidates.id
CROSS JOIN LATERAL (
  SELECT bool_or(metad_run_blocks_start(l.status, l.lease_expire_time,
                                        l.superseded))
           AS blocked,
         count(*) FILTER (WHERE metad_run_spent_attempt(
                                  l.status, l.lease_expire_time,
                                  l.superseded)) AS spent
    FROM task_log l WHERE l.batch_id = $1 AND l.task_id = t.id) r
CROSS JOIN LATERAL (
  SELECT count(*) AS unmet FROM metad_unmet_edges($1) e
   WHERE e.child_id = t.id) u
WHERE metad_may_start(r.blocked, r.spent, t.max_attempts, u.unmet)
  AND NOT metad_concurrency_full(t.id, t.concurrency_limit,
                                 t.concurrency_key_label)
  AND t.id > $3
ORDER BY t.id
LIMIT $4::bigint;

-- name: dependency.run_summary_all
-- GetReadyTasks from the graph held in memory: the batch's runs as three
-- arrays of task ids, the tasks whose global concurrency limit is full
-- (metad_concurrency_full: their slots are held in any batch), once per run of each kind (a superseded run is of no
-- kind: 40_rules.sql), and the graph state of the same snapshot. One pass
-- with no grouping: a seventh of the time of aggregating per task first,
-- which C++ does with the counts instead. Also, for the answer cache
-- (dependency.ready_state): the batch's run version and the earliest lease
-- expiry among its live runs (NULL: none), after which the answer may change
-- with no write at all.
-- dependency.run_summary_of is the same for some tasks only, and must
-- select the same: two statements, so that the task filter is an index
-- condition (task_log_batch) in a generic plan.
SELECT (SELECT version FROM task_graph_version) AS graph_version,
       (SELECT token::text FROM task_graph_version) AS graph_token,
       coalesce(array_agg(l.task_id) FILTER (WHERE l.status = 'SUCCESS'
                                               AND NOT l.superseded),
                '{}') AS succeeded,
       coalesce(array_agg(l.task_id) FILTER (WHERE metad_run_live(
                                               l.status, l.lease_expire_time)),
                '{}') AS live,
       coalesce(array_agg(l.task_id) FILTER (WHERE metad_run_spent_attempt(
                                               l.status, l.lease_expire_time,
                                               l.superseded)),
                '{}') AS spent,
       metad_us(min(l.lease_expire_time) FILTER (WHERE metad_run_live(
                                           l.status, l.lease_expire_time)))
         AS live_until_us,
       (SELECT version FROM batch_run_version WHERE batch_id = $1)
         AS batch_version,
       (SELECT token::text FROM batch_run_version WHERE batch_id = $1)
         AS batch_token,
       metad_full_tasks() AS full
FROM task_log l WHERE l.batch_id = $1;

-- name: dependency.run_summary_of
-- dependency.run_summary_all for the tasks $2 only.
SELECT (SELECT version FROM task_graph_version) AS graph_version,
       (SELECT token::text FROM task_graph_version) AS graph_token,
       coalesce(array_agg(l.task_id) FILTER (WHERE l.status = 'SUCCESS'
                                               AND NOT l.superseded),
                '{}') AS succeeded,
       coalesce(array_agg(l.task_id) FILTER (WHERE metad_run_live(
                                               l.status, l.lease_expire_time)),
                '{}') AS live,
       coalesce(array_agg(l.task_id) FILTER (WHERE metad_run_spent_attempt(
                                               l.status, l.lease_expire_time,
                                               l.superseded)),
                '{}') AS spent,
       metad_us(min(l.lease_expire_time) FILTER (WHERE metad_run_live(
                                           l.status, l.lease_expire_time)))
         AS live_until_us,
       (SELECT version FROM batch_run_version WHERE batch_id = $1)
         AS batch_version,
       (SELECT token::text FROM batch_run_version WHERE batch_id = $1)
         AS batch_token,
       metad_full_tasks() AS full
FROM task_log l WHERE l.batch_id = $1 AND l.task_id = ANY($2::bigint[]);

-- name: dependency.ready_state
-- Whether a cached GetReadyTasks answer still holds: the graph's and the
-- batch's versions in one snapshot (two primary-key reads), the time of
-- that snapshot as the ready rule sees it (now(), metad_lease_lapsed), and
-- the tasks whose global concurrency limit is full (metad_full_tasks): their
-- slots are held by runs of any batch, which the batch's version does not
-- see.
SELECT v.version AS graph_version, v.token::text AS graph_token,
       b.version AS batch_version, b.token::text AS batch_token,
       metad_us(now()) AS now_us,
       metad_full_tasks() AS full
FROM task_graph_version v
LEFT JOIN batch_run_version b ON b.batch_id = $1;

-- name: dependency.count_tasks_up_to
-- The graph's state and at most $1 + 1 tasks counted: enough to know the
-- graph is too big to hold.
SELECT v.version AS graph_version, v.token::text AS graph_token,
       (SELECT count(*) FROM (SELECT 1 FROM tasks LIMIT $1::bigint + 1) x)
         AS tasks
FROM task_graph_version v;

-- name: dependency.load_graph
-- The whole graph in one statement, so in one snapshot with its version:
-- every task with its parents' ids, ascending id; one row of NULLs besides
-- the version when there are no tasks. (Grouping the edges once is four
-- times faster than a subquery per task: 53 against 215 ms for 10,000
-- tasks and 50,000 edges.)
SELECT v.version AS graph_version, v.token::text AS graph_token, x.*
FROM task_graph_version v
LEFT JOIN (
  SELECT r.*, d.parent_ids
  FROM tasks t
  CROSS JOIN LATERAL metad_task_row(t) r
  LEFT JOIN (SELECT child_id, array_agg(parent_id) AS parent_ids
               FROM task_dependencies GROUP BY child_id) d
         ON d.child_id = t.id
) x ON true
ORDER BY x.id;
