'use strict';
// ensureTask and updateTask (field mask, etag) against a real metad.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const metad = require('../metad');
const { useDaemon } = require('./support/daemon');

const { status } = metad;
const need = useDaemon('node_ensure_task', { before, after });
const suffix = `${process.pid}_${Date.now() % 1000000}`;

test('ensureTask registers, then changes only what differs, never clobbering', async (t) => {
  const address = need(t);
  if (!address) return;
  const c = metad.connect(address);
  t.after(() => c.close());
  const name = `ensure_${suffix}`;
  const first = await metad.ensureTask(c, name, { description: 'd', maxAttempts: 3, defaultLeaseSeconds: 60 });
  assert.equal(first.maxAttempts, 3);
  const same = await metad.ensureTask(c, name, { description: 'd' });
  assert.equal(same.etag, first.etag);
  const changed = await metad.ensureTask(c, name, { description: 'd', maxAttempts: 5 });
  assert.equal(changed.maxAttempts, 5);
  assert.equal(changed.defaultLeaseSeconds, 60);
  assert.notEqual(changed.etag, first.etag);
  await assert.rejects(
    c.updateTask({ task: { name, maxAttempts: 7 }, updateMask: { paths: ['max_attempts'] }, etag: first.etag }),
    (err) => err.code === status.ABORTED && metad.errorDetails(err).errorInfo.reason === 'ETAG_MISMATCH');
  // Racing ensurers: each lost race is another's win (at most 7), so 20
  // attempts suffice; each ends with the value it wanted.
  const wants = [10, 11, 12, 13, 14, 15, 16, 17];
  const got = await Promise.all(wants.map((w) => metad.ensureTask(c, name, { description: 'd', maxAttempts: w }, 20)));
  assert.deepEqual(got.map((x) => x.maxAttempts), wants);
});

test('ensureTask sets a concurrency limit; a start past it is CONCURRENCY_LIMIT', async (t) => {
  const address = need(t);
  if (!address) return;
  const c = metad.connect(address);
  t.after(() => c.close());
  const name = `limited_${suffix}`;
  const task = await metad.ensureTask(c, name, { concurrencyLimit: 1 });
  assert.equal(task.concurrencyLimit, 1);
  const keyed = await metad.ensureTask(c, name, { concurrencyKeyLabel: 'warehouse' });
  assert.equal(keyed.concurrencyKeyLabel, 'warehouse');
  await metad.ensureTask(c, name, { concurrencyKeyLabel: '' });
  const first = await c.startRun({ task: name, batchId: 'b1' });
  await assert.rejects(c.startRun({ task: name, batchId: 'b2' }), (err) => {
    const info = metad.errorDetails(err).errorInfo;
    return err.code === status.RESOURCE_EXHAUSTED && info.reason === 'CONCURRENCY_LIMIT' &&
      info.metadata.holder_run_ids === String(first.run.id);
  });
});

test('ensureTask sets expectedDurationMs; DeadlineService answers', async (t) => {
  const address = need(t);
  if (!address) return;
  const c = metad.connect(address);
  t.after(() => c.close());
  const name = `ensure_due_${suffix}`;
  const first = await metad.ensureTask(c, name, { expectedDurationMs: 90000 });
  assert.equal(Number(first.expectedDuration.seconds), 90);
  const same = await metad.ensureTask(c, name, { expectedDurationMs: 90000 });
  assert.equal(same.etag, first.etag);
  const set = await c.setBatchDeadline({ batchId: name, task: name, deadline: { seconds: 2000000000 } });
  assert.equal(Number(set.deadline.seconds), 2000000000);
  await assert.rejects(c.listAlerts({ kind: 'LATE' }),
    (err) => err.code === status.INVALID_ARGUMENT && err.details.startsWith('kind: '));
});
