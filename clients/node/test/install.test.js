'use strict';
// The npm package as a user gets it: `npm pack` (prepack copies the protos in
// and generates the TypeScript declarations), installed into an empty
// folder outside the repository, where a worker (test/install/worker.js)
// runs against a real metad and `tsc --noEmit --strict` accepts a
// TypeScript consumer (test/ts/consumer.ts).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useDaemon } = require('./support/daemon');

const need = useDaemon('node_install', { before, after });
const HERE = path.join(__dirname, '..');

function run(cmd, args, cwd) {
  // npm is a script on PATH; the environment keeps the user's npm cache.
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

function npm(args, cwd) {
  return run('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel=error'], cwd);
}

test('npm pack, installed into an empty folder: a worker runs, TypeScript checks', async (t) => {
  const address = need(t);
  if (!address) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metad-node-install-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], HERE));
  const tarball = path.join(tmp, packed.filename);
  assert.equal(packed.filename, 'metad-client-0.1.0.tgz');
  const shipped = packed.files.map((f) => f.path);
  for (const f of ['metad.js', 'worker.js', 'watch.js', 'index.d.ts', 'LICENSE', 'package.json',
    'proto/metad/v1/task_log.proto', 'proto/google/rpc/status.proto', 'proto/google/rpc/error_details.proto',
    'types/client.d.ts', 'types/messages.d.ts', 'types/metad/v1/Run.d.ts']) {
    assert.ok(shipped.includes(f), `${f} not in the package: ${shipped.join(' ')}`);
  }
  assert.ok(!shipped.some((f) => f.startsWith('test/') || f.startsWith('scripts/')), shipped.join(' '));
  assert.ok(!fs.existsSync(path.join(HERE, 'proto')), 'postpack left proto/ in the checkout');

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  npm(['init', '-y'], app);
  npm(['install', '--prefer-offline', tarball], app);
  fs.copyFileSync(path.join(__dirname, 'install', 'worker.js'), path.join(app, 'worker.js'));
  fs.copyFileSync(path.join(__dirname, 'ts', 'consumer.ts'), path.join(app, 'consumer.ts'));

  // No METAD_PROTO_DIR / METAD_GOOGLEAPIS_DIR: the package's own protos.
  const env = { ...process.env };
  delete env.METAD_PROTO_DIR;
  delete env.METAD_GOOGLEAPIS_DIR;
  const out = execFileSync(process.execPath, ['worker.js', address], { cwd: app, env, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), {
    claimed: ['sales.csv'], kinds: ['STARTED', 'FINISHED'], reason: `${5}:NOT_FOUND`,
  });

  // The package's declarations, with the TypeScript of the checkout's
  // devDependencies and the @types/node the package's dependencies bring.
  const tsc = path.join(HERE, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    run(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2020', '--module', 'commonjs',
      '--moduleResolution', 'node', '--types', 'node', 'consumer.ts'], app);
  } catch (err) {
    assert.fail(`tsc rejected consumer.ts:\n${err.stdout}${err.stderr}`);
  }
});
