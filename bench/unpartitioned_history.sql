-- The event tables as they were before migration 0014 (plain tables), in a
-- database at the latest version: the "before" side of the A/B in
-- docs/benchmarks.md, "Partitioned history" (METAD_BENCH_SETUP_SQL for
-- scripts/bench.sh, or psql -f). Same steps as 0014's down migration; the
-- functions stay (on a plain table retention finds no partition to drop and
-- deletes in batches, as before 0014).
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['file_events', 'run_events'] LOOP
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)',
                   t || '_flat', t);
    EXECUTE format('INSERT INTO %I SELECT * FROM %I ORDER BY id',
                   t || '_flat', t);
    EXECUTE format('ALTER SEQUENCE %I OWNED BY %I.id', t || '_id_seq',
                   t || '_flat');
    EXECUTE format('DROP TABLE %I', t);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_flat', t);
  END LOOP;
END
$$;
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
