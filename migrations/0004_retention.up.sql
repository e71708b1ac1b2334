-- Retention (metad.v1.AdminService.PruneHistory and `metad serve
-- --retention`): how far each event table has been pruned, so that a watch
-- stream resumed from before that point is told (OUT_OF_RANGE) instead of
-- silently missing events. Updated in the same transaction as each delete.
CREATE TABLE retention_state (
  table_name     text        PRIMARY KEY
                 CHECK (table_name IN ('file_events', 'run_events')),
  -- The largest event id retention has deleted from the table (0: none).
  pruned_through bigint      NOT NULL DEFAULT 0,
  update_time    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_state (table_name) VALUES ('file_events'), ('run_events');
