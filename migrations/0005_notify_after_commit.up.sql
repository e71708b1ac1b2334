-- The NOTIFY triggers of 0003 made every event-writing transaction send
-- its notification at commit. PostgreSQL serializes notifying commits on
-- one database-wide lock held until the commit record is flushed, so
-- writers stopped sharing WAL flushes: 2-3x less write throughput
-- (docs/benchmarks.md, Finding 1). The daemon now sends the hint itself,
-- after its writes commit, in a separate tiny transaction at most every
-- few milliseconds (daemon/event_notifier.cc). The hint stays only a hint:
-- readers catch up from the tables by cursor, and the channel, payload and
-- event id defaults are unchanged.
DROP TRIGGER run_events_notify ON run_events;
DROP TRIGGER file_events_notify ON file_events;
DROP FUNCTION metad_notify_events();
