'use strict';
// Watch streams against a real metad that is restarted under them: they
// resume from the last event id by themselves (no gap, no repeat), and a
// resume into history that PruneHistory removed surfaces OUT_OF_RANGE.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const metad = require('../metad');
const { startDaemon, NotConfigured } = require('./support/daemon');

const { status } = metad;
let daemon = null;
let setupError = null;

before(async () => {
  try {
    daemon = await startDaemon('watch', {}); // its own: the test restarts it
  } catch (err) {
    setupError = err;
  }
});
after(async () => {
  if (daemon) await daemon.stop();
});

function need(t) {
  if (setupError instanceof NotConfigured && !process.env.METAD_REQUIRE_DAEMON) {
    t.skip(setupError.message);
    return false;
  }
  if (setupError) throw setupError;
  return true;
}

// Collects a stream's events; until(n) resolves once n have come (rejects
// when the stream fails first). error is set when the stream fails.
function collect(stream) {
  const got = { stream, events: [], error: null, reconnects: [] };
  const waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) {
      if (got.events.length >= w.n) w.resolve();
      else if (got.error) w.reject(got.error);
      else waiters.push(w);
    }
  };
  stream.on('data', (e) => { got.events.push(e); wake(); });
  stream.on('error', (err) => { got.error = err; wake(); });
  stream.on('reconnect', (r) => got.reconnects.push(r.error.code));
  const failed = new Promise((resolve) => stream.once('error', resolve));
  got.until = (n) => new Promise((resolve, reject) => { waiters.push({ n, resolve, reject }); wake(); });
  got.failed = () => failed;
  return got;
}

async function register(client, source, names) {
  for (const fileName of names) await client.registerFile({ file: { source, fileName, sizeBytes: 1 } });
}

async function eventIds(client, source) {
  const ids = [];
  const { files } = await client.listFiles({ source, pageSize: 100 });
  for (const f of files) {
    const { events } = await client.listFileEvents({ fileId: f.id, pageSize: 100 });
    ids.push(...events.map((e) => e.id));
  }
  return ids.sort((a, b) => a - b);
}

test('watches resume across daemon restarts; a resume into pruned history fails with OUT_OF_RANGE', async (t) => {
  if (!need(t)) return;
  const client = metad.connect(daemon.address, { initialBackoffMs: 20, maxBackoffMs: 200 });
  const streams = [];
  const watch = (method, request) => {
    const got = collect(client[method](request));
    streams.push(got.stream);
    return got;
  };
  t.after(() => {
    for (const s of streams) s.cancel();
    client.close();
  });

  // b: one event, then the watcher's cursor stays there (its filter).
  await register(client, 's3://b', ['b1']);
  const a = watch('watchFiles', { afterEventId: -1, source: 's3://a' });
  const b = watch('watchFiles', { afterEventId: -1, source: 's3://b' });
  await register(client, 's3://a', ['a1', 'a2']);
  await a.until(2);
  await b.until(1);

  // The daemon goes away (its streams end UNAVAILABLE) and comes back.
  await daemon.restart();
  await register(client, 's3://a', ['a3', 'a4']);
  await a.until(4);
  const seen = a.events.map((e) => e.event.id);
  assert.deepEqual(seen, await eventIds(client, 's3://a'), 'every event once, in order');
  assert.deepEqual(a.events.map((e) => e.fileName), ['a1', 'a2', 'a3', 'a4']);
  assert.ok(a.reconnects.length >= 1 && a.reconnects.every((c) => c === status.UNAVAILABLE), `${a.reconnects}`);
  assert.ok(b.reconnects.length >= 1, 'b resumed too');
  assert.equal(b.error, null);

  // Retention removes every file event (all made 40 days old); running
  // streams are not interrupted.
  daemon.sql("UPDATE file_events SET event_time = now() - interval '40 days'");
  const pruned = await client.pruneHistory({ olderThan: { seconds: 30 * 86400 } });
  assert.ok(pruned.fileEventsDeleted >= 5, `deleted ${pruned.fileEventsDeleted}`);

  // After the next restart, a resumes from the newest pruned id (nothing
  // after it is gone) while b's cursor (b1's event) lies before it: its
  // resume fails with OUT_OF_RANGE, and the stream surfaces it.
  await daemon.restart();
  const err = await b.failed();
  assert.equal(err.code, status.OUT_OF_RANGE, err.message);
  assert.match(err.details, /history pruned/);
  await register(client, 's3://a', ['a5']);
  await a.until(5);
  assert.equal(a.events[4].fileName, 'a5');
  assert.equal(a.error, null);

  // A new watch from before the pruned range fails the same way; -1 starts
  // at what is kept.
  const old = watch('watchFiles', { afterEventId: seen[0], source: 's3://a' });
  assert.equal((await old.failed()).code, status.OUT_OF_RANGE);
  const kept = watch('watchFiles', { afterEventId: -1, source: 's3://a' });
  await kept.until(1);
  assert.equal(kept.events[0].fileName, 'a5');
});
