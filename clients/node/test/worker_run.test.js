'use strict';
// The worker helper (worker.js) and the exactly-once calls against a real
// metad.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const metad = require('../metad');
const { useDaemon } = require('./support/daemon');

const { status } = metad;
const need = useDaemon('node_worker_run', { before, after });
const suffix = `${process.pid}_${Date.now() % 1000000}`;
const name = (base) => `${base}_${suffix}`;

function setup(t, opts = {}) {
  const address = need(t);
  if (!address) return null;
  const c = metad.connect(address, opts);
  t.after(() => c.close());
  return { address, c };
}

// A task and n files of a fresh source.
async function workload(c, tag, n) {
  const p = { task: name(`w_${tag}`), batch: name(`wb_${tag}`), source: name(`ws_${tag}`) };
  await c.registerTask({ name: p.task, maxAttempts: 3 });
  const files = [];
  for (let i = 0; i < n; i++) files.push({ source: p.source, fileName: `f${i}.csv` });
  await c.registerFiles({ files });
  return p;
}

const ids = (files) => files.map((f) => f.id).sort((a, b) => a - b);

async function stateOf(c, id) {
  const f = await c.getFile({ id });
  return `${f.status.replace('FILE_STATUS_', '')}/${f.runId}`;
}

async function eventCount(c, id, kind) {
  const { events } = await c.listFileEvents({ fileId: id });
  return events.filter((e) => e.kind === kind).length;
}

test('a worker run claims, completes some and finishes naming the rest: all end as told', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'ok', 5);
  const run = await metad.startWorkerRun(c, p.task, p.batch, { leaseSeconds: 30, workerId: 'node-worker' });
  t.after(() => run.stopHeartbeats());
  assert.ok(run.id > 0);
  assert.equal(run.run.workerId, 'node-worker');
  assert.ok(run.leaseSeconds > 29 && run.leaseSeconds <= 31, `lease ${run.leaseSeconds}`);
  const first = await run.claimFiles(3, p.source);
  const rest = await run.claimFiles(10, p.source);
  assert.equal(first.length, 3);
  assert.equal(rest.length, 2);
  const bad = first[0].id;
  const f = await run.completeFile(bad, 'ERROR', 'bad row 7');
  assert.equal(f.status, 'FILE_STATUS_ERROR');
  const all = ids([...first, ...rest]);
  assert.deepEqual(run.received(), all);

  const done = await run.finish('SUCCESS');
  assert.equal(done.filesFinished, 4);
  assert.equal(done.filesReleased, 0);
  assert.equal(done.replayed, false);
  assert.equal(done.run.status, 'RUN_STATUS_SUCCESS');
  assert.ok(run.finished);
  for (const id of all) {
    assert.equal(await stateOf(c, id), `${id === bad ? 'ERROR' : 'SUCCESS'}/${run.id}`, `file ${id}`);
  }
  // Finishing again is a retry: the first call's answer.
  const again = await run.finish('SUCCESS');
  assert.equal(again.replayed, true);
  assert.equal(again.filesFinished, 4);
});

test('files the run holds but the worker never received go back to NEW', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'unseen', 4);
  const run = await metad.startWorkerRun(c, p.task, p.batch, { leaseSeconds: 30 });
  t.after(() => run.stopHeartbeats());
  // A claim whose answer the worker never got: through the bare call.
  const { files: unseen } = await c.claimFiles({ runId: run.id, source: p.source, limit: 2 });
  assert.equal(unseen.length, 2);
  const seen = await run.claimFiles(10, p.source);
  assert.equal(seen.length, 2);
  const done = await run.finish('SUCCESS');
  assert.equal(done.filesFinished, 2);
  assert.equal(done.filesReleased, 2);
  for (const f of unseen) {
    assert.equal(await stateOf(c, f.id), 'NEW/0');
    assert.equal(await eventCount(c, f.id, 'RELEASED'), 1);
  }
  for (const f of seen) assert.equal(await stateOf(c, f.id), `SUCCESS/${run.id}`);
});

test('the same ClaimFiles, CompleteFile and FinishRun sent twice are replayed', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'replay', 3);
  const { run } = await c.startRun({ task: p.task, batchId: p.batch, leaseSeconds: 30 });
  const claim = { runId: run.id, source: p.source, limit: 2, requestId: 'claim-1' };
  const first = await c.claimFiles(claim);
  assert.equal(first.files.length, 2);
  assert.equal(first.replayed, false);
  const retry = await c.claimFiles(claim);
  assert.equal(retry.replayed, true);
  assert.deepEqual(ids(retry.files), ids(first.files));
  // The same key for another claim is a mistake.
  const reused = await c.claimFiles({ ...claim, limit: 3 }).then(() => null, (e) => e);
  assert.equal(reused && reused.code, status.ALREADY_EXISTS);
  assert.equal(metad.errorDetails(reused).errorInfo.reason, 'REQUEST_ID_REUSED');

  const [a, b] = first.files.map((f) => f.id);
  const complete = { fileId: a, runId: run.id, status: 'FILE_STATUS_ERROR', errorMessage: 'bad' };
  assert.equal((await c.completeFile(complete)).replayed, false);
  const completedAgain = await c.completeFile(complete);
  assert.equal(completedAgain.replayed, true);
  assert.equal(completedAgain.file.status, 'FILE_STATUS_ERROR');
  const finish = { runId: run.id, status: 'RUN_STATUS_SUCCESS', fileIds: [a, b] };
  const done = await c.finishRun(finish);
  assert.equal(done.replayed, false);
  assert.equal(done.filesFinished, 1);
  const again = await c.finishRun(finish);
  assert.equal(again.replayed, true);
  assert.equal(again.filesFinished, 1);
  assert.equal(again.run.status, 'RUN_STATUS_SUCCESS');
  for (const id of [a, b]) {
    assert.equal(await eventCount(c, id, 'COMPLETED') + await eventCount(c, id, 'FINISHED'), 1, `file ${id}`);
  }
  // Another ending is not a retry.
  await assert.rejects(c.finishRun({ runId: run.id, status: 'RUN_STATUS_ERROR', errorMessage: 'no' }),
    { code: status.FAILED_PRECONDITION });
});

// Loses the answers of calls that took effect: the next drop[path]
// successful calls of a method answer UNAVAILABLE instead.
function dropper() {
  const state = { drop: {}, calls: {} };
  const interceptor = (options, nextCall) => {
    const method = options.method_definition.path;
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus(st, nextStatus) {
            state.calls[method] = (state.calls[method] || 0) + 1;
            if (st.code === status.OK && state.drop[method] > 0) {
              state.drop[method] -= 1;
              nextStatus({ code: status.UNAVAILABLE, details: 'answer dropped by the test', metadata: st.metadata });
              return;
            }
            nextStatus(st);
          },
        });
      },
    });
  };
  return { state, interceptor };
}

test('lost answers are retried by the client: the worker gets its files, nothing is claimed twice', async (t) => {
  const d = dropper();
  const s = setup(t, { initialBackoffMs: 1, maxAttempts: 3, interceptors: [d.interceptor] });
  if (!s) return;
  const { c } = s;
  const plain = metad.connect(s.address);
  t.after(() => plain.close());
  const p = await workload(plain, 'lossy', 6);
  const run = await metad.startWorkerRun(c, p.task, p.batch, { leaseSeconds: 30 });
  t.after(() => run.stopHeartbeats());
  const CLAIM = '/metad.v1.FileService/ClaimFiles';

  d.state.drop[CLAIM] = 1;
  const got = await run.claimFiles(4, p.source);
  assert.equal(got.length, 4);
  assert.equal(d.state.calls[CLAIM], 2, 'ClaimFiles was not retried');
  const { files: held } = await plain.listFiles({ runId: run.id, pageSize: 100 });
  assert.deepEqual(ids(held), ids(got));

  // Every attempt's answer lost: the error reaches the worker, and its next
  // claim of the same shape reuses the key, so it gets those files.
  d.state.drop[CLAIM] = 3;
  await assert.rejects(run.claimFiles(1, p.source), { code: status.UNAVAILABLE });
  const late = await run.claimFiles(1, p.source);
  assert.equal(late.length, 1);
  got.push(...late);

  d.state.drop['/metad.v1.FileService/CompleteFile'] = 1;
  assert.equal((await run.completeFile(got[0], 'SUCCESS')).status, 'FILE_STATUS_SUCCESS');
  d.state.drop['/metad.v1.TaskLogService/FinishRun'] = 1;
  const done = await run.finish('SUCCESS');
  assert.equal(done.replayed, true, 'Finish did not get the replayed answer');
  assert.equal(done.filesFinished, 4);
  assert.equal(done.filesReleased, 0);
  assert.deepEqual(Object.values(d.state.drop), [0, 0, 0], 'an answer meant to be lost was not');
  for (const f of got) {
    assert.equal(await stateOf(plain, f.id), `SUCCESS/${run.id}`);
    assert.equal(await eventCount(plain, f.id, 'CLAIMED'), 1, `file ${f.id} claimed twice`);
  }
  const { files: left } = await plain.listFiles({ source: p.source, status: 'FILE_STATUS_NEW' });
  assert.equal(left.length, 1);
});

test('a run whose lease lapsed is lost: the helper rejects with RunLost', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'lost', 1);
  const run = await metad.startWorkerRun(c, p.task, p.batch, { leaseSeconds: 1, heartbeatMs: -1 });
  const [file] = await run.claimFiles(1, p.source);
  // No heartbeats: wait for the lease to lapse (the daemon's clock).
  await new Promise((r) => setTimeout(r, metad.toDate(run.run.leaseExpireTime) - Date.now() + 200));
  const err = await run.completeFile(file, 'SUCCESS').then(() => null, (e) => e);
  assert.ok(err instanceof metad.RunLost, String(err));
  assert.equal(err.code, status.FAILED_PRECONDITION);
  assert.equal(err.runId, run.id);
  assert.ok(['LEASE_EXPIRED', 'RUN_ENDED'].includes(metad.errorDetails(err.cause).errorInfo.reason));
  assert.ok(run.lost);
  await assert.rejects(run.finish('SUCCESS'), metad.RunLost);
  await assert.rejects(run.claimFiles(1, p.source), metad.RunLost);
  assert.equal(await stateOf(c, file.id), 'NEW/0');
});

test('withWorkerRun finishes SUCCESS when the body resolves, ERROR with its message when it throws', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'with', 2);
  let runId = 0;
  await assert.rejects(metad.withWorkerRun(c, p.task, p.batch, { leaseSeconds: 30 }, async (run) => {
    runId = run.id;
    throw new Error('disk full');
  }), /disk full/);
  const failed = await c.getRun({ runId });
  assert.equal(failed.status, 'RUN_STATUS_ERROR');
  assert.equal(failed.errorMessage, 'Error: disk full');
  const result = await metad.withWorkerRun(c, p.task, p.batch, { leaseSeconds: 30 }, async (run) => {
    runId = run.id;
    return (await run.claimFiles(10, p.source)).length;
  });
  assert.equal(result, 2);
  assert.equal((await c.getRun({ runId })).status, 'RUN_STATUS_SUCCESS');
  const { files } = await c.listFiles({ source: p.source, status: 'FILE_STATUS_SUCCESS' });
  assert.equal(files.length, 2);
});

// Polls cond (every 20 ms, at most 10 s): for what the heartbeat timer
// does, with no assumption on how fast.
async function waitFor(what, cond) {
  for (const until = Date.now() + 10000; !(await cond());) {
    if (Date.now() > until) assert.fail(`${what}: not within 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('heartbeats extend the lease; a refused one loses the run', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { c } = s;
  const p = await workload(c, 'beats', 1);
  const run = await metad.startWorkerRun(c, p.task, p.batch, { leaseSeconds: 30, heartbeatMs: 20 });
  t.after(() => run.stopHeartbeats());
  const start = metad.toDate(run.run.leaseExpireTime);
  await waitFor('a heartbeat extending the lease', () => metad.toDate(run.run.leaseExpireTime) > start);
  await run.claimFiles(1, p.source);
  // Ended behind the worker's back: the next heartbeat is refused.
  await c.finishRun({ runId: run.id, status: 'RUN_STATUS_ERROR', errorMessage: 'ended elsewhere' });
  await waitFor('the heartbeat finding the run ended', () => run.lost);
  assert.throws(() => run.check(), (err) => err instanceof metad.RunLost
    && metad.errorDetails(err.cause).errorInfo.reason === 'RUN_ENDED');
  await assert.rejects(run.finish('SUCCESS'), metad.RunLost);
});
