-- Event ids for file_events and run_events (their id defaults call this,
-- since migration 0003).
--
-- An event id is taken only after the writing transaction has its
-- transaction id (xid): the id default first calls pg_current_xact_id()
-- (CASE evaluates its condition first). So a transaction that may still
-- commit an event id got its xid before that id was taken, and a reader
-- that sees a larger id committed, then takes an xid of its own, knows
-- that once every transaction older than its xid has ended, no smaller
-- event id can appear any more (store/watch_store.h). Only rows that are
-- really inserted take an id, so statements that insert no events stay
-- without an xid (no commit record to flush). The function is inlined
-- into the INSERT: no per-row call overhead.
CREATE OR REPLACE FUNCTION metad_take_event_id(seq regclass) RETURNS bigint
  LANGUAGE sql VOLATILE
  AS $$ SELECT CASE WHEN pg_current_xact_id() IS NOT NULL
                    THEN nextval(seq) END $$;

-- The actor an event records: the one a function was given, else the
-- transaction's (metad.actor, set by the daemon for each call), else ''.
CREATE OR REPLACE FUNCTION metad_actor(p_actor text) RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$
  SELECT coalesce(nullif(p_actor, ''),
                  nullif(current_setting('metad.actor', true), ''), '')
$$;
