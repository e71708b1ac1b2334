'use strict';
// A real metad for the tests: the one at METAD_ADDRESS when set, else one
// started from METAD_BIN_DIR on a free loopback port with a fresh database
// on the cluster of METAD_TEST_PG (as scripts/daemon_for_tests.sh does).

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const metad = require('../../metad');

class NotConfigured extends Error {}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function psql(sql) {
  execFileSync('psql', [`${process.env.METAD_TEST_PG} dbname=postgres`, '-qAtc', sql], { stdio: 'pipe' });
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/**
 * Resolves to { address, stop(), restart(), sql(statement) } (restart and
 * sql are null for the daemon at METAD_ADDRESS); rejects with NotConfigured when there is
 * no daemon to use. With own = { args, tls, token } it always starts one,
 * with the extra `metad serve` flags args, and waits for it with the
 * client options tls and token.
 */
async function startDaemon(name, own = null) {
  if (process.env.METAD_ADDRESS && !own) {
    return { address: process.env.METAD_ADDRESS, stop: async () => {}, restart: null, sql: null };
  }
  const bin = process.env.METAD_BIN_DIR;
  const pg = process.env.METAD_TEST_PG;
  if (!bin || !pg) throw new NotConfigured('no daemon: set METAD_ADDRESS, or METAD_BIN_DIR and METAD_TEST_PG');
  const database = `t_${name}_${process.pid}_${Date.now() % 1000000}`;
  psql(`CREATE DATABASE "${database}"`);
  const address = `127.0.0.1:${await freePort()}`;
  const log = path.join(process.env.METAD_LOG_DIR || os.tmpdir(), `metad-${name}-${process.pid}.log`);
  const args = ['serve', '--listen', address, '--database', `${pg} dbname=${database}`,
    '--reaper_interval', '0.2', ...((own && own.args) || [])];
  let child;
  let exited;
  let running = false;

  function spawnDaemon() {
    const out = fs.openSync(log, 'a');
    child = spawn(path.join(bin, 'metad'), args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    running = true;
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    exited.then(() => { running = false; });
  }

  // Serving once a read answers.
  async function waitServing() {
    const client = metad.connect(address, {
      timeoutMs: 500, maxAttempts: 1, tls: own && own.tls, token: own && own.token,
    });
    const until = Date.now() + 20000;
    try {
      for (;;) {
        if (!running) throw new Error(`metad exited before serving; log ${log}:\n${tail(log)}`);
        try {
          await client.listTasks({ pageSize: 1 });
          break;
        } catch (err) {
          if (Date.now() > until) {
            child.kill('SIGKILL');
            throw new Error(`metad at ${address} not serving within 20 s (${err.message}); log ${log}:\n${tail(log)}`);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      client.close();
    }
  }

  async function terminate() {
    if (running) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    const result = await exited;
    clearTimeout(timer);
    return result;
  }

  fs.writeFileSync(log, '');
  spawnDaemon();
  await waitServing();

  // Stops the daemon (SIGTERM: it must exit 0) and starts it again on the
  // same address and database.
  async function restart() {
    const { code, signal } = await terminate();
    if (code !== 0) throw new Error(`metad exited with ${code ?? signal} after SIGTERM; log ${log}:\n${tail(log)}`);
    spawnDaemon();
    await waitServing();
  }

  // Runs SQL on the daemon's database (to set up what no RPC can, such as
  // old events for retention).
  function sql(statement) {
    return execFileSync('psql', [`${pg} dbname=${database}`, '-qAtc', statement], { stdio: 'pipe' }).toString().trim();
  }

  async function stop() {
    const { code, signal } = await terminate();
    try {
      psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } catch {
      // the cluster may be gone already; nothing to keep
    }
    if (code !== 0) throw new Error(`metad exited with ${code ?? signal} after SIGTERM; log ${log}:\n${tail(log)}`);
  }
  return { address, stop, restart, sql };
}

/**
 * For a test file: before() starts the daemon, after() stops it. Tests call
 * need(t) to get the address; without a configured daemon they skip, unless
 * METAD_REQUIRE_DAEMON is set (run_tests.sh sets it), which fails them.
 */
function useDaemon(name, { before, after }) {
  const state = { daemon: null, error: null };
  before(async () => {
    try {
      state.daemon = await startDaemon(name);
    } catch (err) {
      state.error = err;
    }
  });
  after(async () => {
    if (state.daemon) await state.daemon.stop();
  });
  return function need(t) {
    if (state.error) {
      if (state.error instanceof NotConfigured && !process.env.METAD_REQUIRE_DAEMON) {
        t.skip(state.error.message);
        return null;
      }
      throw state.error;
    }
    return state.daemon.address;
  };
}

module.exports = { startDaemon, useDaemon, NotConfigured };
