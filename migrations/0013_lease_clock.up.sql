-- The lease clock (issue 14): the last time a daemon saw the database and
-- kept its leases (the reaper ticks it every sweep). A tick older than
-- stale_after means nobody could reach the database for that gap (an
-- outage, a failover, every daemon down): workers could not heartbeat, so
-- the leases that lapsed in the gap are pushed back by its length before
-- anything is expired (metad_lease_catch_up, migrations/functions/45_lease_clock.sql).
-- It is a table, not memory, so a promoted standby has it too.
-- metad: expand-only
-- One row per daemon process (its reaper ticks only its own row, so a daemon
-- frozen inside its tick, SIGSTOP or a paused VM, blocks nobody); the clock
-- is the newest tick of any of them. Rows of daemons gone for an hour are
-- removed by the others' ticks.
CREATE TABLE metad_reaper_clock (
  replica text PRIMARY KEY,
  last_tick timestamptz NOT NULL,
  stale_after interval NOT NULL
);
