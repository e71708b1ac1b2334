-- GetLineage's walk (store/lineage_store.cc, lineage.page): the edges
-- between runs and files around one file or one run.
--
-- Edges: INPUT (run, file) when the run claimed the file (file_events kind
-- CLAIMED: index file_events_claims by run, file_events_file by file);
-- OUTPUT (run, file) when the run recorded the file as an output
-- (run_outputs: its primary key by run, run_outputs_file by file). INPUT
-- edges of runs that retention pruned are left out.
--
-- Upstream of a file are the runs that produced it, then their inputs,
-- their producers, ...; downstream of a file the runs that claimed it, then
-- their outputs, the runs that claimed those, ... (from a run: its inputs
-- upstream, its outputs downstream). Depth counts run-file steps: the
-- start's own edges are depth 1. Breadth first, each node expanded once at
-- its smallest depth, so the work is bounded by the edges found, never by
-- the paths through them; both directions are walked apart and an edge
-- found by both keeps its smaller depth.
--
-- At most p_max_edges edges in all: past that the walk stops with
-- truncated = true, keeping of the last level the first edges in
-- (kind, run_id, file_id) order, so that every page of one walk sees the
-- same graph.
--
-- STABLE: every statement in it sees the snapshot of the calling statement,
-- so one call is one consistent graph even under READ COMMITTED.
CREATE OR REPLACE FUNCTION metad_lineage_walk(p_file bigint, p_run bigint,
                                              p_up boolean, p_down boolean,
                                              p_max_depth integer,
                                              p_max_edges integer)
  RETURNS TABLE (depths integer[], kinds text[], run_ids bigint[],
                 file_ids bigint[], truncated boolean)
  LANGUAGE plpgsql STABLE
  AS $$
DECLARE
  v_up boolean;
  v_from_files boolean;   -- the frontier holds files (else runs)
  v_frontier bigint[];
  v_seen_files bigint[];
  v_seen_runs bigint[];
  v_runs bigint[];
  v_files bigint[];
  v_kind text;
  v_left integer := p_max_edges;
  v_n integer;
BEGIN
  depths := '{}'; kinds := '{}'; run_ids := '{}'; file_ids := '{}';
  truncated := false;
  FOREACH v_up IN ARRAY ARRAY[true, false] LOOP
    CONTINUE WHEN (v_up AND NOT p_up) OR (NOT v_up AND NOT p_down);
    v_from_files := p_file IS NOT NULL;
    v_frontier := ARRAY[coalesce(p_file, p_run)];
    v_seen_files := CASE WHEN v_from_files THEN v_frontier ELSE '{}' END;
    v_seen_runs := CASE WHEN v_from_files THEN '{}' ELSE v_frontier END;
    FOR v_depth IN 1..p_max_depth LOOP
      EXIT WHEN cardinality(v_frontier) = 0 OR truncated;
      -- A file's producers (up) or consumers (down); a run's inputs (up)
      -- or outputs (down). At most v_left + 1 edges: one more says that
      -- the cap cut this level.
      v_kind := CASE WHEN v_from_files = v_up THEN 'OUTPUT' ELSE 'INPUT' END;
      IF v_kind = 'OUTPUT' AND v_from_files THEN
        SELECT array_agg(e.run_id ORDER BY e.run_id, e.file_id),
               array_agg(e.file_id ORDER BY e.run_id, e.file_id)
          INTO v_runs, v_files
          FROM (SELECT o.run_id, o.file_id FROM run_outputs o
                 WHERE o.file_id = ANY (v_frontier)
                 ORDER BY o.run_id, o.file_id LIMIT v_left + 1) e;
      ELSIF v_kind = 'OUTPUT' THEN
        SELECT array_agg(e.run_id ORDER BY e.run_id, e.file_id),
               array_agg(e.file_id ORDER BY e.run_id, e.file_id)
          INTO v_runs, v_files
          FROM (SELECT o.run_id, o.file_id FROM run_outputs o
                 WHERE o.run_id = ANY (v_frontier)
                 ORDER BY o.run_id, o.file_id LIMIT v_left + 1) e;
      ELSIF v_from_files THEN
        -- kind || '': by file_events_file, never by a whole scan of the
        -- claims index (run_id first) that a partition's stale statistics
        -- (the newest one, taking the claims) can make look cheaper: 40 ms
        -- a call over 60,000 claims (docs/benchmarks.md, Session 9).
        SELECT array_agg(e.run_id ORDER BY e.run_id, e.file_id),
               array_agg(e.file_id ORDER BY e.run_id, e.file_id)
          INTO v_runs, v_files
          FROM (SELECT DISTINCT c.run_id, c.file_id FROM file_events c
                 WHERE c.kind || '' = 'CLAIMED'
                   AND c.file_id = ANY (v_frontier)
                   AND EXISTS (SELECT 1 FROM task_log l WHERE l.id = c.run_id)
                 ORDER BY c.run_id, c.file_id LIMIT v_left + 1) e;
      ELSE
        SELECT array_agg(e.run_id ORDER BY e.run_id, e.file_id),
               array_agg(e.file_id ORDER BY e.run_id, e.file_id)
          INTO v_runs, v_files
          FROM (SELECT DISTINCT c.run_id, c.file_id FROM file_events c
                 WHERE c.kind = 'CLAIMED' AND c.run_id = ANY (v_frontier)
                   AND EXISTS (SELECT 1 FROM task_log l WHERE l.id = c.run_id)
                 ORDER BY c.run_id, c.file_id LIMIT v_left + 1) e;
      END IF;
      v_n := coalesce(cardinality(v_runs), 0);
      EXIT WHEN v_n = 0;
      IF v_n > v_left THEN
        truncated := true;
        v_n := v_left;
        v_runs := v_runs[1:v_n];
        v_files := v_files[1:v_n];
      END IF;
      v_left := v_left - v_n;
      depths := depths || array_fill(v_depth, ARRAY[v_n]);
      kinds := kinds || array_fill(v_kind, ARRAY[v_n]);
      run_ids := run_ids || v_runs;
      file_ids := file_ids || v_files;
      -- The next frontier: the far ends not expanded yet (EXCEPT: a hashed
      -- set difference, linear in the sizes).
      IF v_from_files THEN
        SELECT coalesce(array_agg(x), '{}') INTO v_frontier
          FROM (SELECT unnest(v_runs) EXCEPT SELECT unnest(v_seen_runs)) n(x);
        v_seen_runs := v_seen_runs || v_frontier;
      ELSE
        SELECT coalesce(array_agg(x), '{}') INTO v_frontier
          FROM (SELECT unnest(v_files) EXCEPT SELECT unnest(v_seen_files)) n(x);
        v_seen_files := v_seen_files || v_frontier;
      END IF;
      v_from_files := NOT v_from_files;
    END LOOP;
  END LOOP;
  RETURN NEXT;
END
$$;
