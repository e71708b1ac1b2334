-- History at scale: file_events and run_events become tables partitioned by
-- id range. The id is the watch cursor and retention's pruned_through is
-- already an id mark, so old history is a set of whole low-id partitions
-- that retention detaches and drops (a few catalog changes, almost no WAL)
-- instead of deleting row by row (store/queries/retention.sql).
--
-- Partitions are made ahead of the id sequences by
-- metad_ensure_event_partitions(), here and from the daemon's background
-- pass; a DEFAULT partition catches any row beyond them, so an insert never
-- fails for lack of a partition. The existing table becomes the first
-- partition (MINVALUE up to a boundary past its sequence): no row is copied.
-- Columns, defaults, the primary key, indexes and foreign keys are the same
-- on the parent, so the functions and queries that read and write events
-- are unchanged.

-- Partition size (ids) and how many partitions to keep ahead of the
-- sequence, per table: an operator may change them (new partitions follow).
ALTER TABLE retention_state
  ADD COLUMN partition_ids bigint NOT NULL DEFAULT 1000000
    CHECK (partition_ids >= 1),
  ADD COLUMN partitions_ahead integer NOT NULL DEFAULT 4
    CHECK (partitions_ahead >= 1);

-- The range partitions of an event table with their bounds (lo NULL for
-- MINVALUE), the DEFAULT partition left out.
CREATE FUNCTION metad_event_partitions(p_table regclass)
  RETURNS TABLE(part regclass, lo bigint, hi bigint)
  LANGUAGE sql STABLE
  AS $$
  SELECT c.oid::regclass,
         (regexp_match(b.bound, 'FROM \(''?(-?\d+)''?\)'))[1]::bigint,
         (regexp_match(b.bound, 'TO \(''?(-?\d+)''?\)'))[1]::bigint
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
   WHERE i.inhparent = p_table AND b.bound <> 'DEFAULT'
$$;

-- Makes sure `partitions_ahead` partitions of `partition_ids` ids exist past
-- the last id each event sequence gave out. Rows that went to the DEFAULT
-- partition meanwhile are moved into the new partition covering them (the
-- DEFAULT partition is scanned on each attach: kept empty, that is cheap).
-- Replicas calling it together: one does the work, the others return at
-- once. Returns how many partitions it created. SECURITY DEFINER (as the
-- owner that migrated): a serving role with row privileges only may call it
-- (like metad_prune_event_partition below), and it does only this.
CREATE FUNCTION metad_ensure_event_partitions() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
  AS $$
DECLARE
  v_table text;
  v_size bigint;
  v_ahead integer;
  v_last bigint;
  v_hi bigint;
  v_lo bigint;
  v_made integer := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('metad_event_partitions')) THEN
    RETURN 0;
  END IF;
  FOR v_table, v_size, v_ahead IN
    SELECT table_name, partition_ids, partitions_ahead FROM retention_state
     ORDER BY table_name
  LOOP
    -- A table an operator turned back into a plain one is left alone.
    CONTINUE WHEN (SELECT relkind FROM pg_class
                    WHERE oid = v_table::regclass) <> 'p';
    v_last := coalesce(pg_sequence_last_value((v_table || '_id_seq')::regclass),
                       0);
    SELECT max(hi) INTO v_hi FROM metad_event_partitions(v_table::regclass);
    v_hi := coalesce(v_hi, 1);
    -- Far behind (the sequence was moved on): one partition up to the
    -- boundary below the sequence, then regular ones.
    IF v_last - v_hi > 64 * v_size THEN
      v_lo := v_hi;
      v_hi := (v_last / v_size) * v_size;
      PERFORM metad_attach_event_partition(v_table, v_lo, v_hi);
      v_made := v_made + 1;
    END IF;
    WHILE v_hi <= v_last + v_ahead::bigint * v_size LOOP
      v_lo := v_hi;
      v_hi := (v_lo / v_size + 1) * v_size;
      PERFORM metad_attach_event_partition(v_table, v_lo, v_hi);
      v_made := v_made + 1;
    END LOOP;
  END LOOP;
  RETURN v_made;
END
$$;

-- One partition [p_lo, p_hi) of event table p_table, taking over the rows
-- the DEFAULT partition holds in that range.
CREATE FUNCTION metad_attach_event_partition(p_table text, p_lo bigint,
                                             p_hi bigint) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_part text := format('%s_p%s', p_table, p_lo);
BEGIN
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', v_part,
                 p_table);
  EXECUTE format('WITH moved AS (DELETE FROM %I WHERE id >= $1 AND id < $2 '
                 'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                 p_table || '_default', v_part)
    USING p_lo, p_hi;
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) '
                 'TO (%s)', p_table, v_part, p_lo, p_hi);
END
$$;

-- Retention by partition (store/queries/retention.sql): examines the lowest
-- range partition of p_table starting at or after p_after whose ids the
-- sequence has all given out, and drops it when retention would delete
-- every row in it anyway, with today's rules (migrations/0004):
-- - file_events: all its events were recorded before p_cutoff (events are
--   pruned as an id prefix, so a partition with a younger event stops the
--   walk: next_after NULL);
-- - run_events: all its events belong to runs that ended before p_cutoff
--   and that no file points to; those runs go too, with their events in
--   other partitions (deleted), as retention.prune_runs does. A partition
--   with a kept run is skipped (next_after is its upper bound).
-- pruned_through is raised to the largest id removed, in this transaction,
-- exactly as a batched delete would. The check scans the partition under a
-- SHARE lock on it alone; the detach and drop lock the parent (ACCESS
-- EXCLUSIVE, inserts wait) for a catalog change and, for run_events, the
-- deletion of the same runs' few events elsewhere. When a lock cannot be
-- had within a second, or another pruner holds a run, next_after is NULL
-- and the next round tries again. Returns one row.
CREATE FUNCTION metad_prune_event_partition(p_table text,
                                            p_cutoff timestamptz,
                                            p_after bigint)
  RETURNS TABLE(next_after bigint, events bigint, runs bigint,
                last_event_id bigint)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
  AS $$
DECLARE
  v_part regclass;
  v_hi bigint;
  v_n bigint;
  v_max bigint;
  v_old boolean;
  v_runs bigint[];
  v_runs_n bigint := 0;
  v_more bigint;
  v_more_max bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('metad_event_partitions')) THEN
    RETURN QUERY SELECT NULL::bigint, 0::bigint, 0::bigint, 0::bigint;
    RETURN;
  END IF;
  SELECT p.part, p.hi INTO v_part, v_hi
    FROM metad_event_partitions(p_table::regclass) p
   WHERE coalesce(p.lo, -9223372036854775808) >= p_after
   ORDER BY p.lo NULLS FIRST LIMIT 1;
  IF v_part IS NULL OR v_hi - 1 > coalesce(
       pg_sequence_last_value((p_table || '_id_seq')::regclass), 0) THEN
    RETURN QUERY SELECT NULL::bigint, 0::bigint, 0::bigint, 0::bigint;
    RETURN;
  END IF;
  BEGIN
    PERFORM set_config('lock_timeout', '1s', true);
    -- The partition only, for the check: writers of other partitions go
    -- on; ids in this range are all given out, so only writers still in
    -- flight with one are waited for, and none can come after.
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', v_part);
    IF p_table = 'file_events' THEN
      EXECUTE format('SELECT count(*), max(id), '
                     'coalesce(bool_and(event_time < $1), true) FROM %s',
                     v_part)
        INTO v_n, v_max, v_old USING p_cutoff;
      IF NOT v_old THEN
        RETURN QUERY SELECT NULL::bigint, 0::bigint, 0::bigint, 0::bigint;
        RETURN;
      END IF;
    ELSE
      EXECUTE format('SELECT count(*), max(id), '
                     'coalesce(array_agg(DISTINCT run_id), ''{}'') FROM %s',
                     v_part)
        INTO v_n, v_max, v_runs;
      PERFORM FROM task_log t WHERE t.id = ANY (v_runs) ORDER BY t.id
        FOR UPDATE NOWAIT;
      IF EXISTS (SELECT FROM unnest(v_runs) r(id)
                   LEFT JOIN task_log t ON t.id = r.id
                  WHERE t.id IS NULL OR t.status = 'PROCESSING'
                     OR t.end_time IS NULL OR t.end_time >= p_cutoff
                     OR EXISTS (SELECT FROM files f WHERE f.run_id = t.id))
      THEN
        RETURN QUERY SELECT v_hi, 0::bigint, 0::bigint, 0::bigint;
        RETURN;
      END IF;
    END IF;
    -- The parent, ACCESS EXCLUSIVE until commit: a catalog change.
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %s', p_table, v_part);
  EXCEPTION WHEN lock_not_available THEN
    RETURN QUERY SELECT NULL::bigint, 0::bigint, 0::bigint, 0::bigint;
    RETURN;
  END;
  EXECUTE format('DROP TABLE %s', v_part);
  IF p_table = 'run_events' AND v_n > 0 THEN
    -- The same runs' events in later partitions, then the runs.
    WITH gone AS (
      DELETE FROM run_events e WHERE e.run_id = ANY (v_runs) RETURNING e.id
    )
    SELECT count(*), max(id) INTO v_more, v_more_max FROM gone;
    v_n := v_n + v_more;
    v_max := greatest(v_max, v_more_max);
    DELETE FROM task_log t WHERE t.id = ANY (v_runs);
    v_runs_n := cardinality(v_runs);
  END IF;
  IF v_n > 0 THEN
    UPDATE retention_state SET pruned_through = v_max, update_time = now()
     WHERE table_name = p_table AND pruned_through < v_max;
  END IF;
  RETURN QUERY SELECT v_hi, v_n, v_runs_n, coalesce(v_max, 0);
END
$$;

-- Convert one event table: the old table becomes the partition from
-- MINVALUE to the first boundary past its sequence. The parent gets the old
-- table's columns and defaults, and then its primary key, indexes, foreign
-- keys and checks under their old names, read from the catalog (so columns
-- or indexes an earlier migration added come along); the old table's own
-- match them and are attached, not rebuilt.
CREATE FUNCTION metad_partition_event_table(p_table text) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_old text := p_table || '_p0';
  v_size bigint;
  v_last bigint;
  v_idx record;
  v_keys text[];
  v_indexes text[];
  v_sql text;
BEGIN
  SELECT partition_ids INTO STRICT v_size FROM retention_state
   WHERE table_name = p_table;
  v_last := coalesce(pg_sequence_last_value((p_table || '_id_seq')::regclass),
                     0);
  -- Constraints (primary key, unique, foreign keys, checks), then the
  -- indexes that back none, as SQL for the parent.
  SELECT coalesce(array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s',
                                   p_table, conname,
                                   pg_get_constraintdef(oid))
                            ORDER BY contype DESC, conname), '{}')
    INTO v_keys
    FROM pg_constraint
   WHERE conrelid = p_table::regclass AND contype IN ('p', 'u', 'f', 'c');
  SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}')
    INTO v_indexes
    FROM pg_index i
   WHERE i.indrelid = p_table::regclass
     AND NOT EXISTS (SELECT FROM pg_constraint c
                      WHERE c.conindid = i.indexrelid
                        AND c.conrelid = i.indrelid);
  EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, v_old);
  -- Free the index names for the parent.
  FOR v_idx IN
    SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = v_old::regclass
  LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', v_idx.relname,
                   replace(v_idx.relname, p_table, v_old));
  END LOOP;
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) '
                 'PARTITION BY RANGE (id)', p_table, v_old);
  EXECUTE format('ALTER SEQUENCE %I OWNED BY %I.id', p_table || '_id_seq',
                 p_table);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES '
                 'FROM (MINVALUE) TO (%s)', p_table, v_old,
                 (v_last / v_size + 1) * v_size);
  FOREACH v_sql IN ARRAY v_keys || v_indexes LOOP
    EXECUTE v_sql;
  END LOOP;
  EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT',
                 p_table || '_default', p_table);
END
$$;

SELECT metad_partition_event_table('file_events');
SELECT metad_partition_event_table('run_events');
DROP FUNCTION metad_partition_event_table(text);

SELECT metad_ensure_event_partitions();
