-- Back to 0012: no lease clock (leases lapse by the wall clock alone).
DROP FUNCTION IF EXISTS metad_lease_catch_up(interval, boolean, text);
DROP TABLE metad_reaper_clock;
