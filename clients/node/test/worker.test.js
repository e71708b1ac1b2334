'use strict';
// The example worker (examples/calculate_profit_worker.js) against a real
// metad.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const metad = require('../metad');
const worker = require('../examples/calculate_profit_worker');
const { useDaemon } = require('./support/daemon');

const need = useDaemon('node_worker', { before, after });
const suffix = `${process.pid}_${Date.now() % 1000000}`;
const name = (base) => `${base}_${suffix}`;

// load -> calc, one file with revenue/cost attributes.
async function pipeline(c, tag) {
  const p = { load: name(`load_sales_${tag}`), calc: name(`calculate_profit_${tag}`), batch: name(`batch_${tag}`), source: name(`src_${tag}`) };
  await c.registerTask({ name: p.load });
  await c.registerTask({ name: p.calc });
  await c.addDependency({ parentTask: p.load, childTask: p.calc });
  await c.registerFiles({
    files: [
      { source: p.source, fileName: 'sales_report_2024-03.csv', attributes: { revenue: '1200', cost: '700' } },
      { source: p.source, fileName: 'sales_report_2024-04.csv', attributes: { revenue: '300', cost: '100' } },
    ],
  });
  return p;
}

// What the Python load_sales worker does in the cross-language test.
async function runLoad(c, p) {
  const run = await metad.startWorkerRun(c, p.load, p.batch, { leaseSeconds: 30 });
  await run.claimFiles(100, p.source);
  await run.finish('SUCCESS');
}

function setup(t) {
  const address = need(t);
  if (!address) return null;
  const c = metad.connect(address);
  t.after(() => c.close());
  return { address, c };
}

test('the worker waits for load_sales, then runs calculate_profit with heartbeats', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { address, c } = s;
  const p = await pipeline(c, 'ok');
  // A 1 s lease and 1.5 s of work: only heartbeats keep the run alive.
  const running = worker.main(['--address', address, '--batch', p.batch, '--task', p.calc,
    '--lease', '1', '--work-ms', '1500', '--poll-ms', '100', '--wait', '30']);
  // The worker is polling; nothing of calc may have started yet.
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(c.getBatch({ batchId: p.batch }), { code: metad.status.NOT_FOUND });
  await runLoad(c, p);

  const { code, result } = await running;
  assert.equal(code, 0, JSON.stringify(result));
  assert.equal(result.status, 'SUCCESS');
  assert.equal(result.files, 2);
  assert.equal(result.revenue, 1500);
  assert.equal(result.profit, 700);
  const batch = await c.getBatch({ batchId: p.batch });
  assert.deepEqual(batch.tasks.map((x) => [x.taskName, x.status]),
    [[p.load, 'RUN_STATUS_SUCCESS'], [p.calc, 'RUN_STATUS_SUCCESS']]);
  const run = await c.getRun({ runId: result.run_id });
  assert.ok(metad.toDate(run.heartbeatTime) > metad.toDate(run.startTime), 'no heartbeat was recorded');

  // Run as a program a second time: the task is already done in the batch.
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, '..', 'examples', 'calculate_profit_worker.js'),
      '--address', address, '--batch', p.batch, '--task', p.calc], (err, stdout) =>
      (err ? reject(err) : resolve(stdout)));
  });
  assert.equal(JSON.parse(out).status, 'ALREADY_DONE');
});

test('the worker gives up with DEADLINE_EXCEEDED when the task never becomes ready', async (t) => {
  const s = setup(t);
  if (!s) return;
  const p = await pipeline(s.c, 'never');
  const { code, result } = await worker.main(['--address', s.address, '--batch', p.batch, '--task', p.calc,
    '--wait', '0.3', '--poll-ms', '100']);
  assert.equal(code, metad.status.DEADLINE_EXCEEDED);
  assert.equal(result.status, 'REFUSED');
  assert.equal(result.run_id, 0);
});

test('a failing calculation ends the run as ERROR with its message', async (t) => {
  const s = setup(t);
  if (!s) return;
  const p = await pipeline(s.c, 'fail');
  await runLoad(s.c, p);
  const { code, result } = await worker.main(['--address', s.address, '--batch', p.batch, '--task', p.calc,
    '--fail', 'profit table locked']);
  assert.equal(code, 1);
  assert.equal(result.status, 'ERROR');
  const run = await s.c.getRun({ runId: result.run_id });
  assert.equal(run.status, 'RUN_STATUS_ERROR');
  assert.equal(run.errorMessage, 'profit table locked');
});

test('usage errors exit 2', async () => {
  const { code, usage } = await worker.main(['--address', '127.0.0.1:1']);
  assert.equal(code, 2);
  assert.match(usage, /--batch is required/);
  assert.equal((await worker.main(['--batch', 'b', '--bogus'])).code, 2);
});
