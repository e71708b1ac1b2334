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
-- the gap (0 when the clock was fresh) and the runs extended.
CREATE OR REPLACE FUNCTION metad_lease_catch_up(p_stale_after interval,
                                                p_tick boolean)
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
    FROM metad_reaper_clock c;
  IF NOT FOUND THEN
    -- No tick yet: nothing was kept, so nothing is owed.
    IF p_tick THEN
      INSERT INTO metad_reaper_clock (last_tick, stale_after)
      VALUES (now(), p_stale_after)
      ON CONFLICT (one) DO NOTHING;
    END IF;
    RETURN QUERY SELECT 0::bigint, 0::bigint;
    RETURN;
  END IF;
  IF NOT p_tick AND now() - v_last <= v_stale THEN
    RETURN QUERY SELECT 0::bigint, 0::bigint;
    RETURN;
  END IF;
  -- One catch-up at a time; a concurrent one that ticked first leaves a
  -- fresh clock, and this one then owes nothing.
  SELECT c.last_tick, c.stale_after INTO v_last, v_stale
    FROM metad_reaper_clock c
     FOR UPDATE;
  IF now() - v_last > v_stale THEN
    v_gap := now() - v_last;
    UPDATE task_log
       SET lease_expire_time = lease_expire_time + v_gap
     WHERE status = 'PROCESSING'
       AND lease_expire_time > v_last
       AND metad_lease_lapsed(lease_expire_time);
    GET DIAGNOSTICS v_n = ROW_COUNT;
  END IF;
  IF p_tick OR v_gap > interval '0' THEN
    UPDATE metad_reaper_clock
       SET last_tick = greatest(last_tick, now()),
           stale_after = coalesce(p_stale_after, stale_after);
  END IF;
  RETURN QUERY SELECT metad_us(timestamptz 'epoch' + v_gap), v_n;
END
$$;
