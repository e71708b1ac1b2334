'use strict';
// The client's own behaviour (wrappers, retries, request ids, deadlines,
// token, TLS) against a scripted in-process server; no daemon needed.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const metad = require('../metad');
const { selfSignedCert } = require('./support/cert');

const { status } = metad;

// Answers each method with the next code of its script (OK when exhausted)
// and records what it saw.
function scriptedServer(script = {}) {
  const seen = { calls: {}, requestIds: [], deadlines: [], auth: [] };
  const pkg = metad.loadPackage();
  const handler = (method, respond) => (call, callback) => {
    seen.calls[method] = (seen.calls[method] || 0) + 1;
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    seen.deadlines.push(at - Date.now());
    seen.auth.push(...call.metadata.get('authorization'));
    if (['StartRun', 'ClaimFiles'].includes(method)) seen.requestIds.push(call.request.requestId);
    const code = (script[method] || []).shift();
    if (code !== undefined && code !== status.OK) {
      callback({ code, details: `${method}: scripted ${code}` });
      return;
    }
    callback(null, respond(call.request));
  };
  const server = new grpc.Server();
  server.addService(pkg.TaskLogService.service, {
    startRun: handler('StartRun', (r) => ({ run: { id: 7, requestId: r.requestId }, created: true })),
    heartbeat: handler('Heartbeat', (r) => ({ run: { id: r.runId } })),
    finishRun: handler('FinishRun', (r) => ({ run: { id: r.runId } })),
    getRun: handler('GetRun', (r) => ({ id: r.runId })),
    listRuns: handler('ListRuns', () => ({ runs: [] })),
    getBatch: handler('GetBatch', (r) => ({ batchId: r.batchId })),
    listRunEvents: handler('ListRunEvents', () => ({ events: [] })),
    rerunTasks: handler('RerunTasks', () => ({})),
  });
  server.addService(pkg.FileService.service, {
    claimFiles: handler('ClaimFiles', () => ({ files: [{ id: 11 }] })),
    completeFile: handler('CompleteFile', (r) => ({ file: { id: r.fileId } })),
  });
  return { server, seen };
}

async function serve(t, script, creds = grpc.ServerCredentials.createInsecure()) {
  const { server, seen } = scriptedServer(script);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, seen };
}

function dial(t, address, opts = {}) {
  const client = metad.connect(address, { initialBackoffMs: 1, ...opts });
  t.after(() => client.close());
  return client;
}

test('every RPC of the proto has a wrapper, by service and flat', () => {
  const client = metad.connect('127.0.0.1:1');
  try {
    const methods = metad.listMethods();
    // The core API: 33 unary RPCs in four services (more services may come:
    // WatchService's streams, AdminService for operators, DeadlineService).
    const core = methods.filter(
      (m) => !m.startsWith('WatchService/') && !m.startsWith('AdminService/')
        && !m.startsWith('DeadlineService/'));
    assert.equal(core.length, 33, core.join(' '));
    for (const m of methods) {
      const [service, method] = m.split('/');
      const name = method[0].toLowerCase() + method.slice(1);
      const ns = metad.namespaceOf(service);
      assert.equal(typeof client[ns][name], 'function', m);
      assert.equal(client[name], client[ns][name], m);
    }
    assert.equal(typeof client.runs.startRun, 'function');
    assert.equal(typeof client.deps.getReadyTasks, 'function');
  } finally {
    client.close();
  }
});

// Every method's retry class, as its idempotency_level in proto/metad/v1
// says: a method added or re-annotated must be added here, on purpose.
const KINDS = {
  'AdminService/PruneHistory': 'idempotent',
  'DeadlineService/SetBatchDeadline': 'idempotent',
  'DeadlineService/SetSourceFreshness': 'idempotent',
  'DeadlineService/ListAlerts': 'read',
  'DependencyService/AddDependency': 'creating',
  'DependencyService/RemoveDependency': 'once',
  'DependencyService/ListDependencies': 'read',
  'DependencyService/GetUpstream': 'read',
  'DependencyService/GetDownstream': 'read',
  'DependencyService/GetExecutionPlan': 'read',
  'DependencyService/GetReadyTasks': 'read',
  'FileService/RegisterFile': 'creating',
  'FileService/RegisterFiles': 'creating',
  'FileService/GetFile': 'read',
  'FileService/ListFiles': 'read',
  'FileService/ClaimFiles': 'creating',
  'FileService/CompleteFile': 'idempotent',
  'FileService/ResetFile': 'once',
  'FileService/ListFileEvents': 'read',
  'FileService/ReprocessFiles': 'once',
  'FileService/GetLineage': 'read',
  'TaskLogService/StartRun': 'creating',
  'TaskLogService/Heartbeat': 'idempotent',
  'TaskLogService/FinishRun': 'idempotent',
  'TaskLogService/RecordOutputs': 'idempotent',
  'TaskLogService/CancelRun': 'idempotent',
  'TaskLogService/RerunTasks': 'once',
  'TaskLogService/GetRun': 'read',
  'TaskLogService/ListRuns': 'read',
  'TaskLogService/GetBatch': 'read',
  'TaskLogService/ListRunEvents': 'read',
  'TaskService/RegisterTask': 'creating',
  'TaskService/GetTask': 'read',
  'TaskService/ListTasks': 'read',
  'TaskService/DeleteTask': 'once',
  'TaskService/UpdateTask': 'once',
  'TaskService/ListTaskEvents': 'read',
  'WatchService/WatchFiles': 'read',
  'WatchService/WatchRuns': 'read',
};

test("kindOf classifies every method from its idempotency_level, as the table says", () => {
  const got = {};
  for (const m of metad.listMethods()) got[m] = metad.kindOf(`/metad.v1.${m}`);
  assert.deepEqual(got, KINDS);
  assert.equal(metad.kindOf('/other.v1.Service/GetThing'), 'once');
});

test('a creating call is retried with one generated request id', async (t) => {
  const { address, seen } = await serve(t, { StartRun: [status.UNAVAILABLE, status.ABORTED] });
  const client = dial(t, address);
  const request = { task: 'load_sales', batchId: 'b1' };
  const resp = await client.startRun(request);
  assert.equal(seen.requestIds.length, 3);
  const [id] = seen.requestIds;
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.deepEqual(seen.requestIds, [id, id, id]);
  assert.equal(resp.run.requestId, id);
  assert.equal(resp.created, true);
  assert.equal(request.requestId, undefined, "the caller's request was changed");
  // The same object again is a new call with a new id.
  await client.startRun(request);
  assert.notEqual(seen.requestIds[3], id);
});

test("the caller's request id is kept across attempts", async (t) => {
  const { address, seen } = await serve(t, { StartRun: [status.UNAVAILABLE] });
  const client = dial(t, address);
  await client.startRun({ requestId: 'mine-1' });
  assert.deepEqual(seen.requestIds, ['mine-1', 'mine-1']);
});

test('reads are retried on UNAVAILABLE and ABORTED, up to maxAttempts', async (t) => {
  const { address, seen } = await serve(t, {
    GetRun: [status.UNAVAILABLE, status.ABORTED, status.UNAVAILABLE],
    GetBatch: [status.UNAVAILABLE, status.UNAVAILABLE, status.UNAVAILABLE, status.UNAVAILABLE],
  });
  const client = dial(t, address, { maxAttempts: 3 });
  await assert.rejects(client.getRun({ runId: 3 }), (err) => err.code === status.UNAVAILABLE);
  assert.equal(seen.calls.GetRun, 3);
  const run = await client.getRun({ runId: 3 });
  assert.equal(run.id, 3);
  assert.equal(seen.calls.GetRun, 4);
  await assert.rejects(client.getBatch({ batchId: 'b' }), (err) => err.code === status.UNAVAILABLE);
  assert.equal(seen.calls.GetBatch, 3);
});

test('other codes and unsafe calls are sent once', async (t) => {
  const { address, seen } = await serve(t, {
    GetRun: [status.NOT_FOUND],
    StartRun: [status.FAILED_PRECONDITION],
    FinishRun: [status.FAILED_PRECONDITION],
    RerunTasks: [status.UNAVAILABLE],
  });
  const client = dial(t, address);
  await assert.rejects(client.getRun({ runId: 1 }), { code: status.NOT_FOUND });
  await assert.rejects(client.startRun({ task: 'x' }), { code: status.FAILED_PRECONDITION, details: 'StartRun: scripted 9' });
  await assert.rejects(client.finishRun({ runId: 1 }), { code: status.FAILED_PRECONDITION });
  await assert.rejects(client.rerunTasks({ batchId: 'b' }), { code: status.UNAVAILABLE });
  assert.deepEqual(seen.calls, { GetRun: 1, StartRun: 1, FinishRun: 1, RerunTasks: 1 });
});

test('idempotent calls (FinishRun, Heartbeat, CompleteFile) are retried', async (t) => {
  const { address, seen } = await serve(t, {
    FinishRun: [status.UNAVAILABLE, status.UNAVAILABLE],
    Heartbeat: [status.ABORTED],
    CompleteFile: [status.UNAVAILABLE],
  });
  const client = dial(t, address);
  await client.finishRun({ runId: 1, fileIds: [3] });
  await client.heartbeat({ runId: 1 });
  await client.completeFile({ runId: 1, fileId: 3 });
  assert.deepEqual(seen.calls, { FinishRun: 3, Heartbeat: 2, CompleteFile: 2 });
});

test('ClaimFiles is retried with one generated request id', async (t) => {
  const { address, seen } = await serve(t, { ClaimFiles: [status.UNAVAILABLE] });
  const client = dial(t, address);
  const request = { runId: 1, limit: 5 };
  await client.claimFiles(request);
  assert.equal(seen.requestIds.length, 2);
  assert.match(seen.requestIds[0], /^[0-9a-f]{32}$/);
  assert.equal(seen.requestIds[1], seen.requestIds[0]);
  assert.equal(request.requestId, undefined, "the caller's request was changed");
});

test('every call has a deadline; the caller may set its own', async (t) => {
  const { address, seen } = await serve(t);
  const client = dial(t, address, { timeoutMs: 5000 });
  await client.getRun({ runId: 1 });
  await client.getRun({ runId: 1 }, { timeoutMs: 60000 });
  assert.ok(seen.deadlines[0] > 0 && seen.deadlines[0] <= 5000, `first deadline ${seen.deadlines[0]} ms`);
  assert.ok(seen.deadlines[1] > 5000, `second deadline ${seen.deadlines[1]} ms`);
});

test('the token from a file goes with every call, over TLS', async (t) => {
  const { dir, cert, key } = selfSignedCert(t);
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 's3cret-token\n');
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(cert), private_key: fs.readFileSync(key) }]);
  const { address, seen } = await serve(t, {}, creds);

  const client = dial(t, address, { tls: { ca: cert, serverName: 'localhost' }, tokenFile });
  await client.getRun({ runId: 1 });
  assert.deepEqual(seen.auth, ['Bearer s3cret-token']);

  // Not trusted without the CA.
  const untrusting = dial(t, address, { tls: { serverName: 'localhost' }, timeoutMs: 2000, maxAttempts: 1 });
  await assert.rejects(untrusting.getRun({ runId: 1 }),
    (err) => [status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(err.code));
  // An empty token file is a mistake, not "no token".
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n');
  assert.throws(() => metad.connect(address, { tokenFile: empty }), /empty/);
});

test('toDate converts timestamps', () => {
  assert.equal(metad.toDate(null), null);
  assert.equal(metad.toDate({ seconds: 1700000000, nanos: 5e8 }).getTime(), 1700000000500);
});

test('ready() waits for the connection, and gives up at its deadline', async (t) => {
  const { address } = await serve(t);
  await dial(t, address).ready(5000);
  await assert.rejects(dial(t, '127.0.0.1:1').ready(300));
});

test('server streams (WatchRuns) carry the token and are read with for await', async (t) => {
  const pkg = metad.loadPackage();
  if (!pkg.WatchService) {
    t.skip('no WatchService in proto/metad/v1');
    return;
  }
  const seen = [];
  const server = new grpc.Server();
  server.addService(pkg.WatchService.service, {
    watchFiles: (call) => call.end(),
    watchRuns: (call) => {
      seen.push({ auth: call.metadata.get('authorization'), after: call.request.afterEventId });
      for (const id of [5, 6]) call.write({ event: { id, kind: 'STARTED' }, batchId: call.request.batchId });
      call.end();
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  const client = dial(t, `127.0.0.1:${port}`, { token: 'tok' });
  const ids = [];
  for await (const e of client.watch.watchRuns({ batchId: 'b1', afterEventId: 4 })) ids.push([e.event.id, e.batchId]);
  assert.deepEqual(ids, [[5, 'b1'], [6, 'b1']]);
  assert.deepEqual(seen, [{ auth: ['Bearer tok'], after: 4 }]);
});

// A WatchService whose WatchRuns answers call i with script[i]:
// { header, ids, code } (code: the status after the events; OK if unset).
async function watchServer(t, script) {
  const pkg = metad.loadPackage();
  const seen = [];
  const server = new grpc.Server();
  server.addService(pkg.WatchService.service, {
    watchFiles: (call) => call.end(),
    watchRuns: (call) => {
      seen.push(call.request.afterEventId);
      const step = script.shift() || {};
      const md = new grpc.Metadata();
      if (step.header !== undefined) md.set('metad-after-event-id', String(step.header));
      call.sendMetadata(md);
      for (const id of step.ids || []) call.write({ event: { id, kind: 'STARTED' } });
      if (step.code) call.emit('error', { code: step.code, details: `scripted ${step.code}` });
      else call.end();
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, seen };
}

test('a watch resumes after UNAVAILABLE (or a CANCELLED it did not ask for) from the last event id, and OUT_OF_RANGE surfaces', async (t) => {
  const { address, seen } = await watchServer(t, [
    { header: 4, ids: [5, 6], code: status.UNAVAILABLE },
    { header: 6, ids: [7], code: status.CANCELLED },
    { header: 7, ids: [], code: status.OUT_OF_RANGE },
  ]);
  const client = dial(t, address);
  const stream = client.watchRuns({ afterEventId: 4 });
  const reconnects = [];
  stream.on('reconnect', (r) => reconnects.push([r.error.code, r.afterEventId]));
  const ids = [];
  await assert.rejects(async () => {
    for await (const e of stream) ids.push(e.event.id);
  }, (err) => err.code === status.OUT_OF_RANGE);
  assert.deepEqual(ids, [5, 6, 7]);
  assert.deepEqual(seen, [4, 6, 7]);
  assert.deepEqual(reconnects, [[status.UNAVAILABLE, 6], [status.CANCELLED, 7]]);
  assert.equal(stream.reconnects, 2);
});

test('a watch from now resumes from the start header when no event came yet', async (t) => {
  const { address, seen } = await watchServer(t, [
    { header: 10, code: status.UNAVAILABLE },
    { header: 10, ids: [11] }, // then ends OK: the stream ends
  ]);
  const client = dial(t, address);
  const ids = [];
  for await (const e of client.watch.watchRuns({ afterEventId: 0 })) ids.push(e.event.id);
  assert.deepEqual(ids, [11]);
  assert.deepEqual(seen, [0, 10]);
});

test('a watch gives up after maxReconnects failed calls in a row, or at once with resume: false', async (t) => {
  const down = { code: status.UNAVAILABLE };
  const { address, seen } = await watchServer(t, [down, down, down, down, down]);
  const client = dial(t, address);
  await assert.rejects(async () => {
    for await (const e of client.watchRuns({ afterEventId: 3 }, { maxReconnects: 2 })) assert.fail(`event ${e}`);
  }, (err) => err.code === status.UNAVAILABLE);
  assert.deepEqual(seen, [3, 3, 3]);
  await assert.rejects(async () => {
    for await (const e of client.watchRuns({ afterEventId: 3 }, { resume: false })) assert.fail(`event ${e}`);
  }, (err) => err.code === status.UNAVAILABLE);
  assert.equal(seen.length, 4);
});

test('cancel() ends a watch quietly, also while it waits to reconnect', async (t) => {
  const { address } = await watchServer(t, [{ header: 1, ids: [2], code: status.UNAVAILABLE }]);
  const client = dial(t, address, { initialBackoffMs: 60000, maxBackoffMs: 60000 });
  const stream = client.watchRuns({ afterEventId: 1 });
  stream.on('reconnect', () => stream.cancel());
  const ids = [];
  for await (const e of stream) ids.push(e.event.id);
  assert.deepEqual(ids, [2]);
});
