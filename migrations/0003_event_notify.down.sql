DROP TRIGGER run_events_notify ON run_events;
DROP TRIGGER file_events_notify ON file_events;
DROP FUNCTION metad_notify_events();
ALTER TABLE run_events
  ALTER COLUMN id SET DEFAULT nextval('run_events_id_seq'::regclass);
ALTER TABLE file_events
  ALTER COLUMN id SET DEFAULT nextval('file_events_id_seq'::regclass);
DROP FUNCTION metad_take_event_id(regclass);
