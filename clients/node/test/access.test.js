'use strict';
// The tls and token options against a daemon serving TLS with token roles
// (--tls_cert, --tls_key, --token_file).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const metad = require('../metad');
const { selfSignedCert } = require('./support/cert');
const { startDaemon, NotConfigured } = require('./support/daemon');

const { status } = metad;

test('TLS with a CA file, and token roles', async (t) => {
  const { dir, cert, key } = selfSignedCert(t);
  const tokens = path.join(dir, 'tokens');
  fs.writeFileSync(tokens, 'reader reader-token-0123456789 node-reader\nworker worker-token-0123456789 node-worker\n');
  const workerFile = path.join(dir, 'worker');
  fs.writeFileSync(workerFile, 'worker-token-0123456789\n');
  const tls = { ca: cert, serverName: 'localhost' };

  let daemon;
  try {
    daemon = await startDaemon('node_access', {
      args: ['--tls_cert', cert, '--tls_key', key, '--token_file', tokens], tls, token: 'reader-token-0123456789',
    });
  } catch (err) {
    if (err instanceof NotConfigured) {
      t.skip(`needs METAD_BIN_DIR and METAD_TEST_PG to start a daemon with TLS: ${err.message}`);
      return;
    }
    throw err;
  }
  t.after(() => daemon.stop());
  const connect = (opts) => {
    const c = metad.connect(daemon.address, opts);
    t.after(() => c.close());
    return c;
  };
  const file = { source: `tls_${process.pid}_${Date.now()}`, fileName: 'a.csv' };

  const worker = connect({ tls, tokenFile: workerFile });
  const reg = await worker.registerFile({ file });
  assert.equal(reg.created, true);
  const reader = connect({ tls, token: 'reader-token-0123456789' });
  assert.equal((await reader.getFile({ id: reg.file.id })).fileName, 'a.csv');
  await assert.rejects(reader.registerFile({ file }), { code: status.PERMISSION_DENIED });
  await assert.rejects(connect({ tls }).getFile({ id: reg.file.id }), { code: status.UNAUTHENTICATED });
  await assert.rejects(connect({ tls, token: 'unknown-token-0123456789' }).getFile({ id: reg.file.id }),
    { code: status.UNAUTHENTICATED });
  // Plain text to the TLS port, or TLS without trusting the certificate.
  // (UNAVAILABLE, or DEADLINE_EXCEEDED on a machine too busy to fail the
  // handshake within the second.)
  const noConnection = (err) => [status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(err.code);
  const opts = { timeoutMs: 1000, maxAttempts: 1, tokenFile: workerFile };
  await assert.rejects(connect(opts).getFile({ id: 1 }), noConnection);
  await assert.rejects(connect({ ...opts, tls: { serverName: 'localhost' } }).getFile({ id: 1 }), noConnection);
});
