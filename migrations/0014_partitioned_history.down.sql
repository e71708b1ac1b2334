-- Back to plain event tables: every partition's rows are copied into one
-- table that takes the parent's name, with the parent's columns, defaults,
-- constraints and indexes under their names (as before 0014).
CREATE FUNCTION metad_unpartition_event_table(p_table text) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_flat text := p_table || '_flat';
  v_keys text[];
  v_indexes text[];
  v_sql text;
BEGIN
  -- The parent's constraints and indexes, as SQL for the plain table.
  SELECT coalesce(array_agg(format('ALTER TABLE %I ADD CONSTRAINT %I %s',
                                   p_table, conname,
                                   pg_get_constraintdef(oid))
                            ORDER BY contype DESC, conname), '{}')
    INTO v_keys
    FROM pg_constraint
   WHERE conrelid = p_table::regclass AND contype IN ('p', 'u', 'f', 'c');
  SELECT coalesce(array_agg(replace(pg_get_indexdef(i.indexrelid),
                                    ' ON ONLY ', ' ON ')), '{}')
    INTO v_indexes
    FROM pg_index i
   WHERE i.indrelid = p_table::regclass
     AND NOT EXISTS (SELECT FROM pg_constraint c
                      WHERE c.conindid = i.indexrelid
                        AND c.conrelid = i.indrelid);
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', v_flat,
                 p_table);
  EXECUTE format('INSERT INTO %I SELECT * FROM %I ORDER BY id', v_flat,
                 p_table);
  EXECUTE format('ALTER SEQUENCE %I OWNED BY %I.id', p_table || '_id_seq',
                 v_flat);
  EXECUTE format('DROP TABLE %I', p_table);
  EXECUTE format('ALTER TABLE %I RENAME TO %I', v_flat, p_table);
  FOREACH v_sql IN ARRAY v_keys || v_indexes LOOP
    EXECUTE v_sql;
  END LOOP;
END
$$;
SELECT metad_unpartition_event_table('file_events');
SELECT metad_unpartition_event_table('run_events');
DROP FUNCTION metad_unpartition_event_table(text);

DROP FUNCTION metad_prune_event_partition(text, timestamptz, bigint);
DROP FUNCTION metad_ensure_event_partitions();
DROP FUNCTION metad_attach_event_partition(text, bigint, bigint);
DROP FUNCTION metad_event_partitions(regclass);
ALTER TABLE retention_state DROP COLUMN partitions_ahead,
  DROP COLUMN partition_ids;
