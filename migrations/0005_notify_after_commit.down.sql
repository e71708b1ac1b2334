-- Back to 0003: one notification per event-inserting statement, sent at
-- commit by the writing transaction itself.
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
