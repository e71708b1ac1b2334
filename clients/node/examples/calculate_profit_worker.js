#!/usr/bin/env node
'use strict';
// Example worker: runs `calculate_profit` in one batch once it is ready.
//
//   node clients/node/examples/calculate_profit_worker.js --address 127.0.0.1:50051 --batch 2024-03
//
// Waits (polling GetReadyTasks) until the task is ready in the batch, i.e.
// every upstream task (load_sales) has succeeded there, starts a run, keeps
// its lease alive with heartbeats while it works, and finishes the run. The
// work stands in for the real one: it sums the `revenue` and `cost`
// attributes of the files the batch's upstream runs processed.
//
// Prints one JSON object on stdout:
//   {"task":"calculate_profit","batch_id":"2024-03","run_id":9,"status":"SUCCESS",
//    "files":1,"revenue":1200,"cost":700,"profit":500}
// Exit status: 0 when the run succeeded (or the task had already succeeded
// in the batch: "status":"ALREADY_DONE"); 1 when the run ended as ERROR; 4
// (DEADLINE_EXCEEDED) when the task did not become ready within --wait;
// otherwise the numeric gRPC code of the refusal (9 FAILED_PRECONDITION: lost
// lease or another worker won the start, 5 NOT_FOUND: unknown task, 14
// UNAVAILABLE: no daemon).

const os = require('node:os');
const { parseArgs } = require('node:util');
const metad = require('../metad');

const USAGE = `usage: calculate_profit_worker.js --batch ID [options]
  --address HOST:PORT   metad address (default $METAD_ADDRESS or 127.0.0.1:50051)
  --batch ID            batch to work in (required)
  --task NAME           task to run (default calculate_profit)
  --register-task       register the task first if needed
  --worker-id ID        default host:pid
  --lease SECONDS       lease of the run (default 30; heartbeats every third of it)
  --wait SECONDS        how long to wait for the task to become ready (default 120)
  --poll-ms MS          interval of GetReadyTasks polls (default 500)
  --work-ms MS          simulated extra work (default 0)
  --fail MESSAGE        end the run as ERROR with this message (demonstration)
  --token-file FILE     bearer token (default $METAD_TOKEN_FILE, else the token $METAD_TOKEN)
  --tls, --ca-file FILE, --server-name NAME   TLS`;

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      address: { type: 'string', default: process.env.METAD_ADDRESS || '127.0.0.1:50051' },
      batch: { type: 'string' },
      task: { type: 'string', default: 'calculate_profit' },
      'register-task': { type: 'boolean', default: false },
      'worker-id': { type: 'string', default: `${os.hostname()}:${process.pid}` },
      lease: { type: 'string', default: '30' },
      wait: { type: 'string', default: '120' },
      'poll-ms': { type: 'string', default: '500' },
      'work-ms': { type: 'string', default: '0' },
      fail: { type: 'string' },
      'token-file': { type: 'string', default: process.env.METAD_TOKEN_FILE },
      tls: { type: 'boolean', default: false },
      'ca-file': { type: 'string' },
      'server-name': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return { help: true };
  if (!values.batch) throw new Error('--batch is required');
  const num = (name) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: not a number: ${values[name]}`);
    return v;
  };
  return {
    address: values.address,
    batch: values.batch,
    task: values.task,
    registerTask: values['register-task'],
    workerId: values['worker-id'],
    lease: num('lease'),
    waitMs: num('wait') * 1000,
    pollMs: num('poll-ms'),
    workMs: num('work-ms'),
    fail: values.fail,
    tokenFile: values['token-file'],
    tls: values.tls || values['ca-file'] ? { ca: values['ca-file'], serverName: values['server-name'] } : false,
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves true once the task is ready in the batch, false when it has
// already succeeded there; rejects with code DEADLINE_EXCEEDED after waitMs.
async function waitUntilReady(client, args) {
  const until = Date.now() + args.waitMs;
  for (;;) {
    const { tasks } = await client.getReadyTasks({ batchId: args.batch, targets: [args.task] });
    if (tasks.some((t) => t.name === args.task)) return true;
    if (await succeededInBatch(client, args)) return false;
    if (Date.now() >= until) {
      const err = new Error(`${args.task} not ready in batch ${args.batch} after ${args.waitMs / 1000} s`);
      err.code = metad.status.DEADLINE_EXCEEDED;
      throw err;
    }
    await sleep(args.pollMs);
  }
}

async function succeededInBatch(client, args) {
  try {
    const batch = await client.getBatch({ batchId: args.batch });
    return batch.tasks.some((t) => t.taskName === args.task && t.status === 'RUN_STATUS_SUCCESS');
  } catch (err) {
    if (err.code === metad.status.NOT_FOUND) return false; // no run in the batch yet
    throw err;
  }
}

// All pages of a list call.
async function listAll(call, request, field) {
  const out = [];
  let pageToken = '';
  do {
    const page = await call({ ...request, pageSize: 1000, pageToken });
    out.push(...page[field]);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

// The "work": profit over the files that the batch's successful upstream
// runs processed.
async function calculateProfit(client, args) {
  const { tasks: upstream } = await client.getUpstream({ task: args.task, maxDepth: 1 });
  const parents = new Set(upstream.map((u) => u.task.name));
  const runs = await listAll(client.listRuns, { batchId: args.batch, status: 'RUN_STATUS_SUCCESS' }, 'runs');
  const totals = { files: 0, revenue: 0, cost: 0 };
  for (const run of runs.filter((r) => parents.has(r.taskName))) {
    for (const file of await listAll(client.listFiles, { runId: run.id }, 'files')) {
      totals.files += 1;
      totals.revenue += Number(file.attributes.revenue || 0);
      totals.cost += Number(file.attributes.cost || 0);
    }
  }
  if (args.workMs) await sleep(args.workMs);
  return { ...totals, profit: totals.revenue - totals.cost };
}

/** Runs the worker; resolves to { code, result } (the exit status and the JSON). */
async function main(argv) {
  let args;
  try {
    args = parse(argv);
  } catch (err) {
    return { code: 2, result: null, usage: `${err.message}\n${USAGE}` };
  }
  if (args.help) return { code: 0, result: null, usage: USAGE };
  const result = { task: args.task, batch_id: args.batch, run_id: 0, status: '' };
  let client;
  try {
    client = metad.connect(args.address, {
      tokenFile: args.tokenFile,
      token: args.tokenFile ? undefined : process.env.METAD_TOKEN,
      tls: args.tls,
    });
  } catch (err) {
    return { code: 2, result: null, usage: `${err.message}` }; // unreadable token or certificate file
  }
  try {
    if (args.registerTask) {
      await client.registerTask({ name: args.task, description: 'Profit of a batch of sales' });
    }
    if (!(await waitUntilReady(client, args))) {
      result.status = 'ALREADY_DONE';
      return { code: 0, result };
    }
    // The worker helper: StartRun with one request_id, heartbeats every
    // third of the lease while the work runs, FinishRun naming the files
    // the run received (none here: this task reads what upstream did).
    const run = await metad.startWorkerRun(client, args.task, args.batch, {
      workerId: args.workerId, leaseSeconds: args.lease,
    });
    result.run_id = run.id;
    try {
      let outcome;
      try {
        outcome = await calculateProfit(client, args);
        if (args.fail) throw new Error(args.fail);
        run.check(); // a lease lost while working: nothing to finish
      } catch (err) {
        if (err instanceof metad.RunLost) throw err;
        await run.finish('ERROR', err.message);
        Object.assign(result, { status: 'ERROR', error: err.message });
        return { code: 1, result };
      }
      const finished = await run.finish('SUCCESS');
      Object.assign(result, { status: finished.run.status.replace('RUN_STATUS_', '') }, outcome);
      return { code: 0, result };
    } finally {
      await run.stopHeartbeats();
    }
  } catch (err) {
    Object.assign(result, { status: 'REFUSED', code: err.code, error: err.details || err.message });
    return { code: Number.isInteger(err.code) && err.code > 0 ? err.code : 1, result };
  } finally {
    client.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(({ code, result, usage }) => {
    if (usage) (code ? process.stderr : process.stdout).write(`${usage}\n`);
    if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = code;
  });
}

module.exports = { main, parse };
