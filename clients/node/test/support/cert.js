'use strict';
// A throwaway directory with a self-signed certificate for localhost and
// 127.0.0.1 (made with openssl), removed when the test ends.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Returns { dir, cert, key } (file paths); the certificate is its own CA. */
function selfSignedCert(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metad-node-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'pipe' });
  return { dir, cert, key };
}

module.exports = { selfSignedCert };
