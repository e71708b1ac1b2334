-- The lease clock: metad_reaper_clock (migrations/0013_lease_clock.up.sql),
-- kept by metad_lease_catch_up (migrations/functions/45_lease_clock.sql),
-- run by store/lease_clock.cc.

-- name: lease_clock.catch_up
-- $1: stale_after in microseconds (NULL: the stored one); $2: tick; $3:
-- this daemon's row in metad_reaper_clock.
SELECT gap_us, extended
  FROM metad_lease_catch_up($1::bigint * interval '1 microsecond', $2, $3);
