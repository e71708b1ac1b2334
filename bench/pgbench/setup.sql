-- The pgbench side of the comparison: copies of metad's tables (columns,
-- defaults, checks, indexes, foreign keys) in schema pgb, with their own
-- sequences, so pgbench writes the same rows with the same index and
-- constraint work as metad does, in the same database and cluster.
-- Run by metad_load once per benchmark process (drops earlier copies).
DROP SCHEMA IF EXISTS pgb CASCADE;
CREATE SCHEMA pgb;

CREATE TABLE pgb.tasks (LIKE public.tasks INCLUDING ALL);
CREATE TABLE pgb.task_log (LIKE public.task_log INCLUDING ALL);
CREATE TABLE pgb.files (LIKE public.files INCLUDING ALL);
CREATE TABLE pgb.file_events (LIKE public.file_events INCLUDING ALL);
CREATE TABLE pgb.run_events (LIKE public.run_events INCLUDING ALL);

-- LIKE copies "DEFAULT nextval('public.x_id_seq')": give each copy its own.
CREATE SEQUENCE pgb.tasks_id_seq OWNED BY pgb.tasks.id;
CREATE SEQUENCE pgb.task_log_id_seq OWNED BY pgb.task_log.id;
CREATE SEQUENCE pgb.files_id_seq OWNED BY pgb.files.id;
CREATE SEQUENCE pgb.file_events_id_seq OWNED BY pgb.file_events.id;
CREATE SEQUENCE pgb.run_events_id_seq OWNED BY pgb.run_events.id;
ALTER TABLE pgb.tasks ALTER id SET DEFAULT nextval('pgb.tasks_id_seq');
ALTER TABLE pgb.task_log ALTER id SET DEFAULT nextval('pgb.task_log_id_seq');
ALTER TABLE pgb.files ALTER id SET DEFAULT nextval('pgb.files_id_seq');
ALTER TABLE pgb.file_events ALTER id SET DEFAULT nextval('pgb.file_events_id_seq');
ALTER TABLE pgb.run_events ALTER id SET DEFAULT nextval('pgb.run_events_id_seq');

-- LIKE does not copy foreign keys or storage parameters.
ALTER TABLE pgb.task_log ADD FOREIGN KEY (task_id) REFERENCES pgb.tasks (id);
ALTER TABLE pgb.files ADD FOREIGN KEY (run_id) REFERENCES pgb.task_log (id);
ALTER TABLE pgb.file_events ADD FOREIGN KEY (file_id) REFERENCES pgb.files (id);
ALTER TABLE pgb.run_events ADD FOREIGN KEY (run_id) REFERENCES pgb.task_log (id);
ALTER TABLE pgb.files SET (autovacuum_vacuum_scale_factor = 0.05);

INSERT INTO pgb.tasks (name) VALUES ('pgbench');
