-- The lease clock (migration 0013): leases do not lapse for time in which no
-- daemon could reach the database. Called by the lease reaper before every
-- round (p_tick: it also records that the database was reached now) and by
-- a heartbeat that found its lease lapsed (p_stale_after NULL, p_tick
-- false: it acts only when the clock is stale, so the first call to get
-- through after an outage cannot lose the race to the reaper).
--
-- When the last tick is older than stale_after, every PROCESSING run whose
-- lease lapsed since that tick is pushed back by the gap: its remaining
-- lease is what it had when the database went away. Runs whose workers
-- are gone then lapse after that remainder, as they would have. Answers
-- the gap (0 when the clock was fresh; -1 when another daemon holds the
-- catch-up right now and the reaper must not expire anything this round)
-- and the runs extended.
--
-- The clock is the newest tick of any daemon (metad_reaper_clock has a row
-- per daemon, p_replica): a tick never waits for another daemon, so one
-- frozen in the middle of its tick stops no other reaper. A catch-up is
-- rare and serialized by a transaction advisory lock: the reaper only tries
-- it (and skips its round when it is held), a heartbeat waits for it.
CREATE OR REPLACE FUNCTION metad_lease_catch_up(p_stale_after interval,
                                                p_tick boolean,
                                                p_replica text)
  RETURNS TABLE (gap_us bigint, extended bigint)
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  v_last timestamptz;
  v_stale interval;
  v_gap interval := interval '0';
  v_n bigint := 0;
BEGIN
  SELECT c.last_tick, c.stale_after INTO v_last, v_stale
    FROM metad_reaper_clock c ORDER BY c.last_tick DESC LIMIT 1;
  IF FOUND AND now() - v_last > coalesce(p_stale_after, v_stale) THEN
    -- One catch-up at a time (the key is 'metad' and 'leas' in ASCII).
    IF p_tick THEN
      IF NOT pg_try_advisory_xact_lock(1835365473, 1818583411) THEN
        RETURN QUERY SELECT -1::bigint, 0::bigint;
        RETURN;
      END IF;
    ELSE
      PERFORM pg_advisory_xact_lock(1835365473, 1818583411);
    END IF;
    -- A catch-up that committed meanwhile left a fresh clock: nothing owed.
    SELECT max(c.last_tick) INTO v_last FROM metad_reaper_clock c;
    IF now() - v_last > coalesce(p_stale_after, v_stale) THEN
      v_gap := now() - v_last;
      UPDATE task_log
         SET lease_expire_time = lease_expire_time + v_gap
       WHERE status = 'PROCESSING'
         AND lease_expire_time > v_last
         AND metad_lease_lapsed(lease_expire_time);
      GET DIAGNOSTICS v_n = ROW_COUNT;
    END IF;
  END IF;
  IF p_tick OR v_gap > interval '0' THEN
    INSERT INTO metad_reaper_clock AS c (replica, last_tick, stale_after)
    VALUES (p_replica, now(), coalesce(p_stale_after, v_stale, interval '3 seconds'))
    ON CONFLICT (replica) DO UPDATE
      SET last_tick = greatest(c.last_tick, EXCLUDED.last_tick),
          stale_after = EXCLUDED.stale_after;
  END IF;
  IF p_tick THEN
    -- Daemons gone for an hour; a row another daemon holds is left alone.
    DELETE FROM metad_reaper_clock
     WHERE replica IN (SELECT c.replica FROM metad_reaper_clock c
                        WHERE c.last_tick < now() - interval '1 hour'
                          FOR UPDATE SKIP LOCKED);
  END IF;
  RETURN QUERY SELECT metad_us(timestamptz 'epoch' + v_gap), v_n;
END
$$;
