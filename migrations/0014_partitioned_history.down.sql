-- Back to plain event tables: every partition's rows are copied into one
-- table that takes the parent's name, with the same columns, defaults,
-- primary key, indexes and foreign keys as before 0014.
CREATE FUNCTION metad_unpartition_event_table(p_table text) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  v_flat text := p_table || '_flat';
BEGIN
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', v_flat,
                 p_table);
  EXECUTE format('INSERT INTO %I SELECT * FROM %I ORDER BY id', v_flat,
                 p_table);
  EXECUTE format('ALTER SEQUENCE %I OWNED BY %I.id', p_table || '_id_seq',
                 v_flat);
  EXECUTE format('DROP TABLE %I', p_table);
  EXECUTE format('ALTER TABLE %I RENAME TO %I', v_flat, p_table);
END
$$;
SELECT metad_unpartition_event_table('file_events');
SELECT metad_unpartition_event_table('run_events');
DROP FUNCTION metad_unpartition_event_table(text);

ALTER TABLE file_events ADD CONSTRAINT file_events_pkey PRIMARY KEY (id);
CREATE INDEX file_events_claims ON file_events (run_id, file_id)
  WHERE kind = 'CLAIMED';
CREATE INDEX file_events_file ON file_events (file_id, id);
ALTER TABLE file_events ADD CONSTRAINT file_events_file_id_fkey
  FOREIGN KEY (file_id) REFERENCES files(id);
ALTER TABLE run_events ADD CONSTRAINT run_events_pkey PRIMARY KEY (id);
CREATE INDEX run_events_run ON run_events (run_id, id);
ALTER TABLE run_events ADD CONSTRAINT run_events_run_id_fkey
  FOREIGN KEY (run_id) REFERENCES task_log(id);

DROP FUNCTION metad_prune_event_partition(text, timestamptz, bigint);
DROP FUNCTION metad_ensure_event_partitions();
DROP FUNCTION metad_attach_event_partition(text, bigint, bigint);
DROP FUNCTION metad_event_partitions(regclass);
ALTER TABLE retention_state DROP COLUMN partitions_ahead,
  DROP COLUMN partition_ids;
