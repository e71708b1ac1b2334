-- Watch streams (metad.v1.WatchService) read file_events and run_events by
-- id and are woken by NOTIFY. Two additions make that exact and cheap.
--
-- 1. An event id is taken only after the writing transaction has its
--    transaction id (xid): the id default first calls pg_current_xact_id()
--    (CASE evaluates its condition first). So a transaction that may still
--    commit an event id got its xid before that id was taken, and a reader
--    that sees a larger id committed, then takes an xid of its own, knows
--    that once every transaction older than its xid has ended, no smaller
--    event id can appear any more (store/watch_store.h). Only rows that are
--    really inserted take an id, so statements that insert no events stay
--    without an xid (no commit record to flush). The function is inlined
--    into the INSERT: no per-row call overhead.
CREATE FUNCTION metad_take_event_id(seq regclass) RETURNS bigint
  LANGUAGE sql VOLATILE
  AS $$ SELECT CASE WHEN pg_current_xact_id() IS NOT NULL
                    THEN nextval(seq) END $$;
ALTER TABLE file_events
  ALTER COLUMN id SET DEFAULT metad_take_event_id('file_events_id_seq');
ALTER TABLE run_events
  ALTER COLUMN id SET DEFAULT metad_take_event_id('run_events_id_seq');

-- 2. One notification per statement that inserted events (not per row, and
--    none for a statement that inserted nothing), on channel metad_events
--    with the table's name as payload. PostgreSQL sends it at commit and
--    folds duplicates within a transaction. It is only a hint: readers
--    catch up from the tables by cursor.
CREATE FUNCTION metad_notify_events() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF EXISTS (SELECT FROM inserted_events) THEN
    PERFORM pg_notify('metad_events', TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER file_events_notify AFTER INSERT ON file_events
  REFERENCING NEW TABLE AS inserted_events
  FOR EACH STATEMENT EXECUTE FUNCTION metad_notify_events();
CREATE TRIGGER run_events_notify AFTER INSERT ON run_events
  REFERENCING NEW TABLE AS inserted_events
  FOR EACH STATEMENT EXECUTE FUNCTION metad_notify_events();
