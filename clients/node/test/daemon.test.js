'use strict';
// The client against a real metad (see support/daemon.js). Names carry a
// per-run suffix, so the tests also pass against a shared daemon.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const metad = require('../metad');
const { useDaemon } = require('./support/daemon');

const { status } = metad;
const need = useDaemon('node_client', { before, after });
const suffix = `${process.pid}_${Date.now() % 1000000}`;
const name = (base) => `${base}_${suffix}`;

function client(t) {
  const address = need(t);
  if (!address) return null;
  const c = metad.connect(address);
  t.after(() => c.close());
  return c;
}

// assert.rejects matcher: the code, and a message mentioning each word.
function refused(code, ...words) {
  return (err) => {
    assert.equal(err.code, code, `got ${err.code} (${err.details}), want ${code}`);
    for (const w of words) assert.ok(err.details.includes(w), `message ${JSON.stringify(err.details)} lacks ${w}`);
    return true;
  };
}

test('registering a file twice returns the stored record', async (t) => {
  const c = client(t);
  if (!c) return;
  const source = name('sales');
  const spec = { source, fileName: 'sales_report_2024-03.csv', checksum: 'sha256:aa', sizeBytes: 1234, attributes: { month: '2024-03' } };
  const first = await c.registerFile({ file: spec });
  assert.equal(first.created, true);
  assert.equal(first.file.status, 'FILE_STATUS_NEW');
  assert.ok(first.file.id > 0);
  assert.equal(first.file.sizeBytes, 1234);
  assert.deepEqual(first.file.attributes, { month: '2024-03' });
  assert.ok(metad.toDate(first.file.createTime) instanceof Date);

  const again = await c.files.registerFile({ file: { source, fileName: spec.fileName, checksum: 'sha256:aa' } });
  assert.equal(again.created, false);
  assert.equal(again.changed, false);
  assert.equal(again.file.id, first.file.id);
  assert.equal(again.file.checksum, 'sha256:aa');
  // Other content: a new version of the same file.
  const newer = await c.files.registerFile({ file: { ...spec, checksum: 'sha256:bb' } });
  assert.equal(newer.created, false);
  assert.equal(newer.changed, true);
  assert.equal(newer.file.id, first.file.id);
  assert.equal(newer.file.version, 2);
  assert.equal(newer.file.checksum, 'sha256:bb');

  const batch = await c.registerFiles({
    files: [{ source, fileName: 'a.csv' }, { source, fileName: 'b.csv' }, { source, fileName: 'a.csv' }, spec],
  });
  assert.deepEqual(batch.results.map((r) => r.created), [true, true, false, false]);
  assert.equal(batch.createdCount, 2);
  assert.equal(batch.results[2].file.id, batch.results[0].file.id);
  assert.equal(batch.results[3].file.id, first.file.id);

  const byName = await c.getFile({ source, fileName: 'b.csv' });
  assert.equal(byName.id, batch.results[1].file.id);
  const page = await c.listFiles({ source, pageSize: 2 });
  assert.equal(page.files.length, 2);
  assert.ok(page.nextPageToken);
  const rest = await c.listFiles({ source, pageSize: 2, pageToken: page.nextPageToken });
  assert.deepEqual(rest.files.map((f) => f.fileName), ['b.csv']);
  assert.equal(rest.nextPageToken, '');
});

test('refusals carry their codes', async (t) => {
  const c = client(t);
  if (!c) return;
  await assert.rejects(c.registerFile({ file: { fileName: 'x.csv' } }), refused(status.INVALID_ARGUMENT, 'source'));
  await assert.rejects(c.registerFiles({ files: [] }), refused(status.INVALID_ARGUMENT));
  await assert.rejects(c.getFile({ id: 2 ** 50 }), refused(status.NOT_FOUND));
  await assert.rejects(c.listFiles({ pageToken: 'forged' }), refused(status.INVALID_ARGUMENT, 'page_token'));
  await assert.rejects(c.startRun({ task: name('never_registered'), batchId: 'b' }), refused(status.NOT_FOUND));
  await assert.rejects(c.registerTask({ name: 'bad name!' }), refused(status.INVALID_ARGUMENT, 'name'));
  const task = name('selfish');
  await c.registerTask({ name: task });
  await assert.rejects(c.addDependency({ parentTask: task, childTask: task }), refused(status.FAILED_PRECONDITION));
  await assert.rejects(c.getTask({ name: name('nobody') }), refused(status.NOT_FOUND));
});

test('a run lifecycle in the seed shape', async (t) => {
  const c = client(t);
  if (!c) return;
  const load = name('load_sales');
  const calc = name('calculate_profit');
  const batch = name('batch');
  const source = name('lifecycle');
  for (const task of [load, calc]) await c.registerTask({ name: task, maxAttempts: 2 });
  const dep = await c.addDependency({ parentTask: load, childTask: calc });
  assert.equal(dep.created, true);
  assert.equal((await c.addDependency({ parentTask: load, childTask: calc })).created, false);
  await assert.rejects(c.addDependency({ parentTask: calc, childTask: load }), refused(status.FAILED_PRECONDITION));
  const plan = await c.getExecutionPlan({ targets: [calc] });
  assert.deepEqual(plan.layers.map((l) => l.tasks.map((x) => x.name)), [[load], [calc]]);

  const ready = async () => (await c.getReadyTasks({ batchId: batch, targets: [calc] })).tasks.map((x) => x.name);
  assert.deepEqual(await ready(), [load]);
  await assert.rejects(c.startRun({ task: calc, batchId: batch }), refused(status.FAILED_PRECONDITION, load));

  await c.registerFiles({ files: ['f1.csv', 'f2.csv'].map((fileName) => ({ source, fileName })) });
  const started = await c.startRun({ task: load, batchId: batch, workerId: 'node-test', leaseSeconds: 30 });
  const { run } = started;
  assert.equal(started.created, true);
  assert.equal(run.status, 'RUN_STATUS_PROCESSING');
  assert.match(run.requestId, /^[0-9a-f]{32}$/);
  const same = await c.startRun({ task: load, batchId: batch, requestId: run.requestId });
  assert.equal(same.created, false);
  assert.equal(same.run.id, run.id);
  await assert.rejects(c.startRun({ task: load, batchId: batch }), refused(status.FAILED_PRECONDITION));

  const { files } = await c.claimFiles({ runId: run.id, source, limit: 10 });
  assert.equal(files.length, 2);
  for (const f of files) {
    assert.equal(f.status, 'FILE_STATUS_PROCESSING');
    assert.equal(f.runId, run.id);
  }
  const hb = await c.heartbeat({ runId: run.id, leaseSeconds: 60 });
  assert.ok(metad.toDate(hb.run.leaseExpireTime) > metad.toDate(run.leaseExpireTime));
  // FinishRun names the files the worker received: held ones take the outcome.
  const done = await c.finishRun({ runId: run.id, status: 'RUN_STATUS_SUCCESS', fileIds: files.map((f) => f.id) });
  assert.equal(done.filesFinished, 2);
  assert.equal(done.run.status, 'RUN_STATUS_SUCCESS');
  for (const f of files) assert.equal((await c.getFile({ id: f.id })).status, 'FILE_STATUS_SUCCESS');

  await assert.rejects(c.heartbeat({ runId: run.id }), refused(status.FAILED_PRECONDITION));
  await assert.rejects(c.finishRun({ runId: run.id, status: 'RUN_STATUS_ERROR' }), refused(status.FAILED_PRECONDITION));
  await assert.rejects(c.resetFile({ fileId: files[0].id }), refused(status.FAILED_PRECONDITION));
  assert.deepEqual(await ready(), [calc]);

  const b = await c.getBatch({ batchId: batch });
  assert.deepEqual(b.tasks.map((x) => [x.taskName, x.status]), [[load, 'RUN_STATUS_SUCCESS']]);
  assert.equal(b.successRuns, 1);
  const events = await c.listRunEvents({ runId: run.id });
  assert.deepEqual(events.events.map((e) => e.kind), ['STARTED', 'FINISHED']);
  const runs = await c.listRuns({ batchId: batch, status: 'RUN_STATUS_SUCCESS' });
  assert.deepEqual(runs.runs.map((r) => r.id), [run.id]);
  await assert.rejects(c.deleteTask({ name: load }), refused(status.FAILED_PRECONDITION));
});

test('a refusal carries error details: unmet parents, the field at fault', async (t) => {
  const c = client(t);
  if (!c) return;
  const parent = name('details_load');
  const child = name('details_report');
  await c.registerTask({ name: parent });
  await c.registerTask({ name: child });
  await c.addDependency({ parentTask: parent, childTask: child });
  const err = await c.startRun({ task: child, batchId: name('b') }).then(
    () => assert.fail('StartRun should be refused'),
    (e) => e,
  );
  assert.equal(err.code, status.FAILED_PRECONDITION);
  const details = metad.errorDetails(err);
  assert.equal(details.code, status.FAILED_PRECONDITION);
  assert.equal(details.message, err.details);
  assert.equal(details.errorInfo.reason, 'PARENTS_NOT_SUCCEEDED');
  assert.equal(details.errorInfo.domain, 'metad.dev');
  assert.equal(details.errorInfo.metadata.parents, parent);
  assert.deepEqual(details.violations.map((v) => [v.type, v.subject]), [['DEPENDENCY', parent]]);

  const bad = await c.startRun({ task: child, batchId: '' }).then(() => null, (e) => e);
  assert.deepEqual(metad.errorDetails(bad).fieldViolations.map((v) => v.field), ['batch_id']);
  assert.equal(metad.errorDetails({ metadata: new metad.Metadata() }), null);
});
